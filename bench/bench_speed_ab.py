"""Matching throughput of two source trees, alternated in one run: a ratio that survives a loaded machine.

    git worktree add --detach /tmp/before COMMIT        # the tree to compare with (never check out here)
    python bench/bench_speed_ab.py --tree /tmp/before --tree . [--per-file 100] [--rounds 2] [--model lexical-fallback]

Each round runs every tree once, in turn, in a fresh process: the same scorable gold strings (test side,
``--per-file`` a file), the shared 51k registry, the engine as ``build_engine`` assembles it (the lexical
scorer with the combiner that tree ships, unless ``--combiner none``). Start-up (registry, index) is not
timed; a warm-up batch is run first. Prints affiliations/s per tree and round, and each tree's median
over rounds divided by the first tree's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import BENCH_DIR, RESULTS, Tee, gold_rows


def child(tree: str, per_file: int, model: str, combiner: str) -> None:
    sys.path.insert(0, str(Path(tree).resolve()))
    from _common import shared_registry

    from affiliation_curator.engine.assemble import build_engine, open_scorer
    from affiliation_curator.engine.retrieval import Retriever

    registry = shared_registry()
    retriever = Retriever.for_registry(registry)
    matcher = build_engine(registry, model=open_scorer(model), top_k=20, n_retrieve=20, retriever=retriever,
                           combiner=combiner != "none", cascade="off")
    texts = [r.affiliation for _, r in gold_rows("test", per_file)]
    list(matcher.match_many(texts[:32], batch_size=32))  # warm-up (caches, lazy imports)
    t = time.perf_counter()
    results = list(matcher.match_many(texts, batch_size=32))
    elapsed = time.perf_counter() - t
    import affiliation_curator

    print(json.dumps({"aff_per_s": len(texts) / elapsed, "strings": len(texts), "matched": sum(r.match is not None
                      for r in results), "combiner": str(getattr(matcher.combiner, "path", None)),
                      "package": str(Path(affiliation_curator.__file__).parent)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", action="append", required=True, help="a source tree (repeat; the first is the reference)")
    ap.add_argument("--per-file", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--model", default="lexical-fallback")
    ap.add_argument("--combiner", choices=("shipped", "none"), default="shipped")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.per_file, args.model, args.combiner)
        return
    out = Tee("bench_speed_ab")
    speeds: dict[str, list[float]] = {t: [] for t in args.tree}
    env = {**os.environ, "AFFILIATION_CURATOR_HOME": os.environ.get("AFFILIATION_CURATOR_HOME", str(RESULTS / "home"))}
    for r in range(args.rounds):
        for tree in args.tree:
            proc = subprocess.run([sys.executable, str(BENCH_DIR / "bench_speed_ab.py"), "--tree", tree, "--child", tree,
                                   "--per-file", str(args.per_file), "--model", args.model, "--combiner", args.combiner],
                                  env=env, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"{tree} failed:\n{proc.stderr[-3000:]}")
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            speeds[tree].append(res["aff_per_s"])
            out(f"round {r + 1} {tree}: {res['aff_per_s']:.1f} affiliations/s ({res['strings']} strings, "
                f"{res['matched']} matched; combiner {res['combiner']}; package {res['package']})")
    ref = statistics.median(speeds[args.tree[0]])
    for tree, vals in speeds.items():
        med = statistics.median(vals)
        out(f"{tree}: median {med:.1f} affiliations/s, {med / ref:.2f}x the first tree")
    out.save()


if __name__ == "__main__":
    main()
