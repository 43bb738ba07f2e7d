"""The 2-D test problems: gradients against finite differences, minima, grids, noise, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_lib.problems import PROBLEMS, Problem, get_problem, noisy, quadratic

ROTATED = [quadratic((1.0, 10.0), angle=0.6), quadratic((0.5, 50.0), angle=-2.0),
           quadratic((3.0, 3.0), angle=1.0), quadratic((2.0, 0.2), angle=math.pi / 3)]
ALL = [get_problem(n) for n in sorted(PROBLEMS)] + ROTATED
IDS = [p.name for p in ALL]


def points(prob: Problem, n: int = 6) -> np.ndarray:
    """The start and n seeded random points inside the plotting bounds."""
    rng = np.random.default_rng(len(prob.name))
    inside = np.column_stack([rng.uniform(*prob.xlim, n), rng.uniform(*prob.ylim, n)])
    return np.vstack([prob.start, inside])


def central_difference(f, point: np.ndarray) -> np.ndarray:
    """The gradient of a scalar function by central differences, step scaled to the point."""
    out = np.zeros(2)
    for i in range(2):
        h = 1e-5 * (1.0 + abs(point[i]))
        e = np.zeros(2)
        e[i] = h
        out[i] = (f(point + e) - f(point - e)) / (2 * h)
    return out


def hessian(prob: Problem, point) -> np.ndarray:
    """The Hessian by central differences of the analytic gradient."""
    point = np.asarray(point, dtype=float)
    h, cols = 1e-4, []
    for i in range(2):
        e = np.zeros(2)
        e[i] = h
        cols.append((prob.gradient(point + e) - prob.gradient(point - e)) / (2 * h))
    H = np.column_stack(cols)
    return (H + H.T) / 2


@pytest.mark.parametrize("prob", ALL, ids=IDS)
def test_gradient_matches_finite_differences(prob):
    for point in points(prob):
        g = prob.gradient(point)
        fd = central_difference(prob.value, point)
        err = np.linalg.norm(g - fd) / max(np.linalg.norm(g), 1.0)
        assert err < 1e-6, f"{prob.name} at {point}: relative error {err:.2e}"


@pytest.mark.parametrize("prob", ALL, ids=IDS)
def test_array_form_agrees_with_one_point_form(prob):
    pts = points(prob)
    values = prob.f(pts[:, 0], pts[:, 1])
    gx, gy = prob.df(pts[:, 0], pts[:, 1])
    for k, point in enumerate(pts):
        assert values[k] == prob.value(point)
        np.testing.assert_array_equal([gx[k], gy[k]], prob.gradient(point))


@pytest.mark.parametrize(("name", "point", "value"), [
    ("ellipse", (-7.0, 2.0), 49 / 20 + 4), ("ravine", (1.0, 1.0), 2.1),
    ("rosenbrock", (0.0, 0.0), 1.0), ("banana", (0.0, 1.0), 1.0 + 20 * 9),
    ("beale", (0.0, 0.0), 1.5**2 + 2.25**2 + 2.625**2), ("saddle", (2.0, 1.0), 3.0),
    ("quadratic", (1.0, 1.0), 5.5),
])
def test_values_by_hand(name, point, value):
    assert get_problem(name).value(point) == pytest.approx(value, rel=1e-14)


@pytest.mark.parametrize("prob", [p for p in ALL if p.minimum is not None],
                         ids=[p.name for p in ALL if p.minimum is not None])
def test_the_minimum_is_a_minimum(prob):
    assert np.linalg.norm(prob.gradient(prob.minimum)) < 1e-12
    assert prob.min_value == pytest.approx(0.0, abs=1e-12)
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    for r in (1e-3, 1e-1):
        around = np.array(prob.minimum) + r * np.column_stack([np.cos(angles), np.sin(angles)])
        assert all(prob.value(p) > prob.min_value for p in around)
    assert np.all(np.linalg.eigvalsh(hessian(prob, prob.minimum)) > 0)


def test_the_saddle_is_a_saddle():
    prob = get_problem("saddle")
    assert prob.minimum is None and prob.min_value is None
    assert np.linalg.norm(prob.gradient((0.0, 0.0))) == 0.0
    low, high = np.linalg.eigvalsh(hessian(prob, (0.0, 0.0)))
    assert low == pytest.approx(-2.0) and high == pytest.approx(2.0)


@pytest.mark.parametrize("name", ["ellipse", "ravine", "quadratic"])
def test_quadratics_state_their_true_eigenvalues(name):
    prob = get_problem(name)
    measured = np.linalg.eigvalsh(hessian(prob, (0.3, -0.7)))
    np.testing.assert_allclose(measured, sorted(prob.eigenvalues), rtol=1e-6)
    assert prob.lambda_max == max(prob.eigenvalues)


@pytest.mark.parametrize("angle", [0.0, 0.4, -1.3, math.pi / 2])
def test_rotated_quadratic_has_the_requested_axes(angle):
    prob = quadratic((1.0, 25.0), angle=angle)
    values, vectors = np.linalg.eigh(hessian(prob, (1.0, 2.0)))
    np.testing.assert_allclose(values, [1.0, 25.0], rtol=1e-6)
    # The flat direction (eigenvalue 1) is the x axis turned by the angle.
    assert abs(vectors[:, 0] @ [math.cos(angle), math.sin(angle)]) == pytest.approx(1.0)
    assert "kappa=25" in prob.name


def test_non_quadratics_have_no_eigenvalues():
    for name in ("rosenbrock", "banana", "beale", "saddle"):
        assert get_problem(name).lambda_max is None


@pytest.mark.parametrize("prob", ALL, ids=IDS)
def test_start_and_minimum_lie_in_the_plot(prob):
    assert prob.xlim[0] < prob.start[0] < prob.xlim[1]
    assert prob.ylim[0] < prob.start[1] < prob.ylim[1]
    if prob.minimum is not None:
        assert prob.xlim[0] <= prob.minimum[0] <= prob.xlim[1]
        assert prob.ylim[0] <= prob.minimum[1] <= prob.ylim[1]
    assert prob.latex.startswith("f(") and prob.value(prob.start) > (prob.min_value or -np.inf)


@pytest.mark.parametrize("n", [2, 7, 50])
def test_grid_shapes_and_values(n):
    prob = get_problem("banana")
    X, Y, Z = prob.grid(n)
    assert X.shape == Y.shape == Z.shape == (n, n)
    assert (X.min(), X.max(), Y.min(), Y.max()) == (*prob.xlim, *prob.ylim)
    assert np.all(X[:, 0] == prob.xlim[0]) and np.all(Y[0, :] == prob.ylim[0])
    for i, j in [(0, 0), (n - 1, 0), (n // 2, n - 1)]:
        assert Z[i, j] == pytest.approx(prob.value((X[i, j], Y[i, j])), rel=1e-15)
    assert prob.grid()[0].shape == (200, 200)


# ----- noise -------------------------------------------------------------------------------------
def draws(prob: Problem, n: int = 5) -> np.ndarray:
    """n successive gradient draws at (1, 1)."""
    return np.array([prob.gradient((1.0, 1.0)) for _ in range(n)])


def test_noisy_is_reproducible_with_a_seed_and_differs_with_another():
    np.testing.assert_array_equal(draws(noisy("ellipse", 0.5, seed=3)),
                                  draws(noisy("ellipse", 0.5, seed=3)))
    assert not np.array_equal(draws(noisy("ellipse", 0.5, seed=3)),
                              draws(noisy("ellipse", 0.5, seed=4)))


def test_noise_is_unbiased_with_the_requested_spread():
    prob = noisy("ravine", 0.3, seed=0)
    samples = draws(prob, 4000)
    true = get_problem("ravine").gradient((1.0, 1.0))
    np.testing.assert_allclose(samples.mean(axis=0), true, atol=4 * 0.3 / math.sqrt(4000))
    np.testing.assert_allclose(samples.std(axis=0), 0.3, rtol=0.05)
    assert prob.value((1.0, 1.0)) == get_problem("ravine").value((1.0, 1.0))  # values stay exact
    assert "noise" in prob.name


def test_zero_noise_is_the_exact_gradient_and_the_base_stays_clean():
    base = get_problem("beale")
    np.testing.assert_array_equal(noisy(base, 0.0).gradient((1.0, 1.0)),
                                  base.gradient((1.0, 1.0)))
    noisy(base, 1.0).gradient((1.0, 1.0))
    assert base.noise == 0.0


@pytest.mark.parametrize("sigma", [-0.1, math.nan, math.inf])
def test_bad_noise_level(sigma):
    with pytest.raises(ValueError, match="sigma"):
        noisy("ellipse", sigma)


# ----- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("point", [(1.0,), (1.0, 2.0, 3.0), 1.0, [[1.0, 2.0]]])
def test_a_point_is_two_numbers(point):
    prob = get_problem("ellipse")
    shape = np.shape(point)
    with pytest.raises(ValueError, match=rf"ellipse.*\(2,\).*{re_tuple(shape)}"):
        prob.value(point)
    with pytest.raises(ValueError, match="shape"):
        prob.gradient(point)


def re_tuple(shape: tuple) -> str:
    """A regular expression matching the printed tuple ``shape``."""
    return str(shape).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("eigenvalues", [(0.0, 1.0), (-1.0, 2.0), (1.0,), (1.0, 2.0, 3.0),
                                         (math.nan, 1.0), (math.inf, 1.0)])
def test_quadratic_needs_two_positive_finite_eigenvalues(eigenvalues):
    with pytest.raises(ValueError, match="eigenvalues"):
        quadratic(eigenvalues)


def test_unknown_problem_lists_the_known_ones():
    with pytest.raises(ValueError) as info:
        get_problem("himmelblau")
    assert "himmelblau" in str(info.value) and all(n in str(info.value) for n in PROBLEMS)


def test_a_problem_passes_through_and_names_make_fresh_ones():
    prob = quadratic((2.0, 3.0))
    assert get_problem(prob) is prob
    assert get_problem("ellipse") is not get_problem("ellipse")
