"""A whole corpus on Ray (``match --ray``) against the single-process ``match``, in the same run.

    python bench/bench_corpus.py [--unique 1500] [--total 30000] [--zipf 1.1] [--model lexical-fallback]

The corpus: ``--unique`` different strings from the gold sets of ../shared/data/gold, each
repeated with a Zipf-like count (the string of rank r occurs about C / r^s times, at least once;
C is set so the corpus holds about ``--total`` lines), shuffled into one .txt file: corpora repeat
the same affiliation thousands of times. The registry: the 51,370-record ROR stand-in.

Printed, each on the same corpus and engine:
- single process: ``match`` (it folds duplicates too), strings/s over unique strings, from the
  command's start (registry load included, the retrieval index already cached);
- Ray with 1 and 2 local workers (a local Ray of 2 CPUs): wall time from the command's start,
  of which reading + de-duplicating the corpus, and the unique strings matched a second;
- the de-duplication's cost: in the runs above (read + groupby, a fixed cost of Ray's tasks on
  a small corpus), and on a corpus of ``--dedup-lines`` lines (up to 100,000 gold strings,
  Zipf-repeated) against a plain Python dict over the same lines.

Each figure comes from one run on a shared 2-core machine: expect tens of percent of noise.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from _common import RESULTS, SHARED, UNION, Tee, shared_registry  # noqa: E402


def zipf_corpus(unique: int, total: int, s: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """(corpus lines, unique strings): gold strings repeated with Zipf-like counts, shuffled."""
    from affiliation_curator.curation.intake import clean

    seen: dict[str, None] = {}
    for path in sorted((SHARED / "gold").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            text = clean(json.loads(line).get("affiliation") or "")
            if text:
                seen.setdefault(text)
    strings = list(seen)
    random.Random(seed).shuffle(strings)
    strings = strings[:unique]
    weights = [1.0 / (r ** s) for r in range(1, len(strings) + 1)]
    scale = max(0.0, total - len(strings)) / sum(weights)
    lines = [t for t, w in zip(strings, weights) for _ in range(1 + int(round(w * scale)))]
    random.Random(seed + 1).shuffle(lines)
    return lines, strings


def timed_cli(argv: list[str]) -> tuple[float, str]:
    from affiliation_curator.cli import main

    buf = io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stderr(buf):
        rc = main(argv)
    if rc != 0:
        raise SystemExit(f"{' '.join(argv[:2])} failed:\n{buf.getvalue()[-2000:]}")
    return time.monotonic() - start, buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--unique", type=int, default=1500)
    ap.add_argument("--total", type=int, default=30_000)
    ap.add_argument("--zipf", type=float, default=1.1)
    ap.add_argument("--model", default="lexical-fallback")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--dedup-lines", type=int, default=1_000_000, help="lines of the corpus for the de-duplication figure (0: skip)")
    args = ap.parse_args()
    if not UNION.is_file():
        sys.exit(f"shared data not found: {UNION}")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    tee = Tee(f"bench_corpus-{Path(args.model).name}")
    work = RESULTS / "corpus"
    work.mkdir(parents=True, exist_ok=True)
    registry = shared_registry()  # imported once
    from affiliation_curator.engine.retrieval import Retriever

    Retriever.for_registry(registry)  # the index built and cached before anything is timed
    lines, strings = zipf_corpus(args.unique, args.total, args.zipf)
    corpus = work / "zipf-corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    top = max(lines.count(strings[0]), 1)
    tee(f"registry {registry.name}: {len(registry):,} institutions; model {args.model}")
    tee(f"corpus: {len(lines):,} lines, {len(strings):,} unique (Zipf s={args.zipf}; the commonest string "
        f"{top:,} times), {corpus.stat().st_size / 1e6:.1f} MB")
    engine = ["--registry", str(UNION), "--model", args.model]

    start = time.monotonic()
    folded = dict.fromkeys(lines)
    dict_s = time.monotonic() - start
    tee(f"de-duplication in one Python dict: {dict_s:.3f} s ({dict_s / len(lines) * 1e6:.2f} s per million lines), "
        f"{len(folded):,} unique")

    seconds, _ = timed_cli(["match", str(corpus), "--output", str(work / "single.jsonl"), "--restart", *engine])
    single_rate = len(strings) / seconds
    tee(f"single process: {seconds:.1f} s, {single_rate:.1f} unique strings/s "
        f"({len(lines) / seconds:.0f} corpus lines/s)")

    import ray

    if args.dedup_lines:
        big, uniq = zipf_corpus(100_000, args.dedup_lines, args.zipf)
        path = work / "zipf-dedup.txt"
        path.write_text("\n".join(big) + "\n", encoding="utf-8")
        start = time.monotonic()
        dict.fromkeys(big)
        plain = time.monotonic() - start
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
                 logging_level="warning", object_store_memory=500 * 1024**2)
        try:
            from affiliation_curator.curation.corpus.run import _quiet_data, read_corpus, shuffle_partitions

            _quiet_data()
            start = time.monotonic()
            files = [path]
            n_unique = (read_corpus(ray, files, None).groupby(["affiliation", "problem"], num_partitions=shuffle_partitions(files))
                        .count().materialize().count())
            on_ray = time.monotonic() - start
        finally:
            ray.shutdown()
        tee(f"de-duplication of {len(big):,} lines ({len(uniq):,} unique, {path.stat().st_size / 1e6:.0f} MB): "
            f"Ray read + groupby {on_ray:.1f} s on 2 CPUs ({n_unique:,} groups); one Python dict {plain:.2f} s")

    for n in [int(x) for x in args.workers.split(",")]:
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
                 logging_level="warning", object_store_memory=500 * 1024**2)
        try:
            seconds, err = timed_cli(["match", str(corpus), "--output", str(work / f"ray-{n}"), "--ray", "--restart",
                                      "--workers", str(n), "--shard-size", "250", *engine])
        finally:
            ray.shutdown()
        record = json.loads((work / f"ray-{n}.run.json").read_text(encoding="utf-8"))["summary"]
        dedup, match = record["dedup_seconds"], record["match_seconds"]
        tee(f"Ray, {n} worker(s): {seconds:.1f} s in all ({len(strings) / seconds:.1f} unique strings/s, "
            f"{len(lines) / seconds:.0f} corpus lines/s); read + de-duplicate {dedup:.1f} s "
            f"({dedup / len(lines) * 1e6:.0f} s per million lines); matching {match:.1f} s "
            f"({len(strings) / match:.1f} unique strings/s, {len(strings) / match / single_rate:.2f}x single process); "
            f"peak memory of a worker {record['worker_peak_mb']:.0f} MB")
    tee.save()


if __name__ == "__main__":
    main()
