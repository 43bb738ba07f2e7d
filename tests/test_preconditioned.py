"""Full-matrix AdaGrad: its math, its rotation invariance, its 1-D identity with AdaGrad."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_lib import AdaGrad
from course_lib.preconditioned import FullMatrixAdaGrad


def rotation(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def run_quadratic(opt, H, start, steps):
    """Points of opt on f = 1/2 p^T H p from start."""
    params = {"p": np.array(start, dtype=float)}
    points = [params["p"].copy()]
    for _ in range(steps):
        opt.update(params, {"p": H @ params["p"]})
        points.append(params["p"].copy())
    return np.array(points)


def test_first_step_is_lr_along_the_gradient():
    params = {"w": np.array([1.0, 1.0])}
    FullMatrixAdaGrad(lr=0.5, eps=0.0).update(params, {"w": np.array([3.0, 4.0])})
    np.testing.assert_allclose(params["w"], [0.7, 0.6], rtol=1e-12)


def test_matches_the_formula_with_an_explicit_matrix_root():
    rng = np.random.default_rng(0)
    opt, p = FullMatrixAdaGrad(lr=0.1, eps=1e-3), rng.standard_normal(3)
    params, G = {"w": p.copy()}, np.zeros((3, 3))
    for _ in range(5):
        g = rng.standard_normal(3)
        G += np.outer(g, g)
        w, U = np.linalg.eigh(G)
        root = U @ np.diag(np.sqrt(np.clip(w, 0, None))) @ U.T
        p = p - 0.1 * np.linalg.solve(1e-3 * np.eye(3) + root, g)
        opt.update(params, {"w": g})
    np.testing.assert_allclose(params["w"], p, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(opt.state["w"]["G"], G, rtol=1e-12)
    assert opt.state["w"]["t"] == 5


@pytest.mark.parametrize("angle", [0.3, math.pi / 4, 1.2])
def test_rotation_invariance(angle):
    """Rotating the problem and the start rotates the whole path: p'_t = Q p_t."""
    H, start, Q = np.diag([1.0, 100.0]), np.array([-4.0, 3.0]), rotation(angle)
    along = run_quadratic(FullMatrixAdaGrad(lr=1.0), H, start, 200)
    turned = run_quadratic(FullMatrixAdaGrad(lr=1.0), Q @ H @ Q.T, Q @ start, 200)
    np.testing.assert_allclose(turned, along @ Q.T, rtol=0, atol=1e-9)


def test_diagonal_adagrad_is_not_rotation_invariant():
    H, start, Q = np.diag([1.0, 100.0]), np.array([-4.0, 3.0]), rotation(math.pi / 4)
    along = run_quadratic(AdaGrad(lr=1.0), H, start, 200)
    turned = run_quadratic(AdaGrad(lr=1.0), Q @ H @ Q.T, Q @ start, 200)
    assert np.abs(turned - along @ Q.T).max() > 1e-3


def test_one_dimension_is_adagrad():
    """In 1-D, G = s and (eps + sqrt(s))^{-1} g is AdaGrad's step, eps outside the root."""
    rng = np.random.default_rng(1)
    full, diag = FullMatrixAdaGrad(lr=0.3, eps=1e-2), AdaGrad(lr=0.3, eps=1e-2)
    a, b = {"p": np.array([2.0])}, {"p": np.array([2.0])}
    for _ in range(50):
        noise = rng.standard_normal()
        full.update(a, {"p": 3.0 * a["p"] + noise})
        diag.update(b, {"p": 3.0 * b["p"] + noise})
        np.testing.assert_allclose(a["p"], b["p"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(full.state["p"]["G"], diag.state["p"]["s"][:, None], rtol=1e-12)


def test_zero_gradient_does_not_move_and_matrices_keep_their_shape():
    params = {"w": np.ones((2, 2))}
    opt = FullMatrixAdaGrad(lr=0.1)
    opt.update(params, {"w": np.zeros((2, 2))})
    assert np.array_equal(params["w"], np.ones((2, 2)))
    opt.update(params, {"w": np.eye(2)})
    assert opt.state["w"]["G"].shape == (4, 4)
    assert params["w"].shape == (2, 2)


def test_none_gradient_skips_the_parameter():
    params = {"a": np.ones(2), "b": np.ones(2)}
    opt = FullMatrixAdaGrad(lr=0.1)
    opt.update(params, {"a": np.ones(2), "b": None})
    assert "b" not in opt.state and np.array_equal(params["b"], np.ones(2))


@pytest.mark.parametrize("name", ["lr", "eps"])
@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_bad_hyperparameters_name_the_parameter(name, bad):
    with pytest.raises(ValueError, match=name):
        FullMatrixAdaGrad(**{name: bad})


def test_bad_input_changes_nothing():
    params = {"w": np.ones(2)}
    opt = FullMatrixAdaGrad(lr=0.1)
    with pytest.raises(ValueError, match="shape"):
        opt.update(params, {"w": np.ones(3)})
    assert opt.state == {} and opt.t == 0 and np.array_equal(params["w"], np.ones(2))
    opt.update(params, {"w": np.ones(2)})
    with pytest.raises(ValueError, match="entries"):
        opt.update({"w": np.ones(3)}, {"w": np.ones(3)})
    assert opt.t == 1


def test_state_dict_round_trip_is_refused():
    with pytest.raises(NotImplementedError):
        FullMatrixAdaGrad().load_state_dict({})
