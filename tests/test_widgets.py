"""course_lib.widgets without a browser: building, callbacks, bad input, the race player.

Expected paths come from closed forms (GD on a diagonal quadratic scales each coordinate by
1 - lr * lambda per step), stability bounds from the spectral radius of the iteration matrix:
neither uses the code under test.
"""

import base64
import inspect
import io
import math
import re
import warnings
from dataclasses import replace

import numpy as np
import PIL.Image
import pytest

from course_lib import noisy, quadratic
from course_lib.optimizers import OPTIMIZERS
from course_lib.problems import PROBLEMS, get_problem
from course_lib.widgets import (
    DEFAULT_LR,
    _legend,
    _title,
    explore,
    race,
    slider_range,
    stability_bound,
)


def gd_on_ellipse(lr: float, steps: int, start=(-7.0, 2.0)) -> np.ndarray:
    """Closed form of GD on x^2/20 + y^2: x_k = x_0 (1 - lr/10)^k, y_k = y_0 (1 - 2 lr)^k."""
    k = np.arange(steps + 1)
    return np.column_stack([start[0] * (1 - lr / 10) ** k, start[1] * (1 - 2 * lr) ** k])


def drawn_path(panel) -> np.ndarray:
    return np.column_stack(panel.path_line.get_data())


def constructor_names(cls) -> list[str]:
    return [n for n in inspect.signature(cls).parameters]


def png_size(data: bytes) -> tuple[int, int]:
    return PIL.Image.open(io.BytesIO(data)).size


# ----- explore: building ------------------------------------------------------------------------

def test_default_panel_is_sgd_on_the_ellipse_just_under_its_bound():
    panel = explore()
    assert panel.problem_menu.value == "ellipse" and panel.optimizer_menu.value == "sgd"
    assert panel.controls["lr"].value == pytest.approx(0.95)
    np.testing.assert_allclose(drawn_path(panel), gd_on_ellipse(0.95, 30), atol=1e-12)
    text = repr(panel)
    assert "final loss" in text and "converging" in text and "inside" in text
    assert png_size(panel.image.value) == (768, 312)  # 9.6 x 3.9 inches at 80 dpi


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_control_for_every_hyperparameter_within_its_allowed_range(name):
    cls = OPTIMIZERS[name]
    panel = explore(optimizer=name)
    shown = [c.description for c in panel.hyper_box.children]
    assert shown == constructor_names(cls)
    for control in panel.hyper_box.children:
        if hasattr(control, "base"):  # log slider: min/max are exponents
            ends = [control.base ** control.min, control.base ** control.max]
        elif hasattr(control, "min"):
            ends = [control.min, control.max]
        else:
            ends = [True, False]
        for end in ends:  # the class itself must accept both ends of every slider
            cls(**{control.description: end})
    assert panel.controls["lr"].value == pytest.approx(DEFAULT_LR[name])


def test_lr_is_a_log_slider_and_flags_are_checkboxes():
    panel = explore(optimizer="adam")
    assert type(panel.controls["lr"]).__name__ == "FloatLogSlider"
    assert type(panel.controls["amsgrad"]).__name__ == "Checkbox"
    assert slider_range(OPTIMIZERS["momentum"], "nesterov").kind == "flag"


def test_explore_takes_hyperparameters_steps_and_start():
    panel = explore("ellipse", "momentum", lr=0.05, momentum=0.5, steps=12, start=(3.0, -1.0))
    assert panel.hyperparameters() == {"lr": 0.05, "momentum": 0.5, "nesterov": False,
                                       "weight_decay": 0.0}
    assert panel.run.steps == 12
    np.testing.assert_allclose(panel.run.points[0], [3.0, -1.0])


# ----- explore: callbacks -----------------------------------------------------------------------

def test_moving_the_lr_slider_redraws_path_loss_image_and_readout():
    panel = explore()
    before_image, before_text = panel.image.value, panel.readout.value
    panel.controls["lr"].value = 0.5
    np.testing.assert_allclose(drawn_path(panel), gd_on_ellipse(0.5, 30), atol=1e-12)
    expected_loss = gd_on_ellipse(0.5, 30)[:, 0] ** 2 / 20  # y is 0 after one step at lr 0.5
    np.testing.assert_allclose(panel.loss_line.get_data()[1][1:], expected_loss[1:], rtol=1e-12)
    assert panel.image.value != before_image
    assert panel.readout.value != before_text and "lr = 0.5" in panel.readout.value


def test_steps_and_start_sliders_rerun_from_the_new_settings():
    panel = explore(lr=0.3)
    panel.controls["steps"].value = 7
    panel.controls["x0"].value = 4.0
    np.testing.assert_allclose(drawn_path(panel), gd_on_ellipse(0.3, 7, (4.0, 2.0)), atol=1e-12)


def test_the_step_axis_holds_the_run_and_only_jumps_at_round_ends():
    panel = explore()
    ends = set()
    for steps in range(1, 501):
        panel.controls["steps"].value = steps
        low, high = panel.ax_loss.get_xlim()
        assert low == 0 and steps <= high < 2 * steps  # the run fills over half of the axis
        ends.add(high)
    assert sorted(ends) == [1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500]
    np.testing.assert_array_equal(panel.loss_line.get_data()[0], np.arange(501))


def test_steps_slider_draws_the_axes_once_per_axis_range(monkeypatch):
    panel = explore()  # 30 steps: the axis ends at 30
    canvas, full_draws, images = panel.fig.canvas, [], set()
    draw = canvas.draw

    def counting_draw() -> None:
        full_draws.append(1)
        draw()

    monkeypatch.setattr(canvas, "draw", counting_draw)
    for steps, draws_so_far in [(25, 0), (21, 0), (40, 1), (50, 1), (22, 1), (31, 1), (60, 2)]:
        panel.controls["steps"].value = steps
        assert len(full_draws) == draws_so_far, steps
        images.add(panel.image.value)
    assert len(images) == 7  # every move still changes the picture


def test_a_picture_from_cached_axes_equals_a_fresh_full_draw():
    panel = explore(lr=0.3)  # 30 steps
    for steps in (45, 12, 40):  # back into the 50-step range, cached when steps was 45
        panel.controls["steps"].value = steps
    fresh = explore(lr=0.3, steps=40)
    moved = np.asarray(PIL.Image.open(io.BytesIO(panel.image.value)))
    drawn = np.asarray(PIL.Image.open(io.BytesIO(fresh.image.value)))
    np.testing.assert_array_equal(moved, drawn)


def test_short_runs_get_whole_step_ticks():
    panel = explore(steps=2)
    panel.fig.canvas.draw()
    ticks = panel.ax_loss.get_xticks()
    np.testing.assert_array_equal(ticks[(ticks >= 0) & (ticks <= 2)], [0, 1, 2])


def test_switching_optimizer_rebuilds_the_controls():
    panel = explore()
    panel.optimizer_menu.value = "adam"
    assert [c.description for c in panel.hyper_box.children] == constructor_names(
        OPTIMIZERS["adam"])
    assert panel.controls["lr"].value == pytest.approx(0.3)
    assert panel.run.optimizer == "Adam" and "no simple lr bound" in panel.readout.value
    panel.controls["beta1"].value = 0.5  # the new controls are wired
    assert panel.opt.beta1 == 0.5


def test_switching_problem_resets_start_and_steps_and_keeps_the_optimizer():
    panel = explore(optimizer="adam")
    panel.problem_menu.value = "banana"
    assert (panel.x0.value, panel.y0.value) == pytest.approx((-1.21, 0.853))
    assert (panel.x0.min, panel.x0.max) == (-1.5, 1.5)
    assert panel.steps.value == 150 and panel.run.steps == 150
    assert panel.run.problem == "banana" and panel.run.optimizer == "Adam"
    assert "curvature changes" in panel.readout.value


def test_a_problem_object_joins_the_menu_and_noise_is_reproducible():
    panel = explore(noisy("ellipse", 0.5, seed=3), lr=0.2)
    first = drawn_path(panel).copy()
    assert panel.problem_menu.value == "ellipse + noise(0.5)"
    panel.controls["lr"].value = 0.3
    panel.controls["lr"].value = 0.2
    np.testing.assert_array_equal(drawn_path(panel), first)


def test_a_quadratic_whose_formula_mathtext_cannot_parse_still_gets_a_panel():
    bowl = quadratic((1.0, 10.0), angle=np.pi / 6)
    panel = explore(bowl, lr=0.18)
    assert panel.problem_menu.value == "quadratic (kappa=10)"
    assert panel.ax_path.get_title().startswith("quadratic (kappa=10): $f(z) = \\frac{1}{2}")
    assert "lr < 0.2;" in panel.readout.value  # 2 / lambda_max with lambda_max = 10
    assert _title(replace(bowl, latex=r"\nosuchcommand x")) == "quadratic (kappa=10)"


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_every_named_problem_gets_its_formula_in_the_title(name):
    assert "$" in _title(get_problem(name))


def test_a_diverging_run_is_drawn_up_to_the_divergence_and_labelled_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        panel = explore(lr=1.5, steps=100)
    run = panel.run
    assert run.diverged
    # |y| grows by |1 - 2 lr| = 2 per step; minimize stops once |y| > 1e6 * (1 + 7).
    first_out = math.ceil(math.log(8e6 / 2) / math.log(2))
    assert run.diverged_at == first_out
    assert len(drawn_path(panel)) == first_out  # the start plus every finite step before it
    assert panel.note.get_text() == f"diverged at step {first_out}"
    assert "DIVERGED" in panel.readout.value and "OUTSIDE" in panel.readout.value
    assert panel.image.value  # a picture, not a blank


def test_growing_but_not_yet_exploded_is_called_not_converging():
    panel = explore(lr=1.05, steps=30)  # |1 - 2 lr| = 1.1: grows, far from the explosion limit
    assert not panel.run.diverged
    assert "not converging" in panel.readout.value and "OUTSIDE" in panel.readout.value


def test_plain_text_output_is_the_readout_and_the_view_is_a_widget():
    panel = explore(lr=0.5, steps=10)
    bundle = panel._repr_mimebundle_()
    assert bundle["text/plain"] == repr(explore(lr=0.5, steps=10))
    assert bundle["text/plain"].splitlines()[1] == "converging: the loss fell from 6.45 to 0.8783"
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == panel.ui.model_id


# ----- stability bounds ---------------------------------------------------------------------------

def spectral_radius(lr: float, lam: float, m: float, nesterov: bool) -> float:
    """Largest |eigenvalue| of one heavy-ball or Nesterov step on f = lam/2 p^2, state (p, v)."""
    if nesterov:
        step = [[1 - lr * lam * (1 + m), -lr * m * m], [lam, m]]
    else:
        step = [[1 - lr * lam, -lr * m], [lam, m]]
    return max(abs(np.linalg.eigvals(np.array(step))))


@pytest.mark.parametrize("optimizer, hyper", [
    ("sgd", {}), ("sgd", {"weight_decay": 0.5}), ("momentum", {"momentum": 0.0}),
    ("momentum", {"momentum": 0.9}), ("momentum", {"momentum": 0.6, "nesterov": True})])
def test_stability_bound_is_where_the_iteration_stops_contracting(optimizer, hyper):
    prob = get_problem("ellipse")
    opt = OPTIMIZERS[optimizer](lr=0.1, **hyper)
    bound, _ = stability_bound(prob, opt)
    lam = 2.0 + hyper.get("weight_decay", 0.0)
    m = hyper.get("momentum", 0.0)
    nesterov = hyper.get("nesterov", False)
    assert spectral_radius(0.99 * bound, lam, m, nesterov) < 1.0
    assert spectral_radius(1.01 * bound, lam, m, nesterov) > 1.0


def test_no_bound_for_adaptive_methods_or_non_quadratics():
    assert stability_bound(get_problem("ellipse"), OPTIMIZERS["adam"]())[0] is None
    assert stability_bound(get_problem("banana"), OPTIMIZERS["sgd"]())[0] is None


# ----- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, words", [
    ({"problem": "elipse"}, ValueError, ["'elipse'", "ellipse", "banana"]),
    ({"optimizer": "adamm"}, ValueError, ["'adamm'", "adam", "rmsprop"]),
    ({"optimizer": "sgd", "momentum": 0.9}, TypeError, ["momentum", "'lr'", "'weight_decay'"]),
    ({"lr": -1.0}, ValueError, ["lr", "[0, inf)"]),
    ({"optimizer": "adam", "beta1": 1.0}, ValueError, ["beta1", "[0, 1)"]),
    ({"lr": 50.0}, ValueError, ["lr=50.0", "[0.0001, 10]"]),
    ({"steps": 0}, ValueError, ["steps", "[1, 500]"]),
    ({"steps": 2.5}, ValueError, ["steps", "[1, 500]"]),
    ({"start": (30.0, 0.0)}, ValueError, ["start", "[-10, 10]", "[-5, 5]"]),
    ({"start": (1.0, 2.0, 3.0)}, ValueError, ["start"]),
])
def test_bad_input_names_what_is_allowed(kwargs, error, words):
    with pytest.raises(error) as info:
        explore(**kwargs)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("kwargs, error, words", [
    ({"optimizers": "adam"}, TypeError, ["['adam']"]),
    ({"optimizers": ["sgd", "lamb"]}, ValueError, ["'lamb'", "adam"]),
    ({"optimizers": []}, ValueError, ["at least one", "adam"]),
    ({"optimizers": {"adam": {"beta2": 2.0}}}, ValueError, ["beta2", "[0, 1)"]),
    ({"optimizers": ["sgd", "sgd"]}, ValueError, ["SGD (lr=0.95) appears twice"]),
    ({"problem": "ellipse2"}, ValueError, ["ellipse2", "ravine"]),
    ({"frames": 1}, ValueError, ["frames", "[2, 120]"]),
])
def test_race_bad_input_names_what_is_allowed(kwargs, error, words):
    with pytest.raises(error) as info:
        race(**kwargs)
    for word in words:
        assert word in str(info.value)


# ----- race ---------------------------------------------------------------------------------------

def frame_pngs(html: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'"data:image/png;base64,([^"]+)"', html)]


def test_race_is_a_small_self_contained_player_of_every_optimizer():
    result = race()
    assert list(result.runs) == ["SGD (lr=0.95)", "Momentum (lr=0.1)", "AdaGrad (lr=1.5)",
                                 "Adam (lr=0.3)"]
    np.testing.assert_allclose(result.runs["SGD (lr=0.95)"].points, gd_on_ellipse(0.95, 30),
                               atol=1e-12)
    frames = frame_pngs(result.html)
    assert len(frames) == result.frames == 16
    assert all(PIL.Image.open(io.BytesIO(f)).mode == "P" for f in frames)  # palette frames
    assert len(result.html) < 400_000
    # Readable at notebook width: 640 x 400 pixels per frame, not a thumbnail.
    assert PIL.Image.open(io.BytesIO(frames[0])).size == (640, 400)
    assert "<script" in result.html and "http" not in result.html  # no outside requests
    assert re.findall(r'<button title="Play"[^>]*>\s*▶</button>', result.html)  # not font icons
    assert result._repr_html_() == result.html
    assert repr(result).startswith("Race on ellipse: SGD (lr=0.95), Momentum (lr=0.1)")


def test_race_labels_show_every_non_default_setting():
    from course_lib import Adam, Momentum

    result = race(optimizers=[Adam(lr=0.3), Adam(lr=0.3, beta1=0.5, amsgrad=True),
                              Momentum(lr=0.1, nesterov=True)], frames=2)
    assert list(result.runs) == ["Adam (lr=0.3)", "Adam (lr=0.3, beta1=0.5, amsgrad=True)",
                                 "Momentum (lr=0.1, nesterov=True)"]


def test_race_frames_keep_every_optimizers_exact_colour_from_the_first_frame():
    from matplotlib.colors import to_rgb

    from course_lib.plotting import COLORS

    first = PIL.Image.open(io.BytesIO(frame_pngs(race().html)[0]))
    palette = np.array(first.getpalette()[: 3 * 256]).reshape(-1, 3)
    for name in ("SGD", "Momentum", "AdaGrad", "Adam"):  # in the legend from frame 0 on
        want = np.array(to_rgb(COLORS[name])) * 255
        assert np.abs(palette - want).max(axis=1).min() <= 3, name


def test_race_frames_differ_as_the_paths_grow():
    frames = frame_pngs(race(optimizers=["sgd"], frames=3).html)
    pixels = [np.asarray(PIL.Image.open(io.BytesIO(f)).convert("RGB"), dtype=int) for f in frames]
    assert np.abs(pixels[0] - pixels[2]).sum() > 0


def test_race_labels_a_diverging_run_and_keeps_its_finite_path():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = race(optimizers={"sgd": {"lr": 1.5}, "adam": {}}, steps=60, frames=4)
    run = result.runs["SGD (lr=1.5)"]
    assert run.diverged and np.all(np.isfinite(run.points))
    assert _legend("SGD (lr=1.5)", run) == f"SGD (lr=1.5), diverged at step {run.diverged_at}"
    assert _legend("Adam (lr=0.3)", result.runs["Adam (lr=0.3)"]) == "Adam (lr=0.3)"


class HandWrittenMomentum:
    """An optimizer of your own in Deep Learning from Scratch's form."""

    def __init__(self, lr: float = 0.1, momentum: float = 0.9) -> None:
        self.lr, self.momentum, self.v = lr, momentum, {}

    def update(self, params, grads) -> None:
        for key in params:
            self.v[key] = self.momentum * self.v.get(key, 0.0) - self.lr * grads[key]
            params[key] += self.v[key]


def test_race_takes_an_optimizer_of_your_own():
    result = race(optimizers=[HandWrittenMomentum(), "momentum"], steps=10, frames=2)
    assert list(result.runs) == ["HandWrittenMomentum (lr=0.1)", "Momentum (lr=0.1)"]
    mine, ours = result.runs.values()
    np.testing.assert_allclose(mine.points, ours.points, rtol=1e-12, atol=1e-12)
    with pytest.raises(TypeError, match="update"):
        race(optimizers=[object()], steps=5, frames=2)


@pytest.mark.parametrize("lr", [0.95, 1.85, 0.3, 1e-4, 10.0, 0.0123])
def test_the_lr_slider_grid_passes_through_the_value_asked_for(lr):
    """The browser snaps a log slider to min + k * step: the grid must contain lr itself."""
    from course_lib import widgets

    rng = widgets.RANGES["lr"]
    start = widgets.log_grid_start(rng, lr)
    assert math.log10(rng.low) - 1e-12 <= start < math.log10(rng.low) + rng.step
    k = round((math.log10(lr) - start) / rng.step)
    assert 10 ** (start + k * rng.step) == pytest.approx(lr, rel=1e-12)
