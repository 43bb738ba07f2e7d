"""course_lib.networks: gradients checked against central differences and against torch."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from course_lib.networks import (
    MLP,
    Affine,
    MeanSquaredError,
    ReLU,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
    TwoLayerNet,
    gradient_check,
    numerical_gradient,
    relative_error,
)
from course_lib.optimizers import SGD, Adam
from tests import make_torch_mlp_fixture as ref

TOL = 1e-7
RNG = np.random.default_rng(20240601)
X = RNG.standard_normal((5, 4))
LABELS = np.array([0, 2, 1, 2, 0])
ONE_HOT = np.eye(3)[LABELS]


def check_layer(layer, x: np.ndarray, extra: dict[str, np.ndarray] | None = None) -> dict:
    """Backprop vs central differences for f = sum(w * layer(x)) with random weights w."""
    w = np.random.default_rng(7).standard_normal(layer.forward(x).shape)
    params = {"x": x, **(extra or {})}
    numeric = numerical_gradient(lambda: float(np.sum(w * layer.forward(x))), params)
    layer.forward(x)
    analytic = {"x": layer.backward(w)}
    if isinstance(layer, Affine):
        analytic.update(W=layer.dW, b=layer.db)
    return {k: relative_error(analytic[k], numeric[k]) for k in params}


# ----- every layer and loss -------------------------------------------------------------
def test_affine_gradients() -> None:
    W, b = RNG.standard_normal((4, 3)), RNG.standard_normal(3)
    errors = check_layer(Affine(W, b), X.copy(), {"W": W, "b": b})
    assert set(errors) == {"x", "W", "b"} and max(errors.values()) < TOL, errors


@pytest.mark.parametrize("layer", [ReLU, Sigmoid, Tanh])
def test_activation_gradients(layer) -> None:
    x = X + np.sign(X) * 0.1  # keep ReLU's kink farther than eps from every input
    assert check_layer(layer(), x)["x"] < TOL


@pytest.mark.parametrize("t", [LABELS, ONE_HOT, np.full((5, 3), 1 / 3)], ids=["labels",
                                                                               "one-hot", "soft"])
def test_softmax_cross_entropy_gradient(t) -> None:
    scores, loss = X[:, :3].copy(), SoftmaxCrossEntropy()
    numeric = numerical_gradient(lambda: loss.forward(scores, t), {"s": scores})["s"]
    loss.forward(scores, t)
    assert relative_error(loss.backward(), numeric) < TOL


def test_mean_squared_error_gradient_and_value() -> None:
    y, t, loss = X.copy(), X[::-1].copy(), MeanSquaredError()
    assert loss.forward(y, t) == pytest.approx(np.sum((y - t) ** 2) / y.size, rel=1e-15)
    numeric = numerical_gradient(lambda: loss.forward(y, t), {"y": y})["y"]
    loss.forward(y, t)
    assert relative_error(loss.backward(), numeric) < TOL


def test_softmax_cross_entropy_known_values() -> None:
    # Equal scores give every class probability 1/K, so the loss is log K.
    assert SoftmaxCrossEntropy().forward(np.zeros((4, 5)), np.arange(4)) == pytest.approx(
        math.log(5), rel=1e-15)
    # Huge scores must not overflow: the right class is certain, the loss is 0.
    scores = np.array([[1000.0, 0.0], [0.0, 1000.0]])
    assert SoftmaxCrossEntropy().forward(scores, np.array([0, 1])) == 0.0


# ----- whole networks -------------------------------------------------------------------
@pytest.mark.parametrize("sizes", [[4, 3], [4, 5, 3], [4, 6, 5, 4, 3]], ids=["depth1", "depth2",
                                                                           "depth4"])
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_mlp_gradient_check(sizes, activation) -> None:
    errors = gradient_check(MLP(sizes, activation, seed=3), X, LABELS)
    assert set(errors) == {f"{p}{i}" for i in range(1, len(sizes)) for p in "Wb"}
    assert max(errors.values()) < TOL, errors


def test_mse_mlp_and_one_hot_gradient_check() -> None:
    targets = RNG.standard_normal((5, 2))
    assert max(gradient_check(MLP([4, 6, 2], "tanh", loss="mse"), X, targets).values()) < TOL
    assert max(gradient_check(MLP([4, 6, 3], "sigmoid"), X, ONE_HOT).values()) < TOL


def test_labels_and_one_hot_give_the_same_loss_and_gradient() -> None:
    net = MLP([4, 6, 3], seed=1)
    loss_a, grads_a = net.loss_and_gradient(X, LABELS)
    loss_b, grads_b = net.loss_and_gradient(X, ONE_HOT.astype(np.int64))
    assert loss_a == pytest.approx(loss_b, rel=1e-14)
    for key in grads_a:
        np.testing.assert_allclose(grads_a[key], grads_b[key], rtol=1e-12, atol=1e-15)


def test_gradient_check_catches_a_broken_backward(monkeypatch) -> None:
    net = MLP([4, 6, 5, 3], "sigmoid", seed=0)
    assert max(gradient_check(net, X, LABELS).values()) < TOL
    monkeypatch.setattr(Sigmoid, "backward", lambda self, dout: dout * self.out)  # drops 1 - s
    errors = gradient_check(net, X, LABELS)
    assert errors["W1"] > 1e-2 and errors["W2"] > 1e-2
    assert errors["W3"] < TOL  # the last affine layer sits after every sigmoid: still right


def test_gradient_check_catches_a_relu_that_lets_everything_through(monkeypatch) -> None:
    monkeypatch.setattr(ReLU, "backward", lambda self, dout: dout)
    assert gradient_check(MLP([4, 6, 3], seed=0), X, LABELS)["W1"] > 1e-2


def test_numerical_gradient_matches_calculus_and_restores_params() -> None:
    x = np.array([[1.5, -2.0], [0.25, 3.0]])
    before = x.copy()
    grad = numerical_gradient(lambda: float(np.sum(x**3)), {"x": x})["x"]
    np.testing.assert_allclose(grad, 3 * before**2, rtol=1e-9)
    assert np.array_equal(x, before)


def test_known_accuracy_and_predict_shape() -> None:
    net = MLP([2, 2], seed=0)
    net.load_params({"W1": np.eye(2), "b1": np.zeros(2)})  # scores = x: class = argmax of x
    x = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 3.0]])
    assert net.predict(x).shape == (4, 2)
    assert net.accuracy(x, np.array([0, 1, 1, 0])) == 0.5


# ----- parameters, copies, initialisation, dtypes ---------------------------------------
def test_optimizer_update_changes_the_network() -> None:
    net = MLP([4, 6, 3], seed=0)
    before = net.loss(X, LABELS)
    for _ in range(20):
        SGD(lr=0.5).update(net.params, net.gradient(X, LABELS))
    assert net.loss(X, LABELS) < 0.5 * before


def test_replacing_a_param_array_is_reported() -> None:
    net = MLP([4, 6, 3], seed=0)
    net.params["W1"] = net.params["W1"] * 2
    with pytest.raises(RuntimeError, match=r"params\['W1'\] was replaced"):
        net.loss(X, LABELS)


def test_copy_has_equal_but_independent_weights() -> None:
    net = MLP([4, 6, 3], seed=0)
    twin = net.copy()
    assert all(np.array_equal(net.params[k], twin.params[k]) for k in net.params)
    SGD(lr=0.5).update(twin.params, twin.gradient(X, LABELS))  # trains the copy only
    assert twin.loss(X, LABELS) < net.loss(X, LABELS)
    assert np.array_equal(net.params["W1"], MLP([4, 6, 3], seed=0).params["W1"])


@pytest.mark.parametrize(("activation", "gain"), [("relu", 2.0), ("tanh", 1.0),
                                                  ("sigmoid", 1.0)])
def test_he_and_xavier_initialisation(activation, gain) -> None:
    W = MLP([2000, 300, 2], activation, seed=0).params["W1"]
    assert W.std() == pytest.approx(math.sqrt(gain / 2000), rel=0.01)
    assert abs(W.mean()) < 1e-3 and not MLP([2000, 300, 2], activation).params["b1"].any()


def test_two_layer_net_matches_the_book() -> None:
    net = TwoLayerNet(input_size=64, hidden_size=100, output_size=10, seed=1)
    assert {k: v.shape for k, v in net.params.items()} == {
        "W1": (64, 100), "b1": (100,), "W2": (100, 10), "b2": (10,)}
    assert net.params["W1"].std() == pytest.approx(0.01, rel=0.02)
    assert [type(layer).__name__ for layer in net.layers] == ["Affine", "ReLU", "Affine"]


def test_float32_network_stays_float32() -> None:
    net32, net64 = MLP([4, 6, 3], seed=5, dtype=np.float32), MLP([4, 6, 3], seed=5)
    x32 = X.astype(np.float32)
    loss, grads = net32.loss_and_gradient(x32, LABELS)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert all(p.dtype == np.float32 for p in net32.params.values())
    assert net32.predict(x32).dtype == np.float32
    np.testing.assert_allclose(net32.params["W1"], net64.params["W1"], rtol=1e-7)
    assert loss == pytest.approx(net64.loss(X, LABELS), rel=1e-5)
    for key, g in net64.gradient(X, LABELS).items():
        assert relative_error(grads[key], g) < 1e-5


def test_mixing_dtypes_raises_with_the_cast_to_use() -> None:
    with pytest.raises(TypeError, match=r"x has dtype float64 but the network is float32.*"
                                        r"astype\(np.float32\)"):
        MLP([4, 3], dtype=np.float32).loss(X, LABELS)
    with pytest.raises(TypeError, match="x has dtype int64"):
        MLP([4, 3]).predict(np.ones((2, 4), dtype=np.int64))
    with pytest.raises(TypeError, match="t has dtype float32"):
        MLP([4, 3], loss="mse").loss(X, np.zeros((5, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="dtype must be np.float32 or np.float64"):
        MLP([4, 3], dtype=np.float16)


# ----- bad input ------------------------------------------------------------------------
@pytest.mark.parametrize(("x", "t", "error", "pattern"), [
    (np.ones((5, 3)), LABELS, ValueError, r"x must have shape \(N >= 1, 4\).*got shape \(5, 3\)"),
    (np.ones(4), LABELS, ValueError, r"x must have shape.*got shape \(4,\)"),
    (X, np.array([0, 3, 1, -1, 0]), ValueError, r"t labels must lie in \[0, 2\].*\[-1, 3\]"),
    (X, LABELS[:4], ValueError, r"t must be 5 integer labels.*got shape \(4,\)"),
    (X, np.ones((5, 4)), ValueError, r"one-hot rows, shape \(5, 3\); got shape \(5, 4\)"),
    (X, LABELS.astype(float), TypeError, "t holds class labels and must be an integer array"),
    (X, 2 * ONE_HOT, ValueError, r"rows must be one-hot.*row 0 is \[2.0, 0.0, 0.0\]"),
    (np.where(np.eye(5, 4) > 0, np.nan, X), LABELS, ValueError,
     r"x contains 4 NaN/inf value\(s\); the first is np.float64\(nan\) at index \(0, 0\)"),
    (np.where(np.eye(5, 4) > 0, np.inf, X), LABELS, ValueError, "x contains 4 NaN/inf"),
])
def test_bad_batches_name_the_argument_and_values(x, t, error, pattern) -> None:
    net = MLP([4, 6, 3], seed=0)
    before = {k: v.copy() for k, v in net.params.items()}
    with pytest.raises(error, match=pattern):
        net.gradient(x, t)
    assert all(np.array_equal(before[k], net.params[k]) for k in before)


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"sizes": [4, 3], "activation": "softplus"},
     r"unknown activation 'softplus'; choose one of \['relu', 'sigmoid', 'tanh'\]"),
    ({"sizes": [4, 3], "loss": "hinge"}, "unknown loss 'hinge'"),
    ({"sizes": [4]}, r"sizes must list at least two layer widths >= 1.*\[4\]"),
    ({"sizes": [4, 0, 3]}, r"sizes must list.*\[4, 0, 3\]"),
    ({"sizes": [4, 3], "weight_init": -0.1}, "weight_init must be 'auto' or a standard deviation"),
])
def test_bad_constructor_arguments(kwargs, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        MLP(**kwargs)


def test_load_params_checks_everything_before_copying() -> None:
    net = MLP([4, 6, 3], seed=0)
    before = {k: v.copy() for k, v in net.params.items()}
    bad = {k: np.zeros_like(v) for k, v in net.params.items()}
    bad["b2"] = np.zeros(4)
    with pytest.raises(ValueError, match=r"values\['b2'\] has shape \(4,\), expected \(3,\)"):
        net.load_params(bad)
    with pytest.raises(KeyError, match="load_params needs exactly the keys"):
        net.load_params({"W1": before["W1"]})
    assert all(np.array_equal(before[k], net.params[k]) for k in before)


def test_accuracy_refuses_a_regression_net() -> None:
    with pytest.raises(ValueError, match="accuracy needs a classification net"):
        MLP([4, 2], loss="mse").accuracy(X, np.zeros((5, 2)))


# ----- agreement with torch -------------------------------------------------------------
FIXTURE = np.load(Path(__file__).parent / "fixtures" / "torch_mlp.npz")


def stored(case: str) -> dict[str, np.ndarray]:
    prefix = f"{case}__"
    return {k[len(prefix):]: FIXTURE[k] for k in FIXTURE.files if k.startswith(prefix)}


def course_net(case: dict, arrays: dict[str, np.ndarray], flat: bool = False) -> MLP:
    net = MLP(list(case["sizes"]), case["activation"], loss=case["loss"], flat=flat)
    net.load_params({k: arrays[k] for k in net.params})
    return net


def assert_matches_torch(case: dict, arrays: dict[str, np.ndarray],
                         expected: dict[str, np.ndarray], flat: bool = False) -> None:
    """One forward/backward, then SGD and Adam steps, all against torch's numbers."""
    x, t = arrays["x"], arrays["t"]
    loss, grads = course_net(case, arrays, flat).loss_and_gradient(x, t)
    assert loss == pytest.approx(float(expected["loss"]), rel=1e-12)
    for key, g in grads.items():
        assert relative_error(g, expected[f"grad_{key}"]) < 1e-10, key
    for name, opt in (("sgd", SGD(lr=ref.SGD_LR)), ("adam", Adam(**ref.ADAM))):
        net, losses = course_net(case, arrays, flat), []
        for _ in range(ref.STEPS):
            loss, grads = net.loss_and_gradient(x, t)
            opt.update(net.params, grads)
            losses.append(loss)
        np.testing.assert_allclose(losses, expected[f"{name}_losses"], rtol=1e-10, atol=1e-14)
        for key, p in net.params.items():
            assert relative_error(p, expected[f"{name}_{key}"]) < 1e-10, (name, key)


@pytest.mark.parametrize("flat", [False, True], ids=["plain", "flat"])
@pytest.mark.parametrize("case_name", list(ref.CASES))
def test_matches_stored_torch_fixture(case_name, flat) -> None:
    arrays = stored(case_name)
    assert arrays["x"].shape == (ref.BATCH, ref.CASES[case_name]["sizes"][0])
    assert_matches_torch(ref.CASES[case_name], arrays, arrays, flat)


@pytest.mark.parametrize("flat", [False, True], ids=["plain", "flat"])
@pytest.mark.parametrize("case_name", list(ref.CASES))
def test_matches_live_torch(case_name, flat) -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        pytest.skip("torch not installed: run `make reference`")
    case = ref.CASES[case_name]
    for seed in (1, 2):  # inputs the stored fixture never saw
        arrays = ref.make_inputs(case, seed)
        assert_matches_torch(case, arrays, ref.torch_reference(case, arrays), flat)
