"""course_lib.checks: the comparison, the verdicts, and the names of known mistakes."""

from __future__ import annotations

import itertools
import linecache
import re
import warnings

import numpy as np
import pytest

from course_lib import checks
from course_lib.grading import items, mistakes, worksheets
from tests import corpus

OPTIMIZERS = sorted(items.OPTIMIZER_ITEMS)
MISTAKES = corpus.mistake_cases()


def load(case: corpus.Case):
    """The class or function a corpus snippet defines."""
    ns: dict = {}
    name = f"<{case.name}>"
    linecache.cache[name] = (len(case.source), None, case.source.splitlines(True), name)
    exec(compile(case.source, name, "exec"), ns)
    return ns[items.ITEMS[case.item].symbol]


def quiet_check(key, answer, rng=None) -> checks.Verdict:
    """check_item without the RuntimeWarnings that wrong answers (NaN, 1/0) raise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return checks.check_item(key, answer, rng)


# ----- comparing numbers -------------------------------------------------------------------------
def test_rel_error_known_values():
    assert checks.rel_error([1.0, -2.0], [1.0, -2.0]) == 0.0
    assert checks.rel_error([1.0, 2.0], [1.0, 2.2]) == pytest.approx(0.2 / 4.2)
    # Below 1e-8 in size the denominator is floored, so round-off near zero does not count.
    assert checks.rel_error([0.0], [1e-17]) == pytest.approx(1e-9)
    assert checks.rel_error([], []) == 0.0


def test_same_checks_shape_nan_and_inf():
    assert checks.same([1.0, np.nan, np.inf], [1.0, np.nan, np.inf])
    assert not checks.same([1.0, np.nan], [1.0, 2.0])
    assert not checks.same([np.inf], [-np.inf])
    assert not checks.same(np.zeros(4), np.zeros((2, 2)))
    assert not checks.same(None, np.zeros(2))
    assert not checks.same([1.0], [1.0 + 1e-6])
    assert checks.same([1.0], [1.0 + 1e-12])


def test_fmt_shows_a_few_numbers_and_the_shape():
    assert checks.fmt(np.arange(20.0).reshape(4, 5)) == "[0, 1, 2, 3, ...] (shape 4x5)"
    assert checks.fmt(np.float64(0.5)) == "0.5"


def test_compare_points_at_a_difference_the_first_numbers_hide():
    want = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [-4.0, 1.0, 1.0, 1.0, 1.0]])
    got = want * np.array([[1.0] * 5, [-1.0] + [1.0] * 4])
    assert checks.compare(want, got).splitlines() == [
        "expected [1, 2, 3, 4, ...] (shape 2x5), got [1, 2, 3, 4, ...] (shape 2x5)",
        "  first difference at index [1, 0]: expected -4, got 4"]
    # Numbers that look alike to 6 digits get the digits that tell them apart.
    assert checks.compare(0.1, 0.1001).startswith("expected 0.1, got 0.1001")
    assert checks.compare(0.1, 0.1000001).startswith("expected 0.1, got 0.1000001")
    assert "index" not in checks.compare([1.0, 2.0], [1.0, 3.0])  # visible already


def test_compare_names_shapes_in_words():
    assert checks.compare(1.0, [20.0, 1.0]) == (
        "expected 1 (a single number), got [20, 1] (an array of shape 2)")
    assert checks.compare(np.zeros((2, 5)), np.zeros((5, 2))).endswith(
        "(an array of shape 5x2)")
    assert checks.compare([1.0], None) == "expected [1], got a non-number"


def test_float32_rounding_gets_a_hint_and_formula_slips_do_not():
    step = 0.1 * np.linspace(0.5, 1.5, 5)
    want = (1.0 + step) - 1.0
    rounded = ((np.float32(1.0) + step.astype(np.float32)) - np.float32(1.0)).astype(float)
    assert "significant digits: is an array float32" in checks.compare(want, rounded)
    assert "float32" not in checks.compare(want, want * (1 + 1e-5))


def test_factor_name_spells_a_factor_in_the_hyperparameters():
    hyper = {"lr": 0.05, "beta2": 0.888}
    assert checks.factor_name(-0.05, hyper) == " = -lr"
    assert checks.factor_name(0.112, hyper) == " = (1 - beta2)"
    assert checks.factor_name(1 / 0.112, hyper) == " = 1/(1 - beta2)"
    assert checks.factor_name(0.3, hyper) == ""


def test_scale_of_finds_a_constant_factor_only():
    assert checks.scale_of([1.0, -2.0], [-0.05, 0.1]) == pytest.approx(-0.05)
    assert checks.scale_of([1.0, 2.0], [1.0, 2.0]) is None
    assert checks.scale_of([1.0, 2.0], [1.0, 3.0]) is None
    assert checks.scale_of([0.0, 0.0], [1.0, 3.0]) is None


# ----- the simulated rules behind the diagnoses --------------------------------------------------
@pytest.mark.parametrize("key", OPTIMIZERS)
def test_simulated_correct_rule_matches_the_reference(key):
    """mistakes.py's plain rules (flaw=None) reproduce course_lib's in-place optimizers."""
    item = items.OPTIMIZER_ITEMS[key]
    rng = np.random.default_rng(1)
    for run in items.fixed_runs(item) + items.random_runs(item, rng):
        ref = checks.reference_record(item, run)["steps"]
        path = mistakes.simulate(key, run.hyper, run.params, run.grads)
        assert len(path) == len(ref) == len(run.grads)
        for want, got in zip(ref, path, strict=True):
            for k in run.params:
                assert checks.rel_error(want["params"][k], got[k]) < 1e-12


@pytest.mark.parametrize("key", OPTIMIZERS)
@pytest.mark.parametrize("seed", [None, 0, 1, 2])
def test_every_mistake_is_distinguishable(key, seed):
    """On every draw, no two simulated flaws (nor a flaw and the right rule) coincide."""
    item = items.OPTIMIZER_ITEMS[key]
    runs = (items.fixed_runs(item) if seed is None
            else items.random_runs(item, np.random.default_rng(seed)))
    flaws = [None] + [m.flaw for m in mistakes.MISTAKES[key]]
    paths = {f: [mistakes.simulate(key, r.hyper, r.params, r.grads, f) for r in runs]
             for f in flaws}

    def equal(a, b):
        return all((pa is None) == (pb is None) and (pa is None or all(
            checks.same(x[k], y[k]) for x, y in zip(pa, pb, strict=True) for k in x))
            for pa, pb in zip(a, b, strict=True))

    for a, b in itertools.combinations(flaws, 2):
        assert not equal(paths[a], paths[b]), (key, a, b)


@pytest.mark.parametrize("seed", [None, 0, 1, 2])
def test_shared_counter_is_told_from_the_right_rule_and_the_other_mistakes(seed):
    """A counter carried over from earlier optimizers is named, and only then."""
    item = items.OPTIMIZER_ITEMS["adam"]
    runs = (items.fixed_runs(item) if seed is None
            else items.random_runs(item, np.random.default_rng(seed)))
    for r in runs:
        def named(path, first_t=None, r=r):
            return mistakes.shared_counter("adam", r.hyper, r.params, r.grads, lambda p: all(
                checks.same(x[k], y[k]) for x, y in zip(p, path, strict=False) for k in x),
                first_t)

        right = mistakes.simulate("adam", r.hyper, r.params, r.grads)
        assert named(right) is None
        assert mistakes.shared_counter("sgd", r.hyper, r.params, r.grads, lambda p: True) is None
        for t0 in (1, 4, 30):
            later = mistakes.simulate("adam", r.hyper, r.params, r.grads, t0=t0)
            assert named(later) is mistakes.SHARED_COUNTER
            assert named(later, first_t=t0 + 1) is mistakes.SHARED_COUNTER
            assert named(later, first_t=1) is None  # self.t says the count started afresh
            for m in mistakes.MISTAKES["adam"]:  # no listed mistake claims it first
                if t0 == 1 and m.flaw in mistakes.COUNTS_RIGHT:
                    continue  # the same numbers; self.t tells them apart (test below)
                other = mistakes.simulate("adam", r.hyper, r.params, r.grads, m.flaw)
                assert other is None or not all(checks.same(x[k], y[k]) for x, y in zip(
                    other, later, strict=True) for k in x), (t0, m.flaw)


# Mistakes several optimizers share: a corpus case for a few of the items is enough.
GENERIC = (mistakes.SIGN, mistakes.COPY, mistakes.SHARED, mistakes.RESET, mistakes.STALE,
           mistakes.NO_EPS, mistakes.SQUARED_WEIGHTED)


def test_every_named_mistake_has_a_corpus_submission():
    named = {(c.item, c.expect[c.item]) for c in MISTAKES}
    for key in OPTIMIZERS:
        for m in mistakes.MISTAKES[key]:
            if m not in GENERIC:
                assert (key, m.name) in named, (key, m.name)
    generic = {m for item, m in named if item in OPTIMIZERS}
    assert {m.name for ms in mistakes.STATE_MISTAKES.values() for m, _, _ in ms} <= generic
    for m in GENERIC:
        assert m.name in generic
    assert mistakes.HARD_CODED in generic
    assert ("adam", mistakes.SHARED_COUNTER.name) in named
    for key, variants in mistakes.FUNCTION_MISTAKES.items():
        for v in variants:
            assert (key, v.name) in named, (key, v.name)
    for m in mistakes.TRAINING_MISTAKES:
        assert ("train_losses", m.name) in named


# ----- the corpus of wrong answers ---------------------------------------------------------------
def solution_lines() -> set[str]:
    """Every line inside a solution region (to prove no message prints one)."""
    lines = set()
    for path in worksheets.solution_paths():
        for cell in worksheets.read_notebook(path)["cells"]:
            text = worksheets.source_of(cell)
            for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", text, re.S):
                lines |= {ln.strip() for ln in region.splitlines() if len(ln.strip()) > 12}
    return lines


SOLUTION_LINES = solution_lines()


@pytest.mark.parametrize("case", MISTAKES, ids=lambda c: c.name)
def test_self_check_names_the_mistake(case):
    verdict = quiet_check(case.item, load(case))
    name = case.expect[case.item]
    assert verdict.status in (checks.WRONG, checks.ERROR)
    assert verdict.mistake == name
    assert f"likely mistake: {name} (" in verdict.message
    assert not any(line in verdict.message for line in SOLUTION_LINES)


@pytest.mark.parametrize("case", MISTAKES, ids=lambda c: c.name)
def test_mistake_is_named_on_random_draws_too(case):
    """The grader's random inputs and hyperparameters lead to the same diagnosis."""
    for seed in range(3):
        verdict = quiet_check(case.item, load(case), np.random.default_rng(seed))
        assert verdict.mistake == case.expect[case.item], seed


def test_wrong_answer_message_says_step_quantity_and_numbers():
    case = next(c for c in MISTAKES if c.name == "adam_forgot_one_minus_beta1")
    message = quiet_check("adam", load(case)).message
    assert message.startswith("Adam: wrong at step 1 in run 1 of 3 (one parameter: W; "
                              "Adam(lr=0.02, beta1=0.8, beta2=0.888, eps=0.01)).")
    # m is updated first, so it is the first quantity that differs; the numbers follow.
    assert "first moment m, m['W']: expected [-0.24, " in message
    assert "got [-1.2, " in message


def test_second_moment_is_named_when_it_is_the_first_to_differ():
    case = next(c for c in MISTAKES if c.name == "adam_beta2_swapped")
    assert "second moment v, v['W']" in quiet_check("adam", load(case)).message


def test_step_count_is_named_when_counted_per_parameter():
    case = next(c for c in MISTAKES if c.name == "adam_t_per_parameter")
    message = quiet_check("adam", load(case)).message
    assert "run 2 of 3" in message  # one parameter is not enough to see it
    assert "step count t: expected 1 after 1 update(s), got 2" in message


def test_answer_is_judged_on_its_buffers_too():
    """Right parameters with the textbook velocity: wrong at step 1, by name, with the factor."""
    case = next(c for c in MISTAKES if c.name == "momentum_textbook")
    verdict = quiet_check("momentum", load(case))
    assert verdict.status == checks.WRONG
    assert verdict.message.splitlines()[1].startswith("  velocity v, v['W']: expected [-1.2, ")
    assert "(your v['W'] is -0.05 = -lr times the expected one everywhere)" in verdict.message
    assert "wrong at step 1 in run 1 of 3" in verdict.message


def test_a_parameter_that_did_not_move_is_pointed_out():
    class SGD:  # returns after the first parameter
        def __init__(self, lr):
            self.lr = lr

        def update(self, params, grads):
            for key in params:
                params[key] -= self.lr * grads[key]
                return

    message = checks.check_item("sgd", SGD).message
    assert "wrong at step 1 in run 2 of 3" in message
    assert "params['W2'] did not change in this update." in message


def test_right_buffers_and_missing_entries_narrow_the_search():
    case = next(c for c in MISTAKES if c.name == "adam_eps_inside")
    message = quiet_check("adam", load(case)).message
    assert "m['W'] and v['W'] are right: look at the step applied to the parameter." in message
    case = next(c for c in MISTAKES if c.name == "adam_reset")
    message = quiet_check("adam", load(case)).message
    assert "self.m has no entry 'W' after update(): keep each parameter's m in self.m[key]." \
        in message


def test_hard_coded_default_names_the_hyperparameter():
    case = next(c for c in MISTAKES if c.name == "adam_hard_coded")
    message = quiet_check("adam", load(case)).message
    assert ("your update uses beta1 = 0.9 and beta2 = 0.999, the defaults; this run passed "
            "beta1 = 0.8 and beta2 = 0.888: use self.beta1 and self.beta2") in message


def test_rebinding_a_parameter_is_reported():
    case = next(c for c in MISTAKES if c.name == "sgd_copy")
    assert "params['W'] was replaced by a new array" in quiet_check("sgd", load(case)).message


def test_division_by_zero_at_t_0_is_an_error_with_a_name():
    case = next(c for c in MISTAKES if c.name == "adam_t_before_increment_scalar")
    verdict = quiet_check("adam", load(case))
    assert verdict.status == checks.ERROR
    assert "raised ZeroDivisionError" in verdict.message
    assert "at step 1" in verdict.message
    assert "line 26: lr_t = self.lr / c1" in verdict.message  # the student's own line


# ----- stubs, success, errors --------------------------------------------------------------------
class Stub:
    """An exercise's class before the student writes update()."""

    def __init__(self, lr=0.01, **hyper):
        self.lr = lr

    def update(self, params, grads):
        raise NotImplementedError()


def stub_function(*args):
    raise NotImplementedError()


@pytest.mark.parametrize("key", sorted(items.ITEMS))
def test_stub_gets_not_implemented_without_traceback(key, capsys):
    item = items.ITEMS[key]
    answer = Stub if isinstance(item, items.OptimizerItem) else stub_function
    with pytest.raises(checks.CheckFailed) as failed:
        getattr(checks, f"check_{key}")(answer)
    assert str(failed.value) == f"{item.symbol}: not implemented yet."
    # In Jupyter the failure shows as its message alone, no traceback into course_lib.
    assert failed.value._render_traceback_() == [
        f"CheckFailed: {item.symbol}: not implemented yet."]
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_a_wrong_answer_raises_with_its_diagnosis():
    class SGD:
        def __init__(self, lr):
            self.lr = lr

        def update(self, params, grads):
            for key in params:
                params[key] += self.lr * grads[key]  # the wrong sign

    with pytest.raises(AssertionError, match=r"SGD: wrong"):
        checks.check_sgd(SGD)


def test_success_is_one_short_line(capsys):
    class SGD:
        def __init__(self, lr):
            self.lr = lr

        def update(self, params, grads):
            for key in params:
                params[key] -= self.lr * grads[key]

    checks.check_sgd(SGD)
    out = capsys.readouterr().out
    assert out == "SGD: correct (3 runs, 12 updates, rel. error < 1e-07 against course_lib).\n"


def test_exception_is_described_with_the_step_and_line():
    class SGD:
        def __init__(self, lr):
            self.lr, self.calls = lr, 0

        def update(self, params, grads):
            self.calls += 1
            if self.calls == 2:
                raise IndexError("tuple index out of range")
            for key in params:
                params[key] -= self.lr * grads[key]

    verdict = checks.check_item("sgd", SGD)
    assert verdict.status == checks.ERROR
    assert "update() raised IndexError: tuple index out of range" in verdict.message
    assert "at step 2 in run 1 of 3" in verdict.message
    assert 'raise IndexError("tuple index out of range")' in verdict.message


def test_exception_in_a_function_names_the_call_that_raised():
    def grad_ellipse(x, y):
        if x < 0:  # fails on arrays: call 2
            return x / 10, 2 * y
        return x / 10, 2 * y

    message = checks.check_item("grad_ellipse", grad_ellipse).message
    assert "raised ValueError" in message
    assert "on call 2 (grad_ellipse([-7, -3.5, 0, ...] (shape 5)" in message


def test_constructor_with_other_names_is_an_error():
    class SGD:
        def __init__(self, learning_rate=0.01):
            self.learning_rate = learning_rate

    verdict = checks.check_item("sgd", SGD)
    assert verdict.status == checks.ERROR
    assert "SGD(lr=0.07) raised TypeError" in verdict.message


def test_missing_answer_and_garbled_records():
    item = items.OPTIMIZER_ITEMS["adam"]
    runs = items.fixed_runs(item)
    assert checks.judge_optimizer(item, runs, lambda run: None).status == checks.MISSING
    # A record with the wrong shapes and no state is judged wrong, not a crash.
    garbled = {"steps": [{"params": {"W": np.zeros(3)}, "rebound": [], "state": {}}],
               "error": None}
    assert checks.judge_optimizer(item, runs, lambda run: garbled).status == checks.WRONG
    short = {"steps": [], "error": None}
    assert checks.judge_optimizer(item, runs, lambda run: short).status == checks.ERROR
    fn = items.FUNCTION_ITEMS["max_stable_lr"]
    verdict = checks.judge_function(fn, fn.calls, {"results": [None, None, None], "error": None})
    assert verdict.status == checks.WRONG
    assert "a non-number" in verdict.message
