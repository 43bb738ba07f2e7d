"""course_lib.training: learning, determinism, fair comparisons, divergence and bad input."""

from __future__ import annotations

import io
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from course_lib.data import Dataset, digits, linear_regression
from course_lib.networks import MLP
from course_lib.optimizers import OPTIMIZERS, SGD, Adam, Momentum, make_optimizer
from course_lib.training import History, compare, smooth, train
from tests import make_torch_mlp_fixture as ref

DIGITS = digits(seed=0)
# Learning rates that train the small digits net well in a few hundred steps.
LRS = {"sgd": 0.3, "momentum": 0.1, "adagrad": 0.03, "rmsprop": 1e-3, "adam": 1e-3,
       "adamw": 1e-3, "nadam": 2e-3, "adadelta": 1.0, "radam": 1e-2, "adamax": 2e-3,
       "lion": 2e-3}


def small_net() -> MLP:
    return MLP([64, 32, 10], seed=1)


# ----- learning -------------------------------------------------------------------------
def test_digits_mlp_with_adam_reaches_95_percent() -> None:
    start = time.perf_counter()
    hist = train(MLP([64, 100, 10], seed=0), Adam(lr=1e-3), DIGITS, steps=2000, batch_size=128,
                 eval_every=500)
    seconds = time.perf_counter() - start
    assert hist.test_acc[-1] >= 0.95, hist.summary()
    assert hist.eval_steps == [0, 500, 1000, 1500, 2000] and not hist.diverged
    assert seconds < 30, f"2,000 steps took {seconds:.1f} s"


def test_every_course_optimizer_lowers_the_training_loss() -> None:
    assert set(LRS) == set(OPTIMIZERS)
    factories = {name: (lambda name=name, lr=lr: make_optimizer(name, lr=lr))
                 for name, lr in LRS.items()}
    runs = compare(factories, small_net, DIGITS, steps=150, batch_size=64, eval_every=150)
    for hist in runs.values():
        assert hist.train_loss[-1] < 0.5 * hist.train_loss[0], hist.summary()
        assert hist.test_acc[-1] > hist.test_acc[0] + 0.3, hist.summary()


def test_linear_regression_reaches_least_squares() -> None:
    data = linear_regression()
    net = MLP([1, 1], loss="mse")
    hist = train(net, Adam(lr=0.1), data, steps=1000, batch_size=100)
    A = np.column_stack([data.x_train[:, 0], np.ones(100)])
    slope, intercept = np.linalg.lstsq(A, data.t_train[:, 0], rcond=None)[0]
    assert net.params["W1"][0, 0] == pytest.approx(slope, abs=1e-4)
    assert net.params["b1"][0] == pytest.approx(intercept, abs=1e-4)
    # A regression net on data without a test set records losses only.
    assert hist.train_acc == hist.test_acc == hist.test_loss == []
    assert len(hist.train_loss) == len(hist.eval_steps) == 51


def test_train_matches_torch_on_full_batches() -> None:
    fixture = np.load(Path(__file__).parent / "fixtures" / "torch_mlp.npz")
    case = ref.CASES["relu_ce_labels"]
    arrays = {k.split("__")[1]: fixture[k] for k in fixture.files
              if k.startswith("relu_ce_labels__")}
    net = MLP(list(case["sizes"]), case["activation"])
    net.load_params({k: arrays[k] for k in net.params})
    data = Dataset(arrays["x"], arrays["t"])
    hist = train(net, SGD(lr=ref.SGD_LR), data, steps=ref.STEPS, batch_size=ref.BATCH)
    # Each full batch comes in a new order, which changes only the rounding.
    np.testing.assert_allclose(hist.loss, arrays["sgd_losses"], rtol=1e-12)


# ----- determinism and fairness ---------------------------------------------------------
def test_same_seed_gives_bit_identical_histories() -> None:
    def run(seed, sampling="shuffle"):
        return train(small_net(), Adam(lr=1e-3), DIGITS, steps=60, batch_size=32, seed=seed,
                     sampling=sampling, eval_every=20)

    for sampling in ("shuffle", "replace"):
        first, again = run(7, sampling), run(7, sampling)
        assert first == again and first.loss == again.loss and first.test_acc == again.test_acc
        assert run(8, sampling).loss != first.loss  # the seed does matter


SEEN: list[tuple[MLP, np.ndarray]] = []


class RecordingMLP(MLP):
    """An MLP that writes down every training batch it is given (copies share SEEN)."""

    def forward_backward(self, x, t):
        SEEN.append((self, x.copy()))  # holding the net keeps its id unique
        return super().forward_backward(x, t)


def test_compare_feeds_every_optimizer_the_same_batches_and_start() -> None:
    SEEN.clear()
    opts = {"sgd": SGD(lr=0.1), "momentum": Momentum(lr=0.03), "adam": lambda: Adam(lr=1e-3)}
    runs = compare(opts, lambda: RecordingMLP([64, 16, 10], seed=2), DIGITS, steps=25,
                   batch_size=50, eval_every=25)
    assert list(runs) == ["sgd", "momentum", "adam"]
    by_net: dict[int, list[np.ndarray]] = {}
    for net, x in SEEN:
        by_net.setdefault(id(net), []).append(x)
    batches = list(by_net.values())
    assert len(batches) == 3 and all(len(b) == 25 for b in batches)
    for other in batches[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(batches[0], other, strict=True))
    assert not np.array_equal(batches[0][0], batches[0][1])  # the batches do change
    starts = {h.train_loss[0] for h in runs.values()}
    assert len(starts) == 1  # one initial network, copied
    assert len({h.train_loss[-1] for h in runs.values()}) == 3


def test_compare_leaves_a_given_network_untouched() -> None:
    net = small_net()
    before = {k: v.copy() for k, v in net.params.items()}
    runs = compare({"adam": Adam(lr=1e-3)}, net, DIGITS, steps=10, batch_size=32)
    assert runs["adam"].steps == 10
    assert all(np.array_equal(before[k], net.params[k]) for k in before)


def test_compare_refuses_shared_or_used_optimizers() -> None:
    shared = Adam(lr=1e-3)
    with pytest.raises(ValueError, match="optimizers 'a' and 'b' are the same object"):
        compare({"a": shared, "b": shared}, small_net, DIGITS, steps=5)
    used = SGD(lr=0.1)
    used.update({"w": np.zeros(1)}, {"w": np.ones(1)})
    with pytest.raises(ValueError, match=r"optimizers\['sgd'\] has already made 1 updates"):
        compare({"sgd": used}, small_net, DIGITS, steps=5)
    with pytest.raises(TypeError, match=r"optimizers\['x'\] must be an optimizer \(an object"):
        compare({"x": "adam"}, small_net, DIGITS, steps=5)
    with pytest.raises(KeyError, match=r"schedule has entries \['sdg'\] for no optimizer"):
        compare({"sgd": SGD(lr=0.1)}, small_net, DIGITS, steps=5, schedule={"sdg": print})


# ----- divergence -----------------------------------------------------------------------
def test_an_exploding_loss_stops_the_run_and_says_where() -> None:
    # SGD on least squares multiplies the error by about |1 - lr * 66| = 65 per step at lr = 1
    # (66 ~ the largest Hessian eigenvalue): the loss grows 65^2-fold per step.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hist = train(MLP([1, 1], loss="mse"), SGD(lr=1.0), linear_regression(), steps=1000,
                     batch_size=100)
    assert hist.diverged and hist.diverged_at == 2 and hist.steps == 2
    limit = 1e6 * (1 + hist.train_loss[0])
    assert hist.loss[-1] < limit and hist.reason == (
        f"minibatch loss {2.46e9:.3g} passed {limit:.3g} (1e6 x (1 + initial loss))")
    assert "DIVERGED at step 2 (minibatch loss" in hist.summary()
    # lr = 1e4 kills most ReLUs, so this loss stays finite, but it jumps a million-fold.
    hist = train(small_net(), SGD(lr=1e4), DIGITS, steps=200, batch_size=64)
    assert hist.diverged and hist.diverged_at == 1 and hist.steps == 1


class FailingMLP(MLP):
    """An MLP whose loss or gradient turns NaN at step ``fail_at`` (counting its calls)."""

    def __init__(self, fail_at: int, what: str) -> None:
        super().__init__([64, 16, 10], seed=0)
        self.calls, self.fail_at, self.what = 0, fail_at, what

    def forward_backward(self, x, t):
        loss, grads = super().forward_backward(x, t)
        self.calls += 1
        if self.calls - 1 == self.fail_at:
            if self.what == "loss":
                loss = float("nan")
            else:
                grads["b1"] = np.full_like(grads["b1"], np.inf)
        return loss, grads


@pytest.mark.parametrize(("what", "reason"), [("loss", "minibatch loss is nan"),
                                              ("gradient", "gradient of b1 is not finite")])
def test_a_non_finite_step_stops_before_updating(what, reason) -> None:
    net = FailingMLP(fail_at=7, what=what)
    opt = SGD(lr=0.1)
    hist = train(net, opt, DIGITS, steps=50, batch_size=32)
    assert hist.diverged and hist.diverged_at == 7 and hist.reason == reason
    assert hist.steps == opt.t == 7 and np.isfinite(net.params["b1"]).all()


def test_non_finite_initial_weights_are_caught_at_step_0() -> None:
    net = MLP([1, 1], loss="mse")
    net.load_params({"W1": np.array([[1e200]]), "b1": np.zeros(1)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hist = train(net, SGD(lr=0.1), linear_regression(), steps=10, batch_size=10)
    assert hist.diverged and hist.diverged_at == 0 and hist.steps == 0
    assert hist.reason == "training loss is inf"


def test_a_healthy_run_is_not_marked_diverged() -> None:
    hist = train(small_net(), SGD(lr=0.1), DIGITS, steps=20, batch_size=64)
    assert not hist.diverged and hist.diverged_at is None and hist.reason == ""


# ----- steps, epochs, evaluations, progress ---------------------------------------------
def test_epochs_and_evaluation_steps() -> None:
    hist = train(small_net(), SGD(lr=0.1), DIGITS, epochs=2, batch_size=500, eval_every=4)
    assert hist.steps == 2 * math.ceil(1437 / 500) == 6
    assert hist.eval_steps == [0, 4, 6]
    assert len(hist.train_acc) == len(hist.test_acc) == len(hist.test_loss) == 3
    assert len(hist.lr) == 6 and set(hist.lr) == {0.1}


def test_progress_bar_only_when_asked_or_interactive(capsys, monkeypatch) -> None:
    train(small_net(), SGD(lr=0.1), DIGITS, steps=30, batch_size=32, progress=True)
    out, err = capsys.readouterr()
    assert out == "" and "SGD [" in err and "30/30 loss" in err and err.endswith("\n")
    train(small_net(), SGD(lr=0.1), DIGITS, steps=30, batch_size=32)  # stderr is no terminal
    assert capsys.readouterr() == ("", "")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    train(small_net(), SGD(lr=0.1), DIGITS, steps=30, batch_size=32, name="tty")
    assert "tty [" in terminal.getvalue() and "30/30" in terminal.getvalue()
    terminal.truncate(0)
    train(small_net(), SGD(lr=0.1), DIGITS, steps=30, batch_size=32, progress=False)
    assert terminal.getvalue() == ""


# ----- smoothing ------------------------------------------------------------------------
def test_smooth_by_hand() -> None:
    # weight 0.5: weighted means with weights 1; 1, 0.5; 1, 0.5, 0.25 (newest first).
    expected = [1.0, (3 + 0.5 * 1) / 1.5, (3 + 0.5 * 3 + 0.25 * 1) / 1.75]
    np.testing.assert_allclose(smooth([1.0, 3.0, 3.0], weight=0.5), expected, rtol=1e-15)
    np.testing.assert_allclose(smooth(np.full(50, 2.5)), 2.5, rtol=1e-14)
    assert smooth([4.0, 1.0, 7.0], weight=0).tolist() == [4.0, 1.0, 7.0]
    noisy = 1 + np.random.default_rng(0).standard_normal(2000)
    assert smooth(noisy, weight=0.99)[500:].std() < 0.2 * noisy.std()


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"curve": [1.0], "weight": 1.0}, r"weight must be a number in \[0, 1\), got 1.0"),
    ({"curve": [[1.0]]}, r"curve must be one-dimensional, got shape \(1, 1\)"),
])
def test_smooth_bad_arguments(kwargs, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        smooth(**kwargs)


# ----- bad input ------------------------------------------------------------------------
def with_nan(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    x[3, 5] = np.nan
    return x


def with_label(t: np.ndarray, value: int) -> np.ndarray:
    t = t.copy()
    t[0] = value
    return t


D = DIGITS
BAD = [
    (D, {"batch_size": 0}, ValueError, r"batch_size must be a whole number in \[1, 1437\].*got 0"),
    (D, {"batch_size": 1438}, ValueError, r"batch_size must.*\[1, 1437\].*got 1438"),
    (D, {"steps": 5, "epochs": 1}, ValueError, "give exactly one of steps and epochs"),
    (D, {"steps": None}, ValueError, "give exactly one of steps and epochs"),
    (D, {"steps": 0}, ValueError, "steps must be a whole number >= 1, got 0"),
    (D, {"eval_every": 0}, ValueError, "eval_every must be a whole number >= 1, got 0"),
    (D, {"sampling": "bootstrap"}, ValueError, "unknown sampling 'bootstrap'"),
    (D, {"progress": "yes"}, TypeError, "progress must be True, False or None, got 'yes'"),
    (D, {"schedule": 0.1}, TypeError, "schedule must be a callable step -> lr"),
    (Dataset(with_nan(D.x_train), D.t_train, D.x_test, D.t_test), {}, ValueError,
     r"data.x_train contains 1 NaN/inf value\(s\); the first is np.float64\(nan\) at index "
     r"\(3, 5\)"),
    (Dataset(D.x_train, D.t_train, D.x_test + np.inf, D.t_test), {}, ValueError,
     "data.x_test contains"),
    (Dataset(D.x_train, with_label(D.t_train, 10), D.x_test, D.t_test), {}, ValueError,
     r"data.t_train labels must lie in \[0, 9\] for 10 classes; out of range: \[10\]"),
    (Dataset(D.x_train, D.t_train, D.x_test, with_label(D.t_test, -2)), {}, ValueError,
     r"data.t_test labels must lie in \[0, 9\].*\[-2\]"),
    (Dataset(D.x_train[:, :60], D.t_train), {}, ValueError,
     r"data.x_train must have shape \(N >= 1, 64\).*got shape \(1437, 60\)"),
    (Dataset(D.x_train, D.t_train[:, None]), {}, ValueError,
     r"data.t_train must be 1437 integer labels.*got shape \(1437, 1\)"),
    (Dataset(D.x_train.astype(np.float32), D.t_train), {}, TypeError,
     r"data.x_train has dtype float32 but the network is float64"),
]


@pytest.mark.parametrize(("data", "kwargs", "error", "pattern"), BAD)
def test_bad_training_input_changes_nothing(data, kwargs, error, pattern) -> None:
    net, opt = small_net(), SGD(lr=0.1)
    before = {k: v.copy() for k, v in net.params.items()}
    args = {"steps": 5, "batch_size": 32, **kwargs}
    with pytest.raises(error, match=pattern):
        train(net, opt, data, **args)
    assert opt.t == 0 and all(np.array_equal(before[k], net.params[k]) for k in before)


def test_train_refuses_what_is_not_an_optimizer_or_dataset() -> None:
    with pytest.raises(TypeError, match=r"optimizer must be an object with an update\(params"):
        train(small_net(), "adam", DIGITS, steps=5)
    with pytest.raises(TypeError, match="not the class"):
        train(small_net(), PlainSGD, DIGITS, steps=5)
    with pytest.raises(TypeError, match="data must be a course_lib.data.Dataset, got tuple"):
        train(small_net(), Adam(), (DIGITS.x_train, DIGITS.t_train), steps=5)


def test_history_summary() -> None:
    hist = History(name="adam", loss=[0.5, 0.25], train_loss=[2.0, 0.125], train_acc=[0.1, 0.9],
                   test_acc=[0.1, 0.875])
    assert hist.summary() == ("      adam:     2 steps, train loss 0.1250, train acc 0.900, "
                              "test acc 0.875")


# ----- optimizers of your own ---------------------------------------------------------------
class PlainSGD:
    """Deep Learning from Scratch's form: hyperparameters as attributes, update(params, grads)."""

    def __init__(self, lr: float = 0.01) -> None:
        self.lr = lr

    def update(self, params, grads) -> None:
        for key in params:
            params[key] -= self.lr * grads[key]


class PlainMomentum:
    """The textbook velocity v = momentum * v - lr * g, kept in a dict by key."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        self.lr, self.momentum, self.v = lr, momentum, None

    def update(self, params, grads) -> None:
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params:
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] += self.v[key]


class NoLr:
    """An optimizer without an lr attribute: its step size is fixed inside update."""

    def update(self, params, grads) -> None:
        for key in params:
            params[key] -= 0.1 * grads[key]


def test_an_optimizer_of_your_own_equals_the_librarys_bit_for_bit() -> None:
    mine, ours = small_net(), small_net()
    a = train(mine, PlainSGD(lr=0.3), DIGITS, steps=40, batch_size=64)
    b = train(ours, SGD(lr=0.3), DIGITS, steps=40, batch_size=64)
    assert a.loss == b.loss and a.lr == b.lr == [0.3] * 40
    assert all(np.array_equal(mine.params[k], ours.params[k]) for k in ours.params)


def test_optimizers_of_your_own_race_the_librarys_in_compare() -> None:
    runs = compare({"PlainSGD": lambda: PlainSGD(lr=0.3), "SGD": lambda: SGD(lr=0.3),
                    "PlainMomentum": PlainMomentum(lr=0.03), "Momentum": Momentum(lr=0.03),
                    "NoLr": NoLr},
                   small_net, DIGITS, steps=60, batch_size=64)
    assert runs["PlainSGD"].loss == runs["SGD"].loss  # the same rule: the same run, exactly
    # The textbook velocity is torch's times -lr: the same trajectory up to round-off.
    np.testing.assert_allclose(runs["PlainMomentum"].loss, runs["Momentum"].loss, rtol=1e-9)
    assert all(math.isnan(lr) for lr in runs["NoLr"].lr)
    for hist in runs.values():
        assert not hist.diverged and hist.train_loss[-1] < hist.train_loss[0]


def test_a_schedule_needs_an_lr_attribute() -> None:
    with pytest.raises(TypeError, match=r"NoLr\) has no lr attribute.*schedule"):
        train(small_net(), NoLr(), DIGITS, steps=5, schedule=lambda k: 0.1)
    with pytest.raises(TypeError, match=r"optimizers\['n'\] \(NoLr\) has no lr attribute"):
        compare({"s": SGD(lr=0.1), "n": NoLr()}, small_net, DIGITS, steps=5,
                schedule=lambda k: 0.1)
    plain = PlainSGD(lr=1.0)
    hist = train(small_net(), plain, DIGITS, steps=4, batch_size=64,
                 schedule=lambda k: 0.1 / (k + 1))
    assert hist.lr == [0.1 / (k + 1) for k in range(4)] and plain.lr == 0.025


def test_a_schedule_may_reach_lr_zero() -> None:
    net = small_net()
    before = {k: v.copy() for k, v in net.params.items()}
    opt = Adam(lr=0.1)
    hist = train(net, opt, DIGITS, steps=3, batch_size=64, schedule=lambda k: 0.0)
    assert hist.lr == [0.0] * 3 and opt.state["W1"]["t"] == 3
    assert all(np.array_equal(before[k], net.params[k]) for k in before)
