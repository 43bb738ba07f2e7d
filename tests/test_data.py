"""course_lib.data: offline, seeded data sets and the minibatch sampler."""

from __future__ import annotations

import itertools
import socket

import numpy as np
import pytest
from sklearn.datasets import load_digits

from course_lib.data import (
    Dataset,
    batch_indices,
    digits,
    linear_regression,
    minibatches,
    mnist,
    moons,
    spirals,
)


# ----- data sets ------------------------------------------------------------------------
def test_linear_regression_is_seed_001s_data() -> None:
    # The global generator must be untouched: reading its state is the point here.
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    data = linear_regression()
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002
    # np.random.seed(42); np.random.rand(3) is a well-known sequence.
    np.testing.assert_allclose(data.x_train[:3, 0], [3.745401188473625, 9.50714306409916,
                                                     7.319939418114051], rtol=1e-15)
    assert data.x_train.shape == data.t_train.shape == (100, 1) and data.x_test is None
    assert 0 <= data.x_train.min() and data.x_train.max() < 10
    A = np.column_stack([data.x_train[:, 0], np.ones(100)])
    slope, _ = np.linalg.lstsq(A, data.t_train[:, 0], rcond=None)[0]
    assert slope == pytest.approx(2.5, abs=0.15)
    residual = data.t_train - 2.5 * data.x_train
    assert residual.std() == pytest.approx(1.0, abs=0.2)  # the N(0, 1) noise


def test_digits_split_is_stratified_scaled_and_complete() -> None:
    data, raw = digits(seed=3), load_digits()
    assert data.x_train.shape == (1437, 64) and data.x_test.shape == (360, 64)
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    assert data.n_classes == 10 and data.t_train.dtype == np.int64
    whole = np.bincount(raw.target)
    np.testing.assert_allclose(np.bincount(data.t_test), 0.2 * whole, atol=1)
    # Together the two halves are the 1,797 images, each exactly once.
    rows = np.vstack([data.x_train, data.x_test]) * 16
    labels = np.concatenate([data.t_train, data.t_test])
    ours = sorted(map(tuple, np.column_stack([rows, labels]).tolist()))
    theirs = sorted(map(tuple, np.column_stack([raw.data, raw.target]).tolist()))
    assert ours == theirs


def test_digits_seed_and_dtype() -> None:
    a, b, c = digits(seed=1), digits(seed=1), digits(seed=2)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.t_test, b.t_test)
    assert not np.array_equal(a.t_train, c.t_train)
    small = digits(test_size=0.5, seed=1, dtype=np.float32)
    assert small.x_train.dtype == np.float32 and len(small.x_test) in (898, 899)


def test_mnist_shapes_scale_and_classes() -> None:
    data = mnist()
    assert repr(data) == "Dataset('mnist': train (4000, 784), test (1000, 784))"
    assert data.x_train.dtype == data.x_test.dtype == np.float64
    assert data.t_train.dtype == data.t_test.dtype == np.int64 and data.n_classes == 10
    x = np.vstack([data.x_train, data.x_test])
    assert x.min() == 0.0 and x.max() == 1.0
    # Scaled from whole numbers 0..255: 255 x must give them back exactly.
    assert np.array_equal(x * 255, np.round(x * 255))
    labels = np.concatenate([data.t_train, data.t_test])
    assert np.bincount(labels).tolist() == [500] * 10
    assert np.bincount(data.t_train).tolist() == [400] * 10
    assert np.bincount(data.t_test).tolist() == [100] * 10
    # Real digits, centred in 28 x 28: ink in the middle, the outermost rows nearly blank.
    images = x.reshape(-1, 28, 28)
    assert images[:, [0, -1], :].mean() < 1e-3 < 0.1 < images[:, 10:18, 10:18].mean()


def test_mnist_split_is_complete_and_balanced_for_other_sizes() -> None:
    data = mnist(test_size=0.3, seed=5)
    assert data.x_train.shape == (3500, 784) and data.x_test.shape == (1500, 784)
    assert np.bincount(data.t_test).tolist() == [150] * 10

    def sorted_rows(d: Dataset) -> np.ndarray:
        pixels = np.round(np.vstack([d.x_train, d.x_test]) * 255)
        labels = np.concatenate([d.t_train, d.t_test])
        rows = np.column_stack([pixels, labels])
        return rows[np.lexsort(rows.T[::-1])]

    # Both parts together are the same 5,000 images whatever the split.
    assert np.array_equal(sorted_rows(data), sorted_rows(mnist()))


def test_mnist_seed_and_dtype() -> None:
    a, b, c = mnist(seed=1), mnist(seed=1), mnist(seed=2)
    for name in ("x_train", "t_train", "x_test", "t_test"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.t_train, c.t_train)
    assert not np.array_equal(a.x_test, c.x_test)
    small = mnist(dtype=np.float32)
    assert small.x_train.dtype == small.x_test.dtype == np.float32
    assert small.x_train.max() == np.float32(1.0)
    np.testing.assert_allclose(small.x_train, mnist().x_train, rtol=1e-7)


def test_mnist_calls_do_not_share_writable_arrays() -> None:
    first = mnist()
    first.x_train[:] = -1.0  # a caller scribbling on its arrays must not change the next call
    assert mnist().x_train.min() == 0.0


def test_mnist_needs_no_network(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise OSError("network access is blocked in this test")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    from course_lib import data as data_module

    data_module._load_mnist.cache_clear()  # read the file again, now without a network
    data = mnist(seed=3)
    assert data.x_train.shape == (4000, 784)


def test_moons() -> None:
    data = moons(n=200, noise=0.0, seed=4)
    assert data.x_train.shape == (150, 2) and data.x_test.shape == (50, 2)
    assert np.bincount(data.t_train).tolist() == [75, 75]
    x = np.vstack([data.x_train, data.x_test])
    t = np.concatenate([data.t_train, data.t_test])
    # Without noise, class 0 is the unit upper half circle around (0, 0).
    np.testing.assert_allclose(np.hypot(*x[t == 0].T), 1.0, rtol=1e-12)
    assert np.array_equal(moons(seed=4).x_train, moons(seed=4).x_train)


def test_spirals_geometry() -> None:
    data = spirals(n_per_class=50, n_classes=4, noise=0.0, seed=0)
    x = np.vstack([data.x_train, data.x_test])
    t = np.concatenate([data.t_train, data.t_test])
    assert x.shape == (200, 2) and np.bincount(t).tolist() == [50] * 4
    radii = np.sort(np.hypot(*x[t == 2].T))
    np.testing.assert_allclose(radii, np.linspace(0, 1, 50), atol=1e-12)
    noisy_a, noisy_b = spirals(seed=5), spirals(seed=5)
    assert np.array_equal(noisy_a.x_train, noisy_b.x_train)
    assert not np.array_equal(noisy_a.x_train, spirals(seed=6).x_train)


@pytest.mark.parametrize(("call", "pattern"), [
    (lambda: digits(test_size=0.0), r"test_size must be a fraction strictly between 0 and 1, "
                                    r"got 0.0"),
    (lambda: digits(test_size=1), "test_size must be a fraction.*got 1"),
    (lambda: mnist(test_size=1.5), r"test_size must be a fraction strictly between 0 and 1, "
                                   r"got 1.5"),
    (lambda: mnist(test_size=200), "test_size must be a fraction.*got 200"),
    (lambda: moons(n=2), "n must be a whole number >= 4, got 2"),
    (lambda: moons(noise=-1.0), "noise must be a finite number >= 0, got -1.0"),
    (lambda: spirals(n_classes=1), "n_classes must be a whole number >= 2, got 1"),
    (lambda: linear_regression(n=0), "n must be a whole number >= 1, got 0"),
    (lambda: Dataset(np.zeros((3, 2)), np.zeros(4)), "x_train has 3 rows but t_train has 4"),
    (lambda: Dataset(np.zeros((3, 2)), np.zeros(3), np.zeros((1, 2))),
     "x_test and t_test must both be given"),
])
def test_bad_data_arguments(call, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        call()


# ----- minibatches ----------------------------------------------------------------------
def test_shuffle_visits_every_row_once_per_epoch() -> None:
    stream = batch_indices(10, 4, seed=0)
    epochs = [list(itertools.islice(stream, 3)) for _ in range(3)]
    for batches in epochs:
        assert [len(b) for b in batches] == [4, 4, 2]  # the short batch ends the epoch
        assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    orders = [np.concatenate(b).tolist() for b in epochs]
    assert orders[0] != orders[1] and orders[1] != orders[2]


def test_sampling_with_replacement() -> None:
    batches = list(itertools.islice(batch_indices(10, 10, seed=0, sampling="replace"), 20))
    assert all(len(b) == 10 and b.min() >= 0 and b.max() < 10 for b in batches)
    # Shuffling would give each row once per batch; with replacement rows repeat.
    assert any(len(np.unique(b)) < 10 for b in batches)


def test_batches_are_seeded() -> None:
    def first(seed, sampling):
        return np.concatenate(list(itertools.islice(batch_indices(50, 8, seed, sampling), 10)))

    for sampling in ("shuffle", "replace"):
        assert np.array_equal(first(1, sampling), first(1, sampling))
        assert not np.array_equal(first(1, sampling), first(2, sampling))


def test_minibatches_keep_inputs_and_targets_aligned() -> None:
    t = np.arange(12)
    x = np.column_stack([t, 10 * t])
    for xb, tb in itertools.islice(minibatches(x, t, batch_size=5, seed=3), 6):
        assert np.array_equal(xb[:, 0], tb) and np.array_equal(xb[:, 1], 10 * tb)


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"n": 10, "batch_size": 0}, r"batch_size must be a whole number in \[1, 10\].*got 0"),
    ({"n": 10, "batch_size": 11}, r"batch_size must be a whole number in \[1, 10\].*got 11"),
    ({"n": 10, "batch_size": 2.5}, "got 2.5"),
    ({"n": 10, "batch_size": True}, "got True"),
    ({"n": 10, "batch_size": 2, "sampling": "bootstrap"},
     r"unknown sampling 'bootstrap'; choose one of \['shuffle', 'replace'\]"),
    ({"n": 0, "batch_size": 1}, "n must be a whole number >= 1, got 0"),
])
def test_bad_batch_arguments(kwargs, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        next(batch_indices(**kwargs))
