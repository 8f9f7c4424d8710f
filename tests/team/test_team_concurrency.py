"""Four curators deciding at once through the core API, each in its own process, on an SQLite file
and on PostgreSQL: every decision stored exactly once and as its curator's, none lost, undo
takes back only one's own, no "database is locked" reaching a curator; in a split batch no item
gets more curators than it needs. (4 s each here; bench/bench_team.py runs the 20 s version.)"""

from __future__ import annotations

import os

import pytest

from fixtures.team_worker import run_team

PG_URL = os.environ.get("AFFILIATION_CURATOR_TEST_PG_URL")
SECONDS = 4.0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not PG_URL, reason="set AFFILIATION_CURATOR_TEST_PG_URL to test PostgreSQL"))])
def db_url(request, tmp_path) -> str:
    return PG_URL if request.param == "postgresql" else f"sqlite:///{tmp_path / 'team.db'}"


@pytest.mark.parametrize("mode", ["all", "split"])
def test_four_curators_at_once(db_url: str, mode: str) -> None:
    figures = run_team(db_url, SECONDS, mode=mode, items=400 if mode == "all" else 300)
    assert figures["errors"] == [] and figures["problems"] == []
    assert all(n > 0 for n in figures["decisions"].values()), figures["decisions"]
    assert sum(figures["undos"].values()) > 0
