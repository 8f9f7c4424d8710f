"""Four curators deciding as fast as they can for 20 s each, at once, each in its own process,
through the core API (tests/fixtures/team_worker.py; tests/team/test_team_concurrency.py runs 4 s of it):
decisions stored, decisions a second, undo steps, errors met by a curator, and the checks
(every decision stored once and as its curator's, undo only one's own, split coverage).

    python bench/bench_team.py [--seconds 20] [--pg postgresql+psycopg://USER@/DB?host=/var/run/postgresql]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from tests.fixtures.team_worker import run_team  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pg", metavar="URL", help="also on this PostgreSQL database (a scratch one)")
    parser.add_argument("--items", type=int, default=6000)
    args = parser.parse_args()
    urls = [("SQLite file", f"sqlite:///{tempfile.mkdtemp(prefix='bench-team-')}/team.db")]
    if args.pg:
        urls.append(("PostgreSQL", args.pg))
    for label, url in urls:
        for mode in ("all", "split"):
            f = run_team(url, args.seconds, mode=mode, items=args.items)
            total = sum(f["decisions"].values())
            print(f"[{label}, {mode}] 4 curators x {args.seconds:g} s: {total:,} decisions stored "
                  f"({f['per_second']:.1f}/s; each {sorted(f['decisions'].values())}), "
                  f"{sum(f['undos'].values())} undo steps; errors: {f['errors'] or 'none'}; "
                  f"checks: {f['problems'] or 'all passed'}", flush=True)


if __name__ == "__main__":
    main()
