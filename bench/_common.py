"""Shared helpers of the matching benchmarks: the shared registry, gold rows, result files.

Benchmarks use their own data directory (bench/results/home by default, or
AFFILIATION_CURATOR_HOME) so importing the 51k-record shared registry happens once.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
SHARED = PROJECT_DIR.parent / "shared" / "data"
RESULTS = BENCH_DIR / "results"
UNION = SHARED / "ror" / "ror-union-2026-06-23.json.gz"
GOLD_FILES = ("s2aff-train", "crossref-publisher-2023", "ror-logs-train", "springer-2023")

sys.path.insert(0, str(PROJECT_DIR))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("AFFILIATION_CURATOR_HOME", str(RESULTS / "home"))


def shared_registry():
    """The 51k-record shared ROR registry, imported into the bench data directory once."""
    from affiliation_curator.registry import RegistryCatalog

    if not UNION.is_file():
        sys.exit(f"shared data not found: {UNION}")
    return RegistryCatalog().resolve(str(UNION))


def gold_rows(side: str, per_file: int | None, seed: int = 0, matchable_only: bool = False):
    """(file, GoldRow) pairs: scorable rows (all gold ids in the shared registry, or no match) of one side."""
    from affiliation_curator.gold import read_gold, split

    out = []
    for name in GOLD_FILES:
        rows = read_gold(SHARED / "gold" / f"{name}.jsonl")
        train, test = split(rows)
        rows = [r for r in (train if side == "train" else test) if r.scorable]
        if matchable_only:
            rows = [r for r in rows if r.ror_ids]
        random.Random(seed).shuffle(rows)
        if per_file:
            rows = rows[:per_file]
        out.extend((name, r) for r in rows)
    return out


class Tee:
    """Print to stdout and keep the text, to be saved in bench/results/NAME.txt."""

    def __init__(self, name: str):
        self.name, self.lines = name, []

    def __call__(self, *parts) -> None:
        line = " ".join(str(p) for p in parts)
        print(line, flush=True)
        self.lines.append(line)

    def save(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.name}.txt"
        path.write_text("\n".join(self.lines) + "\n", encoding="utf-8")
        print(f"(saved to {path})")
        return path
