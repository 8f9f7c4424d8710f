"""Helpers for the AppTest page tests (imported by tests/test_app.py and tests/test_page_*.py).

Streamlit 1.67's AppTest resets ``PagesManager.uses_pages_directory`` before every run, and
because this project keeps its pages in a ``pages/`` folder it then runs the page file alone
from the second run on (skipping app.py, so the sidebar vanishes). A real server decides
that flag once and ``st.navigation`` turns it off; ``navigation_apptest`` does the same.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

PROJECT_DIR = Path(__file__).resolve().parent.parent
APP = PROJECT_DIR / "app.py"


@pytest.fixture
def navigation_apptest(monkeypatch: pytest.MonkeyPatch):
    """A factory of AppTests of app.py that run app.py (and its sidebar) on every run."""
    original = PagesManager.__init__

    def init(self, *args, **kwargs):  # noqa: ANN001
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False  # what st.navigation sets on a real server

    monkeypatch.setattr(PagesManager, "__init__", init)

    def make(timeout: float = 60) -> AppTest:
        return AppTest.from_file(str(APP), default_timeout=timeout)

    return make


def wait_until_ranked(batch_id: int, timeout: float = 60.0) -> None:
    """Block until the background job has ranked every item of the batch."""
    from affiliation_curator.store import Store

    store = Store()
    deadline = time.monotonic() + timeout
    while store.count_unranked(batch_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.count_unranked(batch_id) == 0, "ranking did not finish in time"
