"""Shared test configuration."""

# Grading fixtures are data, never tests: notebooks anywhere under tests/ must not be executed
# by nbval, and the student answers in submissions/ (endless loops, memory hogs, os._exit) must
# not be imported by --doctest-modules.
collect_ignore_glob = ["*.ipynb", "submissions/*"]
