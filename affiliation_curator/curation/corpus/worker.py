"""What runs on the Ray workers: parsing files, and one matching engine per actor.

``ShardMatcher`` is the callable class of ``map_batches`` over packed shards (one row a
shard, ``pack_shard``): Ray Data keeps a pool of these actors, each loads the registry and
the model once (in ``__init__``) and then matches whole shards, writing each shard file itself
(see shards.py) and returning one summary row a shard.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from affiliation_curator.errors import CuratorError

if TYPE_CHECKING:
    from affiliation_curator.engine.matcher import Matcher


@dataclass(frozen=True)
class EngineSpec:
    """What a worker needs to build the same engine as the driver: plain, picklable values."""

    registry: str | None  # an imported registry's name or a registry file every worker can read
    model: str | None  # a hub id, a model folder every worker can read, or 'lexical-fallback'
    top_k: int = 10
    home: str = ""  # the driver's data directory; used where the worker sees it too

    def build(self) -> Matcher:
        from affiliation_curator.engine.assemble import build_engine

        if self.home and Path(self.home).is_dir():
            os.environ["AFFILIATION_CURATOR_HOME"] = self.home
        return build_engine(self.registry, self.model, top_k=self.top_k)


def parse_files(batch: dict[str, Any], column: str | None = None) -> dict[str, list[str]]:
    """``map_batches`` over ``read_binary_files(include_paths=True)``: each file's rows."""
    from affiliation_curator.curation.corpus.inputs import parse_text_file

    texts: list[str] = []
    problems: list[str] = []
    for path, data in zip(batch["path"], batch["bytes"]):
        for row in parse_text_file(bytes(data), str(path), column):
            texts.append(row["affiliation"])
            problems.append(row["problem"])
    return {"affiliation": texts, "problem": problems}


def clean_column(batch: dict[str, Any], column: str) -> dict[str, list[str]]:
    """``map_batches`` over a Parquet column: the same cleaning as the text formats."""
    from affiliation_curator.curation.corpus.inputs import kept

    rows = [kept(v) for v in batch[column]]
    return {"affiliation": [r["affiliation"] for r in rows], "problem": [r["problem"] for r in rows]}


def assign_shards(batch: Any, n_shards: int, skip: frozenset[int]) -> Any:
    """``map_batches`` (pandas) over the de-duplicated strings: drop dropped lines, add ``shard``,
    leave out shards already written."""
    from affiliation_curator.curation.corpus.shards import shard_of

    batch = batch[batch["affiliation"] != ""].rename(columns={"count()": "count"})
    batch["shard"] = [shard_of(t, n_shards) for t in batch["affiliation"]]
    return batch[~batch["shard"].isin(skip)] if skip else batch


def pack_shard(group: Any) -> Any:
    """``map_groups`` by shard (plain tasks): one row per shard, its strings sorted with their counts
    (a string cut to the length limit may meet its uncut twin here: their counts add up)."""
    import pandas as pd

    counts = group.groupby("affiliation", sort=True)["count"].sum()
    return pd.DataFrame({"shard": [int(group["shard"].iloc[0])], "affiliation": [[str(s) for s in counts.index]],
                         "count": [[int(n) for n in counts.tolist()]]})


class ShardMatcher:
    """One engine per actor; ``__call__`` matches one shard (a group) and writes its file."""

    def __init__(self, spec: EngineSpec, expected: dict[str, Any], folder: str, n_shards: int, fmt: str,
                 batch_size: int = 32) -> None:
        from affiliation_curator.engine.assemble import engine_record

        self.matcher = spec.build()
        engine = engine_record(self.matcher, spec.top_k)
        changed = [f"{k}: driver {expected.get(k)!r}, worker {v!r}" for k, v in engine.items() if expected.get(k) != v]
        if changed:
            raise CuratorError(f"a worker built another engine than the driver ({'; '.join(changed)}); "
                               "give --registry and --model as files every worker can read")
        self.folder, self.n_shards, self.fmt, self.batch_size = Path(folder), n_shards, fmt, batch_size

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        """A batch of packed shards (pack_shard): match each shard's strings and write its file."""
        from affiliation_curator.curation.corpus.shards import write_shard

        import resource

        summary: dict[str, list[Any]] = {"shard": [], "strings": [], "matched": [], "occurrences": [], "seconds": [],
                                         "peak_mb": []}
        for shard, strings, counts in zip(batch["shard"], batch["affiliation"], batch["count"]):
            start = time.monotonic()
            strings = [str(s) for s in strings]
            rows = []
            for n, result in zip(counts, self.matcher.match_many(strings, batch_size=self.batch_size)):
                line = result.to_json()
                scores = [c["score"] for c in line["candidates"]]
                rows.append({**line, "count": int(n), "top_score": scores[0] if scores else None,
                             "second_score": scores[1] if len(scores) > 1 else None})
            write_shard(self.folder, int(shard), self.n_shards, self.fmt, rows)
            for key, value in (("shard", int(shard)), ("strings", len(rows)),
                               ("matched", sum(r["match"] is not None for r in rows)),
                               ("occurrences", int(sum(counts))), ("seconds", time.monotonic() - start),
                               ("peak_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)):
                summary[key].append(value)
        return summary
