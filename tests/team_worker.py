"""Curators deciding at once, each in a process of its own (tests/test_team_concurrency.py and
bench/bench_team.py): ``run_team`` starts them and checks what the database holds afterwards.

A worker (``python tests/team_worker.py URL BATCH CURATOR SECONDS START_AT``) decides as fast as
it can until its time is up: the next item of its own queue (claimed, in a split batch),
accept or none, and after its second and every fifth decision an undo of its own last step followed by a new decision.
It prints one JSON line: the decision ids it was given, the undo groups it took back, errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from affiliation_curator.curation.store import Store  # noqa: E402

CANDIDATES = [f"https://ror.org/0{n}abcde{n}{n}" for n in range(3)]


def work(url: str, batch_id: int, curator: str, seconds: float, start_at: float) -> dict[str, Any]:
    from affiliation_curator.team import sharing

    store = Store(url)
    split = sharing.sharing(store, batch_id).mode == "split"
    made: list[int] = []
    undone: list[int] = []
    errors: list[str] = []
    while time.time() < start_at:
        time.sleep(0.001)
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        try:
            if split:
                item = sharing.next_item(store, batch_id, curator)
            else:
                views = store.items(batch_id, status="undecided", curator=curator, limit=1)
                item = views[0] if views else None
            if item is None:
                break
            n += 1
            if n % 2:
                made.append(store.decide(item.id, "accept", curator, CANDIDATES[n % 3], seconds=0.1))
            else:
                made.append(store.decide(item.id, "none", curator, seconds=0.1))
            if n == 2 or n % 5 == 0:
                result = store.undo(batch_id, curator=curator)
                if result is None or result.curator != curator:
                    errors.append(f"undo gave {result!r}")
                else:
                    undone.append(result.group_id)
        except Exception as err:  # noqa: BLE001 - reported, the test fails on any
            errors.append(f"{type(err).__name__}: {err}")
    return {"curator": curator, "made": made, "undone": undone, "errors": errors}


def make_batch(url: str, items: int, mode: str, curators: list[str], double_share: float) -> int:
    from affiliation_curator.team.sharing import set_sharing
    from affiliation_curator.team.users import Identity

    store = Store(url)
    # no candidates are stored: an accept names its institution, as one found by a registry search does
    batch = store.create_batch(f"team race {uuid.uuid4().hex[:8]}", [f"affiliation {i}" for i in range(items)])
    if mode == "split":
        set_sharing(store, Identity("lead", "lead"), batch, "split", curators, double_share=double_share)
    return batch


def run_team(url: str, seconds: float, mode: str = "all", curators: int = 4, items: int = 4000,
             double_share: float = 0.1) -> dict[str, Any]:
    """Start the curators, wait, and check the database: returns figures and a list of problems."""
    names = [f"curator{i}" for i in range(curators)]
    batch = make_batch(url, items, mode, names, double_share)
    start_at = time.time() + 2.0
    procs = [
        subprocess.Popen([sys.executable, __file__, url, str(batch), name, str(seconds), f"{start_at:.3f}"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in names
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=seconds + 300)
        lines = [json.loads(line) for line in out.splitlines() if line.strip().startswith("{")]
        reports.append(lines[-1] if lines else {"curator": "?", "made": [], "undone": [], "errors": [err[-500:]]})
    problems = check(Store(url), batch, reports, mode)
    figures = {
        "batch": batch,
        "seconds": seconds,
        "mode": mode,
        "decisions": {r["curator"]: len(r["made"]) for r in reports},
        "undos": {r["curator"]: len(r["undone"]) for r in reports},
        "errors": [e for r in reports for e in r["errors"]],
        "problems": problems,
    }
    figures["per_second"] = sum(figures["decisions"].values()) / seconds
    return figures


def check(store: Store, batch: int, reports: list[dict[str, Any]], mode: str) -> list[str]:
    """Every decision a curator was told was stored is stored once, as theirs; undo took back only
    their own; nobody's current decision was replaced by another's; a split batch covered each
    item as often as it needed."""
    problems: list[str] = []
    log = store.decisions(batch, include_undone=True)
    by_id = {d["id"]: d for d in log}
    if len(by_id) != len(log):
        problems.append("a decision id twice")
    made = [i for r in reports for i in r["made"]]
    if len(made) != len(set(made)):
        problems.append("a decision id handed to two calls")
    if set(made) != set(by_id):
        problems.append(f"{len(set(made) ^ set(by_id))} decisions differ between what curators were told and the database")
    for r in reports:
        for i in r["made"]:
            if i in by_id and by_id[i]["curator"] != r["curator"]:
                problems.append(f"decision {i} of {r['curator']} stored as {by_id[i]['curator']}")
        undone_by_others = [d for d in log if d["undone_at"] is not None and d["id"] not in r["made"]
                            and d["curator"] == r["curator"]]
        if undone_by_others:
            problems.append(f"{len(undone_by_others)} of {r['curator']}'s decisions undone but not by them")
    undone = sum(1 for d in log if d["undone_at"] is not None)
    undos = sum(len(r["undone"]) for r in reports)
    if undone != undos:
        problems.append(f"{undone} decisions undone, {undos} undo calls")
    current: dict[tuple[int, str], int] = {}
    for d in log:
        if d["undone_at"] is None:
            current[(d["item_id"], d["curator"])] = d["id"]
    for r in reports:  # each curator's view agrees with their own log
        mine = {item for (item, c) in current if c == r["curator"]}
        left = store.count_items(batch, "undecided", curator=r["curator"])
        total = store.count_items(batch)
        if mode == "all" and len(mine) + left != total:
            problems.append(f"{r['curator']}: {len(mine)} decided + {left} undecided != {total}")
    if mode == "split":
        from affiliation_curator.team.sharing import double_item_ids

        doubles = double_item_ids(store, batch)
        per_item: dict[int, set[str]] = defaultdict(set)
        for (item, c) in current:
            per_item[item].add(c)
        too_many = Counter("double" if i in doubles else "single" for i, cs in per_item.items()
                           if len(cs) > (2 if i in doubles else 1))
        if too_many:
            problems.append(f"items decided by more curators than they need: {dict(too_many)}")
    return problems


if __name__ == "__main__":
    url, batch_id, curator, seconds, start_at = sys.argv[1:6]
    print(json.dumps(work(url, int(batch_id), curator, float(seconds), float(start_at))), flush=True)
