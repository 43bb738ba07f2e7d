"""Shared test configuration."""

# Notebooks under tests/ are grading fixtures (wrong or hostile submissions), not lectures:
# they must never be executed by nbval.
collect_ignore_glob = ["*.ipynb"]
