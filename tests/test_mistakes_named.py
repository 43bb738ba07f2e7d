"""The later named mistakes: float32 state on every draw, friction, t + 1, derivation variants."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from course_lib import checks
from course_lib.grading import items, mistakes
from tests import corpus
from tests.test_checks import load

CASES = {c.name: c for c in corpus.mistake_cases()}
FLOAT32 = ["momentum_float32", "adagrad_float32", "rmsprop_float32", "adam_float32"]
DRAWS = 250  # per answer: 1000 draws in all, under a second


def verdicts(case: corpus.Case, seeds: range) -> list[checks.Verdict]:
    """The grader's verdicts for one corpus answer on many random draws."""
    answer = load(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return [checks.check_item(case.item, answer, np.random.default_rng(s)) for s in seeds]


def test_float32_state_is_named_on_every_draw():
    """Before, the hint came with only about 85% of the draws (848 of 1000)."""
    named = 0
    for name in FLOAT32:
        for v in verdicts(CASES[name], range(DRAWS)):
            assert v.status == checks.WRONG, (name, v.message)
            assert v.mistake == mistakes.FLOAT32_STATE.name, (name, v.message)
            assert "your state is float32" in v.message
            named += 1
    assert named == DRAWS * len(FLOAT32)


@pytest.mark.parametrize("key", ["momentum", "nesterov", "adagrad", "rmsprop", "adam"])
def test_float64_answers_are_never_taken_for_float32(key):
    """The worksheet's own answer passes on many draws: float32 is found only where it is."""
    item = items.OPTIMIZER_ITEMS[key]
    for seed in range(100):
        for run in items.random_runs(item, np.random.default_rng(seed)):
            record = checks.reference_record(item, run)
            assert checks.float32_state(item, record, record) is None


def test_is_float32_needs_every_number_exactly():
    assert mistakes.is_float32(np.float32([0.1, -2.5]).astype(float))
    assert not mistakes.is_float32([0.1, -2.5])
    assert not mistakes.is_float32([np.nan])
    assert not mistakes.is_float32([])


def test_textbook_velocity_without_friction_is_not_called_minus_lr_times():
    """At step 1 its v is -lr times the expected one; later it is not, so that is not said."""
    verdict = checks.check_item("momentum", load(CASES["momentum_no_friction_textbook"]))
    assert verdict.mistake == mistakes.NO_FRICTION.name
    assert "times the expected one" not in verdict.message
    assert "shrink by the factor momentum" in verdict.message
    # The textbook form itself still gets its factor: it holds at every step.
    textbook = checks.check_item("momentum", load(CASES["momentum_textbook"]))
    assert "-0.05 = -lr times the expected one everywhere" in textbook.message


def test_t_plus_one_and_a_counter_carried_over_once_are_told_apart_by_self_t():
    """Both step with t + 1; only a fresh counter shows self.t == 1 after one update."""
    item = items.OPTIMIZER_ITEMS["adam"]
    run = items.fixed_runs(item)[0]
    path = mistakes.simulate("adam", run.hyper, run.params, run.grads, "t_plus_one")
    for t_shown, named in ((1, "bias correction with t + 1"), (None, "bias correction with t + 1"),
                           (2, mistakes.SHARED_COUNTER.name)):
        steps = [{"params": p, "rebound": [], "state": {"t": t_shown + k} if t_shown else {}}
                 for k, p in enumerate(path)]
        verdict = checks.judge_run(item, run, {"steps": steps, "error": None}, 1)
        assert verdict.mistake == named, t_shown


@pytest.mark.parametrize("key", sorted(mistakes.FUNCTION_MISTAKES))
def test_derivation_variants_differ_from_the_answer_and_each_other(key):
    """On the self-check's calls and on random draws, no two variants (or one and the
    reference) give the same results, so each name is unambiguous."""
    item = items.FUNCTION_ITEMS[key]
    draws = [item.calls] + [item.draw(np.random.default_rng(s)) for s in range(20)]
    fns = [("reference", item.reference)]
    fns += [(v.name, v.fn) for v in mistakes.FUNCTION_MISTAKES[key]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for calls in draws:
            results = {n: [np.asarray(fn(*args), float) for args in calls] for n, fn in fns}
            for (a, ra), (b, rb) in itertools.combinations(results.items(), 2):
                assert not all(checks.same(x, y) for x, y in zip(ra, rb, strict=True)), (a, b)
