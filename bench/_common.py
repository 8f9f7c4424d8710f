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


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(script: str, home: Path, *args: str) -> dict:
    """Run ``script --child ARGS`` in a fresh process on data directory ``home``; its last stdout line is JSON."""
    import json
    import subprocess

    env = {**os.environ, "AFFILIATION_CURATOR_HOME": str(home), "PYTHONPATH": str(PROJECT_DIR)}
    out = subprocess.run([sys.executable, script, "--child", *args], env=env, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise SystemExit(f"{args[0] if args else script} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def shared_registry():
    """The 51k-record shared ROR registry, imported into the bench data directory once."""
    from affiliation_curator.registry import RegistryCatalog

    if not UNION.is_file():
        sys.exit(f"shared data not found: {UNION}")
    return RegistryCatalog().resolve(str(UNION))


def gold_rows(side: str, per_file: int | None, seed: int = 0, matchable_only: bool = False, absent: bool = False):
    """(file, GoldRow) pairs: scorable rows (all gold ids in the shared registry, or no match) of one side;
    with ``absent``, the other rows instead: strings labelled with institutions the registry lacks."""
    from affiliation_curator.curation.gold import read_gold, split

    out = []
    for name in GOLD_FILES:
        rows = read_gold(SHARED / "gold" / f"{name}.jsonl")
        train, test = split(rows)
        rows = [r for r in (train if side == "train" else test) if r.scorable != absent]
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
