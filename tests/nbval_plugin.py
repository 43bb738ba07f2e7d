"""pytest plugin loaded for every run (see pyproject.toml): notebook-testing policy in one place.

Nothing a notebook prints may go to stderr: nbval compares every stream, stderr included, so a
warning in a fresh run fails against the stored outputs (which hold none:
tests/test_notebook_hygiene.py checks that). This plugin only makes the policy explicit.
"""

import pytest


def pytest_collectstart(collector: pytest.Collector) -> None:
    """Make sure stderr stays in nbval's comparison for every notebook."""
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare = tuple(k for k in collector.skip_compare if k != "stderr")
