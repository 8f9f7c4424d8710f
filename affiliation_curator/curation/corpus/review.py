"""From a corpus run to the app: pick strings from the shards and make them a review batch.

    python -m affiliation_curator corpus review OUT --least-confident 500 [--batch NAME]
    python -m affiliation_curator corpus review OUT --sample 200 --seed 7

``least-confident``: the strings whose top score is nearest the threshold or to the runner-up
(the Review page's "least confident first" order, ``store.core._uncertainty``); ``sample``: a
uniform random sample, the same for the same seed whatever the shard order. Both stream over
the shards keeping only N rows, so a run of any size fits. The batch is made with the store's
own ``create_batch`` (each string with its corpus count) and ranked by the run's engine
(``ranking_jobs.rank_batch``), so the Review page shows the evidence behind each candidate; without
ranking here the app ranks it when the batch is opened.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TYPE_CHECKING

from affiliation_curator import config
from affiliation_curator.curation.corpus import shards
from affiliation_curator.errors import InputError
from affiliation_curator.curation.intake import IntakeResult

if TYPE_CHECKING:
    from affiliation_curator.engine.matcher import Matcher
    from affiliation_curator.curation.store import Store

HOW = ("least-confident", "sample")


@dataclass
class ReviewBatch:
    batch_id: int
    name: str
    picked: int
    ranked: int


def run_record(out: Path) -> dict[str, Any]:
    """The run record beside a corpus output folder; InputError when it is not one."""
    run_file = out.with_name(out.name + ".run.json")
    if not out.is_dir() or not shards.shard_files(out):
        raise InputError(f"{out} is not the output folder of a corpus run (no part-*.parquet / part-*.jsonl shards)")
    try:
        record = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(f"{run_file} is missing or unreadable; it tells which engine wrote {out}") from None
    if not isinstance(record, dict) or not isinstance(record.get("engine"), dict):
        raise InputError(f"{run_file} is not the run record of a corpus run")
    return record


def _rows(out: Path) -> Iterator[dict[str, Any]]:
    for path in shards.shard_files(out):
        yield from shards.read_shard(path, ["affiliation", "count", "top_score", "second_score"])


def uncertainty(row: dict[str, Any], threshold: float) -> float:
    """Smaller is less confident (as the store ranks a batch): margin to the runner-up or distance to the threshold."""
    top = row.get("top_score")
    if top is None:
        return math.inf
    return min(top - (row.get("second_score") or 0.0), abs(top - threshold))


def pick(out: Path, how: str, n: int, seed: int = 0) -> list[tuple[str, int]]:
    """(affiliation, count) of the N strings chosen, least confident first or in sample order."""
    if how not in HOW:
        raise InputError(f"choose how to pick: {' or '.join(HOW)}")
    if n < 1 or n > config.MAX_BATCH_ROWS:
        raise InputError(f"N must be between 1 and {config.MAX_BATCH_ROWS:,} (the most a batch holds)")
    threshold = float(run_record(out)["engine"].get("threshold", 0.5))
    if how == "least-confident":
        chosen = heapq.nsmallest(n, (r for r in _rows(out) if r.get("top_score") is not None),
                                 key=lambda r: (uncertainty(r, threshold), r["affiliation"]))
    else:
        salt = str(seed).encode()
        chosen = heapq.nsmallest(n, _rows(out), key=lambda r: hashlib.blake2b(
            salt + r["affiliation"].encode("utf-8", "surrogatepass"), digest_size=8).digest())
    if not chosen:
        raise InputError(f"{out}: no string with candidates to review")
    return [(r["affiliation"], int(r.get("count") or 1)) for r in chosen]


def review_batch(out: Path, how: str, n: int, *, seed: int = 0, name: str = "", store: Store | None = None,
                 matcher: Matcher | None = None) -> ReviewBatch:
    """Make a review batch of N strings of the corpus run in ``out``; rank it with ``matcher`` when given."""
    from affiliation_curator.curation.ranking_jobs import rank_batch
    from affiliation_curator.curation.store import Store

    record = run_record(out)
    chosen = pick(out, how, n, seed)
    store = store or Store()
    intake = IntakeResult(strings=[s for s, _ in chosen], counts=dict(chosen))
    engine = record["engine"]
    label = f"{how.replace('-', ' ')} {len(chosen)}" + (f", seed {seed}" if how == "sample" else "")
    batch_id = store.create_batch(
        name or f"{out.name}: {label}", intake, registry_name=str(engine.get("registry") or ""),
        registry_version=str(engine.get("registry_version") or ""), model_id=str(engine.get("model") or ""),
        source=f"corpus run {out} ({label})",
    )
    ranked = rank_batch(store, matcher, batch_id) if matcher is not None else 0
    return ReviewBatch(batch_id, store.batch(batch_id).name, len(chosen), ranked)
