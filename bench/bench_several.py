"""Strings naming several institutions (issue 12), before and after, on the held-out side of the gold sets.

    python bench/bench_several.py [--model lexical-fallback] [--side test] [--per-file 300]

Rows: the scorable rows (every gold id in the shared 51k registry, or "no match") of the test
side of each gold file: every row with several gold ids, plus up to --per-file others a file
(ror-logs-train: all). Two matcher passes over the same rows:

- before: the engine without the several-institutions detection (``Matcher(detect_several=False)``,
  the engine as it was), the curator accepting one institution (the store held one);
- after: with it (several.py), the suggested set = the institutions the string's parts name.

Reports accuracy@1 (a top-1 in any gold id is right), recall@20, no-match F1 (ror-logs-train
holds the no-match rows), set recall@20 and of the suggested set on the rows with several gold
ids, how many strings the engine says name several institutions (on rows with several gold ids
and on rows with one), and the training pairs a curator following the gold would export: how
many correct institutions end up as label-0 negatives (before: the store kept one accepted id,
so the others listed were hard negatives) and how many positives the multi rows give.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict

from _common import Tee, gold_rows, shared_registry


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="lexical-fallback", help="scorer (hub id, folder or lexical-fallback)")
    ap.add_argument("--side", choices=("train", "test"), default="test")
    ap.add_argument("--per-file", type=int, default=300)
    args = ap.parse_args()

    from affiliation_curator.engine.assemble import open_scorer
    from affiliation_curator.learning.evaluation import evaluate
    from affiliation_curator.engine.matcher import Matcher
    from affiliation_curator.engine.retrieval import Retriever

    t0 = time.perf_counter()
    registry = shared_registry()
    retriever = Retriever.for_registry(registry)
    scorer = open_scorer(args.model)
    out = Tee(f"bench_several_{args.side}_{scorer.model_id.replace('/', '_')[-40:]}")
    out(f"registry {registry.name} ({len(registry):,} institutions); scorer {scorer.model_id}; "
        f"start-up {time.perf_counter() - t0:.0f} s")

    per: dict[str, list] = defaultdict(list)
    for name, row in gold_rows(args.side, None):
        per[name].append(row)
    sample = []
    for name, rows in per.items():
        multi = [r for r in rows if len(r.ror_ids) > 1]
        rest = [r for r in rows if len(r.ror_ids) <= 1]
        sample.extend((name, r) for r in multi + (rest if name == "ror-logs-train" else rest[: args.per_file]))
    n_multi = sum(len(r.ror_ids) > 1 for _, r in sample)
    out(f"gold: {args.side} side, scorable rows only (all gold ids in the shared registry, or no match): "
        f"{len(sample):,} rows, {n_multi} with several gold ids (all of them); "
        + ", ".join(f"{n} {sum(1 for m, _ in sample if m == n)}" for n in per))
    rows = [r for _, r in sample]
    gold = [r.ror_ids for r in rows]

    results = {}
    for label, detect in (("before", False), ("after", True)):
        matcher = Matcher(registry, scorer, top_k=20, retriever=retriever, detect_several=detect)
        t = time.perf_counter()
        res = list(matcher.match_many([r.affiliation for r in rows]))
        seconds = time.perf_counter() - t
        suggested = [[c.id for c in x.several] or [c.id for c in x.candidates[:1]] for x in res]
        report = evaluate(gold, [[c.id for c in x.candidates] for x in res], [x.match for x in res],
                          matcher.threshold, None, ks=(1, 20), suggested=suggested)
        flagged_multi = sum(bool(x.several) for x, g in zip(res, gold) if len(g) > 1)
        flagged_single = sum(bool(x.several) for x, g in zip(res, gold) if len(g) == 1)
        results[label] = (res, report)
        out(f"\n{label} ({'with' if detect else 'without'} the several-institutions detection; "
            f"{len(rows) / seconds:.1f} strings/s):")
        out(f"  accuracy@1 {report.accuracy_at_1:.3f}  recall@20 {report.recall[20]:.3f}  "
            f"no-match F1 {report.no_match['f1']:.3f} (support {report.no_match['support']:.0f})")
        out(f"  rows with several gold ids ({report.n_multi}): set recall@20 {report.set_recall[20]:.3f}  "
            f"suggested set {report.suggested_set_recall:.3f}  (set recall@1 {report.set_recall[1]:.3f})")
        out(f"  said to name several institutions: {flagged_multi} of {report.n_multi} rows with several gold ids, "
            f"{flagged_single} of {sum(len(g) == 1 for g in gold)} rows with one")

    out("\ntraining pairs of the multi rows, a curator accepting the gold ids (3 hard negatives an item):")
    for label, several_ids in (("before (one accepted id per item)", False), ("after (every gold id accepted)", True)):
        wrong, positives = _pairs(results["after"][0], rows, several_ids)
        out(f"  {label}: {positives} positives; {wrong} correct institutions written as label-0 negatives")
    out.save()


def _pairs(results, rows, several_ids: bool) -> tuple[int, int]:
    """Export the multi rows' pairs from a scratch store; (gold ids labelled 0, positives)."""
    import os

    from affiliation_curator.curation.export import ExportOptions, build_pairs
    from affiliation_curator.curation.store import Store

    with tempfile.TemporaryDirectory() as scratch:
        store = Store(f"sqlite:///{os.path.join(scratch, 'bench.db')}")
        chosen = [(res, row) for res, row in zip(results, rows) if len(row.ror_ids) > 1]
        batch = store.create_batch("several", [row.affiliation for _, row in chosen])
        views = {v.affiliation: v for v in store.items(batch)}
        for res, row in chosen:
            view = views.get(row.affiliation.strip())
            if view is None:
                continue
            store.save_result(view.id, res)
            first, *rest = row.ror_ids
            store.decide(view.id, "accept", "bench", first, also=rest if several_ids else ())
        pairs = build_pairs(store, ExportOptions(batches=[batch], hard_negatives=3)).pairs
        gold = {row.affiliation.strip(): set(row.ror_ids) for _, row in chosen}
        wrong = sum(1 for p in pairs if p.label == 0 and p.institution_id in gold.get(p.query, ()))
        positives = sum(1 for p in pairs if p.label == 1)
        store.engine.dispose()
    return wrong, positives


if __name__ == "__main__":
    main()
