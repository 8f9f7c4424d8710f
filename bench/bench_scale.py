"""Matching at full-ROR scale: index build, index load, search and end-to-end speed, peak memory.

    python bench/bench_scale.py [--scale 2.3] [--strings 300] [--model lexical-fallback]

A full ROR dump holds ~120k institutions (~350k names); ../shared holds 51,370. This builds a
synthetic dump ``--scale`` times the shared one (its records again under new ids, as
bench_registry.py does), imports it into a fresh data directory, and then, each in a fresh
process so the peak memory is that step's own:

- build: the retrieval index built from scratch (and cached in the registry folder);
- serve: what an app start pays (registry load + cached index load), then first-stage search
  over held-out gold strings, then end-to-end matching (retrieval + reranking + evidence) of the
  same strings with ``--model`` (default: the lexical scorer, so the figure is the engine's own).

The copies make every name occur several times, so ranking quality is not measured here
(bench_matching.py does that on the real registry); only time and memory are.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from _common import PROJECT_DIR, UNION, gold_rows, peak_rss_mb, run_child  # noqa: E402


def child_build() -> dict:
    from affiliation_curator.registry import RegistryCatalog
    from affiliation_curator.engine.retrieval import Retriever

    registry = RegistryCatalog().load("scale")
    start = time.perf_counter()
    retriever = Retriever.for_registry(registry)
    built = time.perf_counter() - start
    names = sum(len(inst.names) for inst in registry)
    del retriever
    return {"institutions": len(registry), "names": names, "build_seconds": built, "peak_mb": peak_rss_mb()}


def child_serve(strings: list[str], model: str) -> dict:
    from affiliation_curator.engine.assemble import build_engine
    from affiliation_curator.registry import RegistryCatalog
    from affiliation_curator.engine.reranker import load_scorer
    from affiliation_curator.engine.retrieval import Retriever

    start = time.perf_counter()
    registry = RegistryCatalog().load("scale")
    loaded = time.perf_counter()
    retriever = Retriever.for_registry(registry)
    index_loaded = time.perf_counter()
    t0 = time.perf_counter()
    for text in strings:
        retriever.search(text, k=20)
    search_seconds = time.perf_counter() - t0
    matcher = build_engine(registry, model=load_scorer(model), retriever=retriever)
    t0 = time.perf_counter()
    results = list(matcher.match_many(strings))
    match_seconds = time.perf_counter() - t0
    return {
        "registry_load_seconds": loaded - start, "index_load_seconds": index_loaded - loaded,
        "search_ms": 1000 * search_seconds / len(strings), "match_per_second": len(results) / match_seconds,
        "scorer": matcher.scorer.model_id, "peak_mb": peak_rss_mb(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=2.3, help="size of the synthetic dump, times the shared one")
    ap.add_argument("--strings", type=int, default=300, help="held-out gold strings searched and matched")
    ap.add_argument("--model", default="lexical-fallback", help="reranker for the end-to-end figure")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        mode, *rest = args.child
        if mode == "build":
            result = child_build()
        else:
            strings = json.loads(Path(rest[0]).read_text(encoding="utf-8"))
            result = child_serve(strings, rest[1])
        print(json.dumps(result))
        return

    if not UNION.is_file():
        sys.exit(f"shared data not found: {UNION}")
    from bench_registry import make_scaled

    rows = gold_rows("test", per_file=None, seed=1)
    strings = [row.affiliation for _name, row in rows][: args.strings]
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        tmp_path = Path(tmp)
        dump = tmp_path / "scaled.json.gz"
        count = make_scaled(UNION, args.scale, dump)
        home = tmp_path / "home"
        env = {**os.environ, "AFFILIATION_CURATOR_HOME": str(home), "PYTHONPATH": str(PROJECT_DIR)}
        subprocess.run([sys.executable, "-m", "affiliation_curator", "registry", "import", str(dump), "--name", "scale"],
                       env=env, check=True, capture_output=True)
        (tmp_path / "strings.json").write_text(json.dumps(strings), encoding="utf-8")
        build = run_child(__file__, home, "build")
        serve = run_child(__file__, home, "serve", str(tmp_path / "strings.json"), args.model)

    print(f"synthetic registry: {count:,} institutions ({args.scale}x the shared {UNION.name}), "
          f"{build['names']:,} names")
    print(f"index build  : {build['build_seconds']:.1f} s from scratch (cached afterwards), peak RSS {build['peak_mb']:.0f} MB")
    print(f"app start    : registry {serve['registry_load_seconds']:.2f} s + cached index "
          f"{serve['index_load_seconds']:.2f} s")
    print(f"search       : {serve['search_ms']:.1f} ms a string (first stage, k=20, {len(strings)} held-out gold strings)")
    print(f"end-to-end   : {serve['match_per_second']:.1f} affiliations/s with {serve['scorer']}, "
          f"peak RSS {serve['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
