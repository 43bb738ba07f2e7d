r"""Two-dimensional test functions: the test bed every optimizer of the course runs on.

Each :class:`Problem` knows its value, its analytic gradient, a default start, its minimum,
good plotting bounds and its formula in LaTeX. Values take arrays ``x`` and ``y`` of any (equal)
shape, so one call evaluates a whole contour grid.

>>> p = get_problem("ellipse")
>>> p.value([-7.0, 2.0]), p.gradient([-7.0, 2.0]).tolist()
(6.45, [-0.7, 4.0])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

ArrayFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
GradFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Problem:
    """A 2-D function to minimise, with everything a plot or a test needs.

    ``f(x, y)`` and ``df(x, y) -> (df/dx, df/dy)`` work elementwise on arrays; ``value`` and
    ``gradient`` take one point. ``eigenvalues`` are the Hessian's (quadratics only), so that
    stability bounds such as ``lr < 2 / lambda_max`` can be stated.
    """

    name: str
    f: ArrayFn
    df: GradFn
    start: tuple[float, float]
    minimum: tuple[float, float] | None
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    latex: str
    eigenvalues: tuple[float, float] | None = None
    noise: float = 0.0
    seed: int | None = None
    _rng: np.random.Generator | None = field(default=None, repr=False, compare=False)

    def value(self, point: Sequence[float] | np.ndarray) -> float:
        """f at one point ``(x, y)``."""
        x, y = _xy(point, self.name)
        return float(self.f(x, y))

    def gradient(self, point: Sequence[float] | np.ndarray) -> np.ndarray:
        """The gradient at one point, plus seeded Gaussian noise for a :func:`noisy` problem."""
        x, y = _xy(point, self.name)
        g = np.array(self.df(x, y), dtype=float)
        if self.noise:
            g += self.noise * self._rng.standard_normal(2)
        return g

    @property
    def lambda_max(self) -> float | None:
        """The largest Hessian eigenvalue (quadratics only), else None."""
        return None if self.eigenvalues is None else max(self.eigenvalues)

    @property
    def min_value(self) -> float | None:
        """f at the known minimum, or None where there is none (the saddle)."""
        return None if self.minimum is None else self.value(self.minimum)

    def grid(self, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``X, Y, Z`` on an ``n`` x ``n`` grid over the plotting bounds, for contour plots."""
        X, Y = np.meshgrid(np.linspace(*self.xlim, n), np.linspace(*self.ylim, n))
        return X, Y, self.f(X, Y)


def _xy(point, name: str) -> tuple[float, float]:
    arr = np.asarray(point, dtype=float)
    if arr.shape != (2,):
        raise ValueError(f"{name}: a point is (x, y), shape (2,); got shape {arr.shape}")
    return arr[0], arr[1]


def quadratic(eigenvalues: tuple[float, float] = (1.0, 10.0), angle: float = 0.0,
              start: tuple[float, float] = (-4.0, 3.0), name: str | None = None) -> Problem:
    r"""f(z) = 1/2 z^T A z with A's eigenvalues chosen, its axes rotated by ``angle`` radians.

    The condition number kappa = lambda_max / lambda_min is the knob that makes GD zig-zag.
    """
    lam = tuple(float(v) for v in eigenvalues)
    if len(lam) != 2 or min(lam) <= 0 or not all(map(math.isfinite, lam)):
        raise ValueError(f"quadratic: eigenvalues must be two positive numbers, got {eigenvalues}")
    c, s = math.cos(angle), math.sin(angle)
    a = lam[0] * c * c + lam[1] * s * s  # A = R diag(lam) R^T
    b = (lam[0] - lam[1]) * c * s
    d = lam[0] * s * s + lam[1] * c * c
    kappa = max(lam) / min(lam)
    return Problem(
        name=name or f"quadratic (kappa={kappa:g})",
        f=lambda x, y: 0.5 * (a * x * x + 2 * b * x * y + d * y * y),
        df=lambda x, y: (a * x + b * y, b * x + d * y),
        start=start, minimum=(0.0, 0.0), xlim=(-5.0, 5.0), ylim=(-5.0, 5.0),
        latex=(rf"f(z) = \frac{{1}}{{2}} z^\top A z,\ \lambda(A) = ({lam[0]:g}, {lam[1]:g})"),
        eigenvalues=lam)


def _rosenbrock() -> Problem:
    return Problem(
        name="rosenbrock", f=lambda x, y: (1 - x) ** 2 + 100 * (y - x * x) ** 2,
        df=lambda x, y: (-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)),
        start=(-1.2, 1.0), minimum=(1.0, 1.0), xlim=(-2.0, 2.0), ylim=(-1.0, 3.0),
        latex=r"f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2")


def _banana() -> Problem:
    return Problem(
        name="banana", f=lambda x, y: (1 - x) ** 2 + 20 * (3 * y - x * x) ** 2,
        df=lambda x, y: (-2 * (1 - x) - 80 * x * (3 * y - x * x), 120 * (3 * y - x * x)),
        start=(-1.21, 0.853), minimum=(1.0, 1.0 / 3.0), xlim=(-1.5, 1.5), ylim=(-0.5, 1.2),
        latex=r"f(x, y) = (1 - x)^2 + 20\,(3y - x^2)^2")


def _beale() -> Problem:
    def terms(x, y):
        return 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3

    def f(x, y):
        a, b, c = terms(x, y)
        return a**2 + b**2 + c**2

    def df(x, y):
        a, b, c = terms(x, y)
        return (2 * a * (y - 1) + 2 * b * (y**2 - 1) + 2 * c * (y**3 - 1),
                2 * a * x + 4 * b * x * y + 6 * c * x * y**2)

    return Problem(
        name="beale", f=f, df=df, start=(1.0, 1.5), minimum=(3.0, 0.5),
        xlim=(-4.5, 4.5), ylim=(-4.5, 4.5),
        latex=(r"f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2"))


PROBLEMS: dict[str, Callable[[], Problem]] = {
    # Seed 002 / Deep Learning from Scratch: 20x flatter along x than along y.
    "ellipse": lambda: Problem(
        name="ellipse", f=lambda x, y: x * x / 20 + y * y, df=lambda x, y: (x / 10, 2 * y),
        start=(-7.0, 2.0), minimum=(0.0, 0.0), xlim=(-10.0, 10.0), ylim=(-5.0, 5.0),
        latex=r"f(x, y) = \frac{x^2}{20} + y^2", eigenvalues=(0.1, 2.0)),
    # d2l's optimisation chapter.
    "ravine": lambda: Problem(
        name="ravine", f=lambda x, y: 0.1 * x * x + 2 * y * y, df=lambda x, y: (0.2 * x, 4 * y),
        start=(-5.0, -2.0), minimum=(0.0, 0.0), xlim=(-5.5, 2.0), ylim=(-3.0, 3.0),
        latex=r"f(x_1, x_2) = 0.1\,x_1^2 + 2\,x_2^2", eigenvalues=(0.2, 4.0)),
    "quadratic": quadratic,
    "rosenbrock": _rosenbrock,
    # Distill's "Why Momentum Really Works".
    "banana": _banana,
    "beale": _beale,
    "saddle": lambda: Problem(
        name="saddle", f=lambda x, y: x * x - y * y, df=lambda x, y: (2 * x, -2 * y),
        start=(-1.5, 1e-3), minimum=None, xlim=(-2.0, 2.0), ylim=(-2.0, 2.0),
        latex=r"f(x, y) = x^2 - y^2", eigenvalues=None),
}


def get_problem(name: str | Problem) -> Problem:
    """A fresh problem by name (see :data:`PROBLEMS`); a :class:`Problem` passes through."""
    if isinstance(name, Problem):
        return name
    if name not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r}; choose one of {sorted(PROBLEMS)}")
    return PROBLEMS[name]()


def noisy(problem: str | Problem, sigma: float, seed: int = 0) -> Problem:
    """The same function with gradients plus N(0, sigma^2) noise: a stochastic gradient.

    The noise generator is seeded, so a run is reproducible; each call gives a fresh stream.
    """
    base = get_problem(problem)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"noisy: sigma={sigma!r} must be a finite number >= 0")
    return replace(base, name=f"{base.name} + noise({sigma:g})", noise=float(sigma), seed=seed,
                   _rng=np.random.default_rng(seed))
