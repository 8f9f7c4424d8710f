"""Learning curve: how much do N curated strings improve the reranker?

    python bench/bench_learning_curve.py [--base DIR] [--sizes 100,300,1000] [--test 300] [--max-steps 300]

Simulated curators: scorable gold rows (every gold id in the shared registry, or "no match")
from the TRAIN side of ``gold.split``, taken round-robin from the four gold files so every size
mixes them. The strings are imported as decisions (``decisions_import.import_decisions``: each
is ranked by the starting model, as a curator would have seen it, and its known answer recorded
as an accept or "none of these"), in three nested batches so N = 100, 300, 1000 reuse the same
strings. For each N the curated pairs (``finetune.curated_training_data``: accepted = 1,
3 hard negatives per accept, "none of these" candidates = 0) fine-tune the starting model
(``finetune.finetune``, the Train page's run), and the new model is measured on a fixed sample
of TEST-side strings (scorable rows, the same per-file share; never trained on) with the
retriever + reranker (``curated_eval.evaluate_rows``; no learned combiner on either side, so
the reranker alone changes). Printed: accuracy@1 and no-match F1 (at each model's own
threshold) before/after, and the CPU seconds of each fine-tune (whole run and the training
loop). Numbers are on the partial shared registry (51k of ~120k ROR records): they run high.
Saved to bench/results/bench_learning_curve.txt (``--tag T``: bench_learning_curve_T.txt).

Measured 2026-11-27 (2 shared CPU cores; acc@1 varies by about 0.015 between identical runs,
training uses a varying number of threads), 300 test strings (53 no match):
- from minilm-affiliations-v1 (already trained on the gold train side): acc@1 0.891 before;
  after N = 100 / 300 / 1000: 0.854 / 0.862 / 0.870; no-match F1 0.797 -> 0.56 / 0.51 / 0.48;
  fine-tune CPU 21 / 55 / 166 s (32 / 95 / 300 steps of 16). Curated pairs alone pull the
  model away from what it knew, and ``finetune`` calibrates threshold and retrieval blend on
  60 synthetic registry queries only, which costs no-match F1. With --registry-queries 300
  --lr 2e-5: 0.850 / 0.879 / 0.891, no-match F1 0.57 / 0.60 / 0.71.
- from the packaged all-MiniLM-L6-v2 (fresh head, --base ""): 0.247 before; 0.818 / 0.757 /
  0.842 after; no-match F1 0.157 -> 0.66 / 0.76 / 0.72; CPU 20 / 54 / 158 s.
"""

from __future__ import annotations

import argparse
import inspect
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import GOLD_FILES, SHARED, Tee, shared_registry  # noqa: E402

DEFAULT_BASE = Path("/work/models/minilm-affiliations-v1")


def round_robin(lists: list[list]) -> list:
    out, i = [], 0
    while any(i < len(lst) for lst in lists):
        out.extend(lst[i] for lst in lists if i < len(lst))
        i += 1
    return out


def side_rows(side: str, seed: int) -> list[list]:
    """Per gold file: its scorable rows of one side of the split, shuffled (seeded)."""
    from affiliation_curator.curation.gold import read_gold, split

    out = []
    for name in GOLD_FILES:
        train, test = split(read_gold(SHARED / "gold" / f"{name}.jsonl"))
        rows = [r for r in (train if side == "train" else test) if r.scorable and r.affiliation.strip()]
        random.Random(seed).shuffle(rows)
        out.append(rows)
    return out


def make_matcher(registry, scorer, retriever):
    from affiliation_curator.engine.matcher import Matcher

    extra = {"combiner": None} if "combiner" in inspect.signature(Matcher).parameters else {}
    return Matcher(registry, scorer=scorer, retriever=retriever, **extra)


def measure(matcher, rows, other_threshold: float | None = None) -> dict[str, float]:
    """accuracy@1 and no-match F1 at the matcher's threshold (and no-match F1 at ``other_threshold``)."""
    from affiliation_curator.learning.curated_eval import evaluate_rows

    run = evaluate_rows(matcher, rows, source="test sample")
    s = run.summary()
    out = {"acc1": s["accuracy@1"], "nm_f1": s["no-match F1"], "threshold": s["threshold"],
           "rows": s["rows"], "seconds": run.seconds}
    if other_threshold is not None:
        out["nm_f1_other"] = run.summary(other_threshold)["no-match F1"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=str(DEFAULT_BASE) if DEFAULT_BASE.is_dir() else "",
                        help="starting model folder (default: /work/models/minilm-affiliations-v1 when present, "
                             "else the packaged all-MiniLM-L6-v2 with a fresh head)")
    parser.add_argument("--sizes", default="100,300,1000", help="numbers of curated strings (nested)")
    parser.add_argument("--test", type=int, default=300, help="test-side strings measured (same number per gold file)")
    parser.add_argument("--max-steps", type=int, default=300, help="most training steps per fine-tune")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--registry-queries", type=int, default=0,
                        help="synthetic registry queries mixed into each fine-tune (the Train page's option; default 0)")
    parser.add_argument("--validation-share", type=float, default=0.0,
                        help="share of the curated strings held out (the Train page's default is 0.2); with 20 or "
                             "more held-out strings the new model's threshold and blend are calibrated on them")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--tag", default="", help="suffix of the results file (bench_learning_curve_TAG.txt)")
    args = parser.parse_args()

    from affiliation_curator.curation.decisions_import import KnownAnswer, import_decisions
    from affiliation_curator.learning.finetune import PACKAGED_BASE_LABEL, _base_scorer, curated_training_data, finetune
    from affiliation_curator.engine.reranker import load_cross_encoder
    from affiliation_curator.engine.retrieval import Retriever
    from affiliation_curator.curation.store import Store

    out = Tee("bench_learning_curve" + (f"_{args.tag}" if args.tag else ""))
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    base = args.base or None
    t0 = time.monotonic()
    registry = shared_registry()
    retriever = Retriever.for_registry(registry)
    out(f"registry {registry.name}: {len(registry):,} institutions (partial ROR: figures run high); "
        f"starting model: {base or PACKAGED_BASE_LABEL}")

    train_pool = round_robin(side_rows("train", args.seed))[: sizes[-1]]
    per_file = max(1, args.test // len(GOLD_FILES))
    test_rows = [r for rows in side_rows("test", args.seed + 1) for r in rows[:per_file]]
    train_texts = {r.affiliation.strip().lower() for r in train_pool}
    assert not any(r.affiliation.strip().lower() in train_texts for r in test_rows), "a string on both sides"
    out(f"train-side pool: {len(train_pool)} strings ({sum(r.is_no_match for r in train_pool)} no match); "
        f"test sample: {len(test_rows)} strings ({per_file} per gold file, {sum(r.is_no_match for r in test_rows)} "
        "no match); scorable rows only")

    base_scorer = load_cross_encoder(base, reuse=False) if base else _base_scorer(None, args.seed)
    base_matcher = make_matcher(registry, base_scorer, retriever)
    before = measure(base_matcher, test_rows)
    out(f"before: acc@1 {before['acc1']:.3f}, no-match F1 {before['nm_f1']:.3f} at threshold {before['threshold']:.3f} "
        f"({before['seconds']:.0f} s to match; retrieval weight {float(getattr(base_scorer, 'retrieval_weight', 0) or 0):.1f})")

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-learning-curve-") as scratch:
        store = Store(f"sqlite:///{Path(scratch) / 'curator.db'}")
        batch_names, start = [], 0
        for n in sizes:  # nested batches: N = 300 is the first 100 plus the next 200, ...
            chunk = train_pool[start:n]
            answers = [KnownAnswer(r.affiliation, r.ror_ids[0] if r.ror_ids else None, r.ror_ids[1:]) for r in chunk]
            t = time.monotonic()
            report = import_decisions(store, answers, f"gold-train-{start + 1}-{n}", "simulated curator",
                                      matcher=base_matcher, registry=registry, source="bench_learning_curve")
            batch_names.append(report.batch_name)
            out(f"recorded strings {start + 1}-{n}: {report.accepted} accepted, {report.none} none of these; "
                f"answer among the candidates for {report.answer_in_candidates}/{report.accepted} "
                f"({time.monotonic() - t:.0f} s to rank)")
            start = n
            data = curated_training_data(store, registry, batches=list(batch_names),
                                         validation_share=args.validation_share,
                                         hard_negatives=3, seed=args.seed)
            cpu0, wall0 = time.process_time(), time.monotonic()
            fit = finetune(data, registry, Path(scratch) / f"model-{n}", base_model=base, epochs=args.epochs,
                           max_steps=args.max_steps, batch_size=args.batch_size, learning_rate=args.lr,
                           registry_queries=args.registry_queries, seed=args.seed)
            cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
            after = measure(make_matcher(registry, load_cross_encoder(fit.out_dir, reuse=False), retriever), test_rows,
                            before["threshold"])
            row = {"n": n, "pairs": len(data.train), "steps": fit.steps, "cpu": cpu,
                   "weight": float(fit.training.get("retrieval_weight", 0.0) or 0.0),
                   "train_cpu": float(fit.training.get("train_seconds_cpu", 0.0)), "wall": wall, **{
                       f"after_{k}": v for k, v in after.items()}}
            results.append(row)
            out(f"N={n}: {row['pairs']} pairs, {row['steps']} steps, {cpu:.0f} CPU s ({wall:.0f} s wall); "
                f"acc@1 {after['acc1']:.3f}, no-match F1 {after['nm_f1']:.3f} at threshold {after['threshold']:.3f} "
                f"({after['nm_f1_other']:.3f} at the starting model's {before['threshold']:.3f}); "
                f"calibrated retrieval weight {row['weight']:.1f}")

    out("")
    out(f"Learning curve on {len(test_rows)} test-side strings (scorable rows of the 4 gold files, {per_file} each; "
        f"registry {registry.name}, partial: figures run high)")
    out(f"starting model: {base or PACKAGED_BASE_LABEL}; fine-tune: {args.epochs:g} epoch(s), at most "
        f"{args.max_steps} steps of {args.batch_size} pairs, learning rate {args.lr:g}; 3 hard negatives per accept; "
        f"{args.registry_queries} synthetic registry queries")
    header = f"{'N':>5} {'pairs':>6} {'steps':>5} {'acc@1 before':>12} {'acc@1 after':>11} " \
             f"{'NM-F1 before':>12} {'NM-F1 after':>11} {'NM-F1 after@base thr':>20} {'CPU s (run)':>11} {'CPU s (train)':>13}"
    out(header)
    for r in results:
        out(f"{r['n']:>5} {r['pairs']:>6} {r['steps']:>5} {before['acc1']:>12.3f} {r['after_acc1']:>11.3f} "
            f"{before['nm_f1']:>12.3f} {r['after_nm_f1']:>11.3f} {r['after_nm_f1_other']:>20.3f} {r['cpu']:>11.0f} {r['train_cpu']:>13.0f}")
    out(f"(no-match F1 at each model's own threshold: before {before['threshold']:.3f}, after "
        + ", ".join(f"N={r['n']} {r['after_threshold']:.3f}" for r in results)
        + f"; CPU s: process CPU time incl. calibration / training loop only; total {time.monotonic() - t0:.0f} s wall)")
    out.save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
