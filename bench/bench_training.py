"""Evaluate a reranker model on the test side of the shared gold sets (and time matching).

    python bench/bench_training.py --model DIR [--registry R] [--limit 400] [--no-quantize]

For each gold file in ../shared/data/gold: the test side of ``gold.split`` (never trained on),
rows whose gold ids are all in the registry plus the "no match" rows (numbers on a partial
registry run high: it has fewer look-alikes). The Matcher (retriever + this model) matches
them; printed per file: rows, accuracy@1, recall@20 (the retriever's ceiling), no-match
precision/recall/F1 and auto-accept precision/coverage at the model's threshold, and the
end-to-end affiliations/s (fresh score cache, so every pair is really scored).
Figures are saved as JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
REGISTRY = SHARED / "ror" / "ror-union-2026-06-23.json.gz"


def main() -> int:
    from affiliation_curator.engine.calibration import Outcome, metrics_at
    from affiliation_curator.curation.gold import read_gold, split
    from affiliation_curator.engine.assemble import build_engine
    from affiliation_curator.registry import RegistryCatalog
    from affiliation_curator.engine.reranker import load_scorer
    from affiliation_curator.engine.retrieval import Retriever

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model folder or id (load_scorer)")
    parser.add_argument("--registry", default=str(REGISTRY), help="registry name or file (default: the shared 51k ROR)")
    parser.add_argument("--limit", type=int, default=400, help="most test rows per gold file (random sample; 0 = all)")
    parser.add_argument("--no-quantize", action="store_true", help="score in float32 on CPU")
    parser.add_argument("--threshold", type=float, help="decision threshold (default: the model's)")
    args = parser.parse_args()
    if args.no_quantize:
        os.environ["AFFILIATION_CURATOR_QUANTIZE"] = "0"

    t0 = time.perf_counter()
    registry = RegistryCatalog().resolve(args.registry)
    retriever = Retriever.for_registry(registry)
    print(f"registry {registry.name}: {len(registry)} institutions ({time.perf_counter() - t0:.1f} s)", flush=True)
    present = {inst.id for inst in registry}
    results = {"model": args.model, "registry": registry.name, "files": {}}
    all_outcomes: list[Outcome] = []
    total_rows = total_seconds = 0.0
    for path in sorted((SHARED / "gold").glob("*.jsonl")):
        rows = [r for r in split(read_gold(path))[1] if r.answerable_in(present)]
        if args.limit and len(rows) > args.limit:
            rows = random.Random(0).sample(rows, args.limit)
        scorer = load_scorer(args.model, reuse=False, persist_cache=False)  # fresh cache: every pair is scored
        threshold = args.threshold if args.threshold is not None else scorer.threshold
        matcher = build_engine(registry, model=scorer, retriever=retriever, threshold=threshold)
        start = time.perf_counter()
        matched = list(matcher.match_many([r.affiliation for r in rows], batch_size=32))
        seconds = time.perf_counter() - start
        total_rows += len(rows)
        total_seconds += seconds
        outcomes = []
        recall = 0
        for row, res in zip(rows, matched):
            top = res.candidates[0] if res.candidates else None
            outcomes.append(Outcome(top.score if top else None, bool(top and top.id in row.ror_ids), row.is_no_match, path.stem))
            recall += bool(row.ror_ids) and any(c.id in row.ror_ids for c in res.candidates)
        all_outcomes += outcomes
        m = metrics_at(outcomes, threshold)
        matchable = sum(bool(r.ror_ids) for r in rows)
        entry = {**m.to_dict(), "recall_at_candidates": round(recall / matchable, 4) if matchable else None,
                 "no_match_rows": len(rows) - matchable, "affiliations_per_s": round(len(rows) / seconds, 2),
                 "scorer": scorer.describe()}
        results["files"][path.stem] = entry
        print(f"{path.stem:<28} {len(rows):>5} rows ({len(rows) - matchable} no-match): acc@1 {m.acc_at_1:.3f} "
              f"(candidates hold the answer: {entry['recall_at_candidates']}), no-match P/R/F1 "
              f"{m.no_match_precision:.3f}/{m.no_match_recall:.3f}/{m.no_match_f1:.3f}, at threshold {threshold:.3f}: "
              f"precision {m.precision:.3f}, coverage {m.coverage:.3f}; {len(rows) / seconds:.1f} aff/s", flush=True)
    overall = metrics_at(all_outcomes, results["files"] and list(results["files"].values())[0]["threshold"])
    results["overall"] = {**overall.to_dict(), "affiliations_per_s": round(total_rows / total_seconds, 2)}
    print(f"{'all files':<28} {overall.rows:>5} rows: acc@1 {overall.acc_at_1:.3f}, precision {overall.precision:.3f}, "
          f"coverage {overall.coverage:.3f}, no-match F1 {overall.no_match_f1:.3f}; "
          f"{total_rows / total_seconds:.1f} affiliations/s end to end ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})")
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"model-eval-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
