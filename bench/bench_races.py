"""Four processes on one database at once (SQLite file, and PostgreSQL when a URL is given): what each got.

1. all four create a batch named "Race <id>" at the same moment: the names they get, errors;
2. all four rank one 200-item batch: items ranked by each (one ranker, the others wait), items
   with a duplicate candidate set, seconds;
3. the ranker is killed halfway: who finishes the batch, and whether every item is ranked.
Workers are tests/fixtures/race_worker.py (the race tests use them too).

    python bench/bench_races.py [--pg postgresql+psycopg://USER@/DB?host=/var/run/postgresql]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))
WORKER = PROJECT_DIR / "tests" / "fixtures" / "race_worker.py"
N = 4


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result(proc: subprocess.Popen) -> tuple[dict, str]:
    out, err = proc.communicate(timeout=600)
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    error = err.strip().splitlines()[-1] if proc.returncode else ""
    return (lines[-1] if lines else {}), error


def run(url: str, label: str) -> None:
    from affiliation_curator.curation.store import Store

    store = Store(url)
    name = f"Race {uuid.uuid4().hex[:6]}"
    start_at = f"{time.time() + 3:.3f}"
    got = [result(p) for p in [spawn("create", url, name, start_at) for _ in range(N)]]
    print(f"[{label}] {N} processes create {name!r} at once: names {sorted(g[0].get('name', '-') for g in got)}; "
          f"errors {[g[1] for g in got if g[1]] or 'none'}")

    items = 200
    batch = store.create_batch(f"Rank {uuid.uuid4().hex[:6]}", [f"affiliation {i}" for i in range(items)])
    start = time.perf_counter()
    got = [result(p) for p in [spawn("rank", url, str(batch)) for _ in range(N)]]
    views = store.items(batch)
    print(f"[{label}] {N} processes rank one {items}-item batch: ranked by each {[g[0].get('ranked') for g in got]}, "
          f"items ranked {sum(v.ranked for v in views)}/{items}, candidates {sum(len(v.candidates) for v in views)} "
          f"(3 an item), errors {[g[1] for g in got if g[1]] or 'none'}, {time.perf_counter() - start:.1f} s")

    batch = store.create_batch(f"Kill {uuid.uuid4().hex[:6]}", [f"affiliation {i}" for i in range(items)])
    first = spawn("rank", url, str(batch))
    for line in first.stdout:
        if json.loads(line).get("progress", 0) >= 20:
            break
    others = [spawn("rank", url, str(batch)) for _ in range(N - 1)]
    time.sleep(1.0)
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = sum(v.ranked for v in store.items(batch))
    got = [result(p) for p in others]
    views = store.items(batch)
    print(f"[{label}] ranker killed after {before} items: the others ranked {[g[0].get('ranked') for g in got]}, "
          f"items ranked {sum(v.ranked for v in views)}/{items}, candidates {sum(len(v.candidates) for v in views)}, "
          f"errors {[g[1] for g in got if g[1]] or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default="", help="a scratch PostgreSQL database URL")
    args = parser.parse_args()
    run(f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-races-')) / 'curator.db'}", "SQLite")
    if args.pg:
        run(args.pg, "PostgreSQL")


if __name__ == "__main__":
    main()
