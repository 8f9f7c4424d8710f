"""In-app ranking speed: ``rank_batch`` into a SQLite store (what the Match page's job runs),
saving a commit per item (as before session 7) vs a group of results per commit, interleaved in
one process, beside the matcher alone on as many fresh strings (demo registry, the configured
scorer or its offline fallback). A figure for the README, not a test.

    python bench/bench_ranking_job.py [--strings 400] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))
sys.path.insert(0, str(PROJECT_DIR / "bench"))


class PerItem:
    """The store as ``rank_batch`` saw it before: ``save_result`` only, so a commit per item."""

    def __init__(self, store) -> None:  # noqa: ANN001
        self.store = store

    def unranked_items(self, batch_id: int, limit: int):  # noqa: ANN201
        return self.store.unranked_items(batch_id, limit)

    def save_result(self, item_id: int, result) -> None:  # noqa: ANN001
        self.store.save_result(item_id, result)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strings", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.environ["AFFILIATION_CURATOR_HOME"] = tempfile.mkdtemp(prefix="bench-ranking-job-")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from bench_review_latency import affiliations
    from affiliation_curator.curation.ranking_jobs import rank_batch
    from affiliation_curator.curation.store import Store
    from affiliation_curator.engine.assemble import build_engine
    from affiliation_curator.engine.reranker import load_scorer
    from affiliation_curator.registry import RegistryCatalog

    registry = RegistryCatalog().load()
    matcher = build_engine(registry, load_scorer())
    store = Store()
    n = args.strings
    for rnd in range(args.rounds):
        for label, wrap in (("a commit per item", PerItem), ("a commit per group", lambda s: s)):
            tag = f"{rnd}{'g' if wrap is not PerItem else 'i'}"
            texts = [f"{t} #{tag}{k}" for k, t in enumerate(affiliations(n))]  # fresh strings: no cache hits
            started = time.perf_counter()
            list(matcher.match_many(texts, batch_size=32))
            alone = time.perf_counter() - started
            batch_id = store.create_batch(f"{label} {rnd}", [t + " b" for t in texts],
                                          registry_name=registry.name, model_id=matcher.model_id)
            started = time.perf_counter()
            rank_batch(wrap(store), matcher, batch_id)
            in_app = time.perf_counter() - started
            print(f"{registry.name}, {n} strings, {matcher.model_id}: matcher alone {n / alone:.1f}/s; "
                  f"rank_batch, {label}: {n / in_app:.1f}/s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
