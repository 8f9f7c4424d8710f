"""Four processes at once on one database (SQLite file and PostgreSQL): creating batches with one
name, and ranking one batch, including a ranker killed halfway that nobody restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from affiliation_curator.curation.store import Store

WORKER = Path(__file__).resolve().parent.parent / "fixtures" / "race_worker.py"
PG_URL = os.environ.get("AFFILIATION_CURATOR_TEST_PG_URL")
PROCESSES = 4


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("set AFFILIATION_CURATOR_TEST_PG_URL to test PostgreSQL")
        return PG_URL
    return f"sqlite:///{tmp_path / 'races.db'}"


def worker(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(proc: subprocess.Popen, timeout: float = 120) -> list[dict]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"a worker failed:\n{err}"
    assert "Traceback" not in err, err
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_four_processes_create_one_name_at_once(db_url: str) -> None:
    Store(db_url)  # migrated before the race
    name = f"Race {uuid.uuid4().hex[:8]}"
    start_at = f"{time.time() + 2.5:.3f}"
    procs = [worker("create", db_url, name, start_at) for _ in range(PROCESSES)]
    names = sorted(finish(p)[-1]["name"] for p in procs)
    assert names == sorted([name] + [f"{name} ({n})" for n in range(2, PROCESSES + 1)])


def _ranked_lines(store: Store, batch_id: int) -> tuple[int, int]:
    items = store.items(batch_id)
    return sum(1 for i in items if i.ranked), sum(len(i.candidates) for i in items)


def test_four_processes_rank_one_batch_once_each_item(db_url: str) -> None:
    store = Store(db_url)
    batch_id = store.create_batch(f"Rank race {uuid.uuid4().hex[:8]}", [f"affiliation {i}" for i in range(60)])
    procs = [worker("rank", db_url, str(batch_id)) for _ in range(PROCESSES)]
    results = [finish(p) for p in procs]
    ranked_by = [r[-1]["ranked"] for r in results]
    assert sum(ranked_by) == 60 and sorted(ranked_by)[:-1] == [0] * (PROCESSES - 1), ranked_by  # one ranker
    assert _ranked_lines(store, batch_id) == (60, 180)


def test_a_ranker_killed_halfway_is_taken_over_without_a_reopen(db_url: str) -> None:
    # 300 items (~10 ms each): still ranking when it is killed ~1.2 s in, since results are saved
    # in groups (60 items were all ranked before the kill once a commit no longer came per item)
    n = 300
    store = Store(db_url)
    batch_id = store.create_batch(f"Kill race {uuid.uuid4().hex[:8]}", [f"affiliation {i}" for i in range(n)])
    first = worker("rank", db_url, str(batch_id))
    for line in first.stdout:  # wait until it has ranked some items, holding the claim
        if json.loads(line).get("progress", 0) >= 6:
            break
    waiting = [worker("rank", db_url, str(batch_id)) for _ in range(PROCESSES - 1)]
    time.sleep(1.0)  # the others are waiting for the claim now
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    ranked_before = _ranked_lines(store, batch_id)[0]
    assert 6 <= ranked_before < n
    ranked_by = [finish(p)[-1]["ranked"] for p in waiting]
    assert sum(ranked_by) == n - ranked_before and ranked_by.count(0) == PROCESSES - 2, ranked_by
    assert _ranked_lines(store, batch_id) == (n, 3 * n)
