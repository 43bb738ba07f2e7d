"""Shared test configuration."""

import pytest

# Grading fixtures are data, never tests: notebooks anywhere under tests/ must not be executed
# by nbval, and the student answers in submissions/ (endless loops, memory hogs, os._exit) must
# not be imported by --doctest-modules.
collect_ignore_glob = ["*.ipynb", "submissions/*"]


@pytest.fixture(autouse=True, scope="session")
def gradebook_key(tmp_path_factory):
    """The gradebook MAC key in a temporary file: the tests never write one into ~."""
    key = tmp_path_factory.mktemp("state") / "gradebook.key"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_GRADEBOOK_KEY", str(key))
        yield key


# Tests that start servers, browsers, other tools or grading subprocesses: `make test` runs
# them, `make test-fast` (-m "not slow") leaves them out to stay under 30 s.
SLOW_MODULES = {"test_browser", "test_nbgrader", "test_lab_config", "test_student_edition",
                "test_student_work", "test_grading", "test_integrity", "test_bench_smoke",
                "test_widgets", "test_totals"}
SLOW_TESTS = {"test_solutions_grade_at_full_marks",
              "test_exercises_grade_zero_with_not_implemented_and_no_traceback",
              "test_the_step_axis_holds_the_run_and_only_jumps_at_round_ends"}


def pytest_collection_modifyitems(config, items):
    """Mark the slow tests (see SLOW_MODULES, SLOW_TESTS) with ``slow``."""
    for item in items:
        module = getattr(item, "module", None)
        name = module.__name__.rsplit(".", 1)[-1] if module else ""
        if name in SLOW_MODULES or getattr(item, "originalname", item.name) in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
