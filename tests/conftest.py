"""Suite-wide rules: lab tests run whenever we are root and must run in CI."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    lab_items = [item for item in items if item.get_closest_marker("lab")]
    if lab_items and IN_CI:
        raise pytest.UsageError(
            "lab tests must run in CI but this run is not root: run the suite as root"
        )
    for item in lab_items:
        item.add_marker(pytest.mark.skip(reason="lab test: needs root (sudo make test)"))
