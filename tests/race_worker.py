"""One process of the store race tests (tests/test_store_races.py): ``create`` or ``rank``.

Run as ``python tests/race_worker.py create URL NAME START_AT`` or ``... rank URL BATCH_ID``;
prints one JSON line with what it did, or the error it met (a traceback goes to stderr).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from affiliation_curator.engine.results import Candidate, MatchResult  # noqa: E402
from affiliation_curator.curation.ranking_jobs import rank_batch  # noqa: E402
from affiliation_curator.curation.store import Store  # noqa: E402


class SlowMatcher:
    """Three candidates an item, a few milliseconds each (long enough for the processes to overlap)."""

    def match_many(self, affiliations, batch_size=32, progress=None):  # noqa: ANN001, ANN201
        for text in affiliations:
            time.sleep(0.01)
            cands = [Candidate(f"https://ror.org/0{n}abcde{n}{n}", f"{text} {n}", 0.9 - n / 10) for n in range(3)]
            yield MatchResult(text, cands, None, model="slow", threshold=0.5)


def main() -> None:
    command, url = sys.argv[1], sys.argv[2]
    store = Store(url)
    if command == "create":
        name, start_at = sys.argv[3], float(sys.argv[4])
        while time.time() < start_at:  # every process creates at the same moment
            time.sleep(0.001)
        batch_id = store.create_batch(name, [f"affiliation {i}" for i in range(20)])
        print(json.dumps({"batch": batch_id, "name": store.batch(batch_id).name}), flush=True)
    elif command == "rank":
        batch_id = int(sys.argv[3])
        done = rank_batch(store, SlowMatcher(), batch_id, first_chunk=2, chunk_size=4, claim_poll=0.2,
                          progress=lambda n: print(json.dumps({"progress": n}), flush=True))
        print(json.dumps({"ranked": done}), flush=True)


if __name__ == "__main__":
    main()
