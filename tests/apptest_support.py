"""Helpers for the AppTest page tests (imported by tests/test_app.py and tests/test_page_*.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PROJECT_DIR = Path(__file__).resolve().parent.parent
APP = PROJECT_DIR / "app.py"


@pytest.fixture
def navigation_apptest():
    """A factory of AppTests of app.py (its navigation and sidebar run on every run: the pages
    live in ``app_pages/``, so Streamlit's legacy ``pages/`` discovery never takes over)."""

    def make(timeout: float = 60) -> AppTest:
        return AppTest.from_file(str(APP), default_timeout=timeout)

    return make


def wait_until_ranked(batch_id: int, timeout: float = 60.0) -> None:
    """Block until the background job has ranked every item of the batch."""
    from affiliation_curator.curation.store import Store

    store = Store()
    deadline = time.monotonic() + timeout
    while store.count_unranked(batch_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.count_unranked(batch_id) == 0, "ranking did not finish in time"
