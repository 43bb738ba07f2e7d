"""pytest plugin loaded for every run (see pyproject.toml): notebook-testing policy in one place.

Warnings that reach a notebook's stderr carry the kernel's temporary file paths and so change
from run to run; nbval compares stderr by default, so stderr is left out of the comparison.
"""

import pytest


def pytest_collectstart(collector: pytest.Collector) -> None:
    """Skip stderr in nbval's comparison for every notebook."""
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)
