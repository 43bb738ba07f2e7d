"""Parameters packed in one buffer: the one-pass update gives exactly the per-parameter numbers.

``MLP(flat=True)`` keeps parameters and gradients as views of one buffer each, and an
elementwise optimizer then updates the whole buffer at once. Every test here compares against
the plain path (separate arrays, one parameter after another), bit for bit.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from course_lib.flat import SpanCache, pack, span
from course_lib.networks import MLP, ReLU
from course_lib.optimizers import SGD, Adam, NAdam, make_optimizer
from tests.reference_numpy import CONFIGS, ReferenceOptimizer, config_id

SIZES = [12, 9, 7, 4]
RNG = np.random.default_rng(3)
X = RNG.standard_normal((16, SIZES[0]))
T = RNG.integers(0, SIZES[-1], 16)


def train(net: MLP, opt, steps: int = 6, dtype=np.float64) -> list[float]:
    """``steps`` updates of ``net`` on one batch; the losses."""
    x = X.astype(dtype)
    losses = []
    for _ in range(steps):
        loss, grads = net.loss_and_gradient(x, T)
        opt.update(net.params, grads)
        losses.append(loss)
    return losses


def assert_same_bits(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].tobytes() == b[key].tobytes(), key


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("name", "hyper"), CONFIGS, ids=[config_id(c) for c in CONFIGS])
def test_one_pass_gives_the_per_parameter_numbers(name, hyper, dtype):
    plain, flat = MLP(SIZES, dtype=dtype), MLP(SIZES, dtype=dtype, flat=True)
    opt_plain, opt_flat = make_optimizer(name, **hyper), make_optimizer(name, **hyper)
    losses = train(plain, opt_plain, dtype=dtype), train(flat, opt_flat, dtype=dtype)
    assert losses[0] == losses[1]
    assert_same_bits(plain.params, flat.params)
    for key in plain.params:
        assert_same_bits({n: opt_plain.state[key][n] for n in opt_plain.buffers},
                         {n: opt_flat.state[key][n] for n in opt_flat.buffers})
        for n in opt_plain.scalars:  # t, and NAdam's product
            assert opt_plain.state[key][n] == opt_flat.state[key][n]
        assert opt_flat.state[key]["t"] == 6
    # ... and the flat run did take the one-pass path: its state lives in one buffer.
    assert opt_flat._spans.spans is not None
    assert all(span([opt_flat.state[k][n] for k in flat.params]) is not None
               for n in opt_flat.buffers)


@pytest.mark.parametrize(("name", "hyper"), CONFIGS, ids=[config_id(c) for c in CONFIGS])
def test_one_pass_matches_the_plain_formulas(name, hyper):
    # The oracle of tests/reference_numpy.py, with every option of CONFIGS (AdaGrad's lr_decay
    # and initial_accumulator_value, RMSProp centered with momentum, RAdam, Adamax, Lion).
    rng = np.random.default_rng(11)
    shapes = {"W1": (6, 5), "b1": (5,), "W2": (5, 3), "b2": (3,)}
    params = pack({k: rng.standard_normal(s) for k, s in shapes.items()})
    expected = {k: p.copy() for k, p in params.items()}
    opt, ref = make_optimizer(name, **hyper), ReferenceOptimizer(name, **hyper)
    for k in range(8):
        grads = pack({key: rng.standard_normal(s) * (0.1 if k % 2 else 1.0)
                      for key, s in shapes.items()})
        grads["b2"][0] = 0.0  # an exact zero: RMSProp's centered root, AdaGrad's first step
        opt.update(params, grads)
        expected = ref.update(expected, grads)
        for key in shapes:
            np.testing.assert_allclose(params[key], expected[key], rtol=1e-10, atol=1e-12,
                                       err_msg=f"step {k + 1}, {key}")
    assert opt._spans.spans is not None  # the one-pass path ran


def test_the_oracle_knows_the_torch_options():
    # Hand-computed single coordinates, so the oracle itself is checked independently.
    p, g = np.array([1.0]), np.array([2.0])
    ada = ReferenceOptimizer("adagrad", lr=0.1, lr_decay=1.0, initial_accumulator_value=5.0)
    p1 = ada.update({"w": p}, {"w": g})["w"]  # s = 5 + 4 = 9, lr_1 = 0.1: 1 - 0.1 * 2/3
    p2 = ada.update({"w": p1}, {"w": g})["w"]  # s = 13, lr_2 = 0.1 / 2
    np.testing.assert_allclose([p1[0], p2[0]], [1 - 0.2 / 3, p1[0] - 0.05 * 2 / 13**0.5],
                               rtol=1e-9)
    rms = ReferenceOptimizer("rmsprop", lr=0.01, decay_rate=0.5, eps=0.0, momentum=0.9,
                             centered=True)
    p1 = rms.update({"w": p}, {"w": g})["w"]  # s = 2, m = 1: root 1, b = 2
    p2 = rms.update({"w": p1}, {"w": g})["w"]  # s = 3, m = 1.5: root sqrt(0.75), b = 1.8 + ..
    b2 = 0.9 * 2 + 2 / 0.75**0.5
    np.testing.assert_allclose([p1[0], p2[0]], [0.98, 0.98 - 0.01 * b2], rtol=1e-12)


def count_steps(monkeypatch, cls) -> list[int]:
    """Record the size of every block ``cls.step`` is called on."""
    calls, step = [], cls.step

    def spy(self, p, *args):
        calls.append(p.size)
        return step(self, p, *args)

    monkeypatch.setattr(cls, "step", spy)
    return calls


def test_a_flat_network_takes_one_step_call_per_update(monkeypatch):
    calls = count_steps(monkeypatch, Adam)
    net = MLP(SIZES, flat=True)
    train(net, Adam(), steps=3)
    assert calls == [sum(p.size for p in net.params.values())] * 3
    calls.clear()
    train(MLP(SIZES), Adam(), steps=1)
    assert len(calls) == 6  # the plain network: one call per parameter


def test_a_skipped_gradient_falls_back_to_per_parameter_steps(monkeypatch):
    net, plain = MLP(SIZES, flat=True), MLP(SIZES)
    opt, opt_plain = Adam(lr=0.01), Adam(lr=0.01)
    for n, o in ((net, opt), (plain, opt_plain)):
        train(n, o, steps=2)
        grads = n.gradient(X, T)
        grads["b2"] = None  # b2 skips this step: its t falls behind the others
        o.update(n.params, grads)
        train(n, o, steps=2)  # t differs between parameters now: per-parameter again
    assert opt.state["b2"]["t"] == 4 and opt.state["W1"]["t"] == 5
    assert_same_bits(plain.params, net.params)


def test_an_optimizer_that_is_not_elementwise_never_takes_one_pass(monkeypatch):
    class Normalized(SGD):
        """Steps of length lr per parameter: the norm makes it not elementwise."""

        elementwise = False

        def step(self, p, g, state, tmp, tmp2):
            p -= self.lr * g / np.linalg.norm(g)

    calls = count_steps(monkeypatch, Normalized)
    net, plain = MLP(SIZES, flat=True), MLP(SIZES)
    train(net, Normalized(lr=0.1), steps=2)
    train(plain, Normalized(lr=0.1), steps=2)
    assert len(calls) == 2 * 2 * 6
    assert_same_bits(plain.params, net.params)


def test_gradients_of_a_flat_network_are_reused_views_of_one_buffer():
    net = MLP(SIZES, flat=True)
    first = net.gradient(X, T)
    kept = {k: g.copy() for k, g in first.items()}
    second = net.gradient(X[::-1].copy(), T[::-1].copy())
    assert all(first[k] is second[k] for k in first)
    assert span(list(second.values())) is not None
    plain = MLP(SIZES).gradient(X, T)
    assert_same_bits(plain, kept)  # the same numbers as a plain network's fresh arrays


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda n: pickle.loads(pickle.dumps(n)),
                                   MLP.copy], ids=["deepcopy", "pickle", "copy"])
def test_a_copied_flat_network_is_flat_and_independent(clone):
    net = MLP(SIZES, flat=True)
    twin = clone(net)
    assert twin.flat and span(list(twin.params.values())) is not None
    assert not np.shares_memory(twin.params["W1"], net.params["W1"])
    assert all(twin.params[f"W{i}"] is layer.W for i, layer in enumerate(twin.affine_layers(), 1))
    opt, opt_twin = Adam(lr=0.01), Adam(lr=0.01)
    train(net, opt)
    train(twin, opt_twin)
    assert_same_bits(net.params, twin.params)
    assert opt_twin._spans.spans is not None


def test_a_copied_optimizer_continues_as_the_original():
    net = MLP(SIZES, flat=True)
    opt = Adam(lr=0.01)
    train(net, opt, steps=3)
    net2, opt2 = copy.deepcopy((net, opt))
    train(net, opt, steps=3)
    train(net2, opt2, steps=3)
    assert_same_bits(net.params, net2.params)


@pytest.mark.parametrize("name", ["adam", "nadam", "adagrad"])
def test_state_dict_round_trip_of_a_flat_run_continues_bit_for_bit(name):
    net = MLP(SIZES, flat=True)
    opt = make_optimizer(name, lr=0.01)
    train(net, opt, steps=3)
    saved, weights = opt.state_dict(), {k: p.copy() for k, p in net.params.items()}
    train(net, opt, steps=3)
    again = MLP(SIZES, flat=True)
    again.load_params(weights)
    restored = make_optimizer(name, lr=0.01)
    restored.load_state_dict(saved)  # separate arrays again: the per-parameter path
    train(again, restored, steps=3)
    assert_same_bits(net.params, again.params)


def test_nadam_keeps_its_product_per_parameter_on_the_one_pass_path():
    net = MLP(SIZES, flat=True)
    opt = NAdam()
    train(net, opt, steps=4)
    products = {s["mu_product"] for s in opt.state.values()}
    assert products == {float(np.prod([opt.mu(i) for i in range(1, 5)]))}


def test_relu_equals_the_where_form_on_finite_inputs():
    x = np.concatenate([RNG.standard_normal(1000), [0.0, -0.0, 1e-310, -1e-310, np.inf, -np.inf]])
    layer = ReLU()
    assert np.array_equal(layer.forward(x), np.where(x > 0, x, 0))
    dout = RNG.standard_normal(x.shape)
    assert np.array_equal(layer.backward(dout), np.where(x > 0, dout, 0))


def test_flat_must_be_a_bool():
    with pytest.raises(TypeError, match="flat must be True or False, got 'yes'"):
        MLP(SIZES, flat="yes")
    assert repr(MLP(SIZES, flat=True)).endswith("flat=True)")
    assert "flat" not in repr(MLP(SIZES))


# ----- pack and span ------------------------------------------------------------------------
def test_pack_copies_into_one_buffer_in_order():
    arrays = {"a": np.arange(6.0).reshape(2, 3), "b": np.array([7.0, 8.0])}
    views = pack(arrays)
    assert views["a"].base is views["b"].base
    assert views["a"].base.tolist() == [0, 1, 2, 3, 4, 5, 7, 8]
    assert not np.shares_memory(views["a"], arrays["a"])
    views["b"][0] = -1
    assert arrays["b"][0] == 7.0


def test_pack_refuses_mixed_dtypes():
    with pytest.raises(TypeError, match=r"one dtype, got \['float32', 'float64'\]"):
        pack({"a": np.zeros(2), "b": np.zeros(2, np.float32)})


def test_span_needs_adjacent_views_of_one_buffer_in_order():
    buf = np.arange(10.0)
    assert span([buf[2:4], buf[4:7].reshape(3, 1)]).tolist() == [2, 3, 4, 5, 6]
    assert span([buf[2:4], buf[5:7]]) is None  # a gap
    assert span([buf[4:7], buf[2:4]]) is None  # out of order
    assert span([buf[2:4], np.arange(10.0)[4:7]]) is None  # another buffer
    assert span([buf.reshape(2, 5)[:, :2]]) is None  # not contiguous
    assert span([np.zeros(3)]) is None and span([]) is None  # owns its data; nothing


def test_span_cache_notices_a_new_array():
    views = pack({"a": np.zeros(3), "b": np.zeros(2)})
    cache = SpanCache()
    first = cache.get([[views["a"], views["b"]]])
    assert first is not None and first[0].size == 5
    assert cache.get([[views["a"], views["b"]]]) is first  # the same objects: no new check
    assert cache.get([[views["a"], np.zeros(2)]]) is None
