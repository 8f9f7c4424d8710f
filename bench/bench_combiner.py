"""The learned second stage (affiliation_curator/engine/combiner.py): error analysis, cross-validation, fitting.

    python bench/bench_combiner.py --dump   [--model M] [--side train]   # retrieve + rerank once, cache
    python bench/bench_combiner.py --errors [--model M]                  # categorise today's acc@1 errors
    python bench/bench_combiner.py --cv     [--model M] [--kind hgb]     # 5-fold CV on the train side
    python bench/bench_combiner.py --cv --relative                       # + list-relative evidence (experiment)
    python bench/bench_combiner.py --dump --absent && python bench/bench_combiner.py --cv --absent
                                      # strings whose institutions the registry lacks fitted as "no match"?
    python bench/bench_combiner.py --fit    [--model M] [--out PATH]     # fit on the train side and store (JSON + card)
    python bench/bench_combiner.py --score --side test --combiner-file F  # a stored combiner on a dump, once
    python bench/bench_combiner.py --dump --side test --absent             # also: strings whose institutions
    python bench/bench_combiner.py --score --side test --absent --combiner-file F  # the registry lacks, as "no match"

The lexical combiner that ships (affiliation_curator/artifacts/lexical-combiner.json, card beside
it) was made with the product's command (`python -m affiliation_curator model fit-combiner`, see its
card) or, from the same train-side rows cached once:

    python bench/bench_combiner.py --dump && python bench/bench_combiner.py --fit --kind hgb \
        --out affiliation_curator/artifacts/lexical-combiner.json
    python bench/bench_combiner.py --dump --model /work/models/minilm-affiliations-v1 --ce-rows unseen
    python bench/bench_combiner.py --fit --model /work/models/minilm-affiliations-v1 --ce-rows unseen \
        --kind hgb --stack
        # -> combiner.json in the model folder (needs the lexical dump above for --stack)

Rows: the scorable rows (all gold ids in the shared registry, or "no match") of the TRAIN side
of gold.split; with a cross-encoder (--model FOLDER) only strings it never trained on: those its
training held out (learning.pairs.is_heldout; default) or, with --ce-rows unseen, also those its
--gold-rows sample left out (re-drawn with the card's seed), since its scores on strings it was
trained on are too good. --fit stores the combiner (JSON, combiner_json.py) where the Matcher finds it: ``combiner.json``
in the model folder, or ``lexical-combiner.json`` in the data dir's models folder for the lexical
fallback (--out to write elsewhere). Its scores are calibrated (isotonic, out-of-fold) to the
probability that the top candidate is right and its accept threshold chosen on those scores
(combiner_fit.fit_calibrated). The files hold weights only (no gold rows); the lexical one ships
with its card, a cross-encoder's stays with its model.
"""

from __future__ import annotations

import argparse
import pickle
import time
from collections import Counter, defaultdict

import numpy as np
from _common import RESULTS, UNION, Tee, gold_rows, shared_registry


def dump_path(model_id: str, side: str, rows: str = "heldout", absent: bool = False):
    tag = model_id.replace("/", "_")[-40:]
    extra = "" if rows == "heldout" or model_id == "lexical-fallback" else f"-{rows}"
    extra += "-absent" if absent else ""
    return RESULTS / "home" / f"combiner-dump-{tag}-{side}{extra}.pkl"


def ce_trained_strings(max_rows: int, seed: int) -> set[str]:
    """The gold strings training.gold_pairs sampled for the cross-encoder (same rows, same seed)."""
    import random

    from affiliation_curator.curation.gold import read_gold, split
    from affiliation_curator.learning.pairs import CALIBRATION_SHARE, is_heldout
    from _common import SHARED, GOLD_FILES

    by_id = {inst.id for inst in shared_registry()}
    out: set[str] = set()
    for name in GOLD_FILES:
        rows = split(read_gold(SHARED / "gold" / f"{name}.jsonl"))[0]
        usable = [r for r in rows if r.answerable_in(by_id)]
        train = [r for r in usable if not is_heldout(r.affiliation, CALIBRATION_SHARE)]
        if len(train) > max_rows:
            train = random.Random(seed).sample(train, max_rows)
        out.update(r.affiliation for r in train)
    return out


def load_setup(args):
    from affiliation_curator.engine.assemble import build_engine, open_scorer
    from affiliation_curator.engine.retrieval import Retriever

    registry = shared_registry()
    retriever = Retriever.for_registry(registry)
    scorer = open_scorer(args.model or "lexical-fallback")
    matcher = build_engine(registry, model=scorer, top_k=args.n_retrieve, n_retrieve=args.n_retrieve,
                      retriever=retriever, n_rerank=args.n_rerank, rerank_margin=args.rerank_margin, combiner=False,
                      cascade="off")
    return registry, scorer, matcher


def select_rows(side: str, lexical: bool, per_file: int | None, args=None):
    from affiliation_curator.learning.pairs import CALIBRATION_SHARE, is_heldout

    rows = gold_rows(side, per_file if lexical else None, absent=bool(args is not None and args.absent))
    if not lexical and side == "train":  # only strings the cross-encoder never trained on
        if args is not None and args.ce_rows == "unseen":
            trained = ce_trained_strings(args.ce_gold_rows, args.ce_seed)
            rows = [(n, r) for n, r in rows if r.affiliation not in trained]
        else:
            rows = [(n, r) for n, r in rows if is_heldout(r.affiliation, CALIBRATION_SHARE)]
        if per_file:
            kept, count = [], Counter()
            for n, r in rows:
                if count[n] < per_file:
                    kept.append((n, r))
                    count[n] += 1
            rows = kept
    return rows


def do_dump(args, out):
    from affiliation_curator.text import sanitize

    _registry, scorer, matcher = load_setup(args)
    rows = select_rows(args.side, matcher.lexical, args.per_file, args)
    out(f"dump: {len(rows)} rows ({', '.join(f'{k} {v}' for k, v in Counter(n for n, _ in rows).items())}), "
        f"scorer {scorer.model_id}, retrieve {args.n_retrieve}, rerank at most {args.n_rerank}")
    texts = [sanitize(r.affiliation)[0] or r.affiliation for _, r in rows]
    t = time.perf_counter()
    examined = []
    for start in range(0, len(texts), 64):
        examined.extend(matcher.examine(texts[start:start + 64]))
    out(f"examined in {time.perf_counter() - t:.0f} s")
    data = {"model": scorer.model_id, "side": args.side, "rows": [
        {"source": n, "affiliation": t, "gold": list(r.ror_ids), "found": f, "rerank": rr, "examined": ex}
        for (n, r), t, (f, rr, ex) in zip(rows, texts, examined)]}
    path = dump_path(scorer.model_id, args.side, args.ce_rows, args.absent)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(data, f)
    out(f"saved {path}")


def load_dump(args, absent: bool = False):
    model_id = args.model or "lexical-fallback"
    if args.model:
        from pathlib import Path

        model_id = str(Path(args.model).expanduser().resolve())
    path = dump_path(model_id, args.side, getattr(args, "ce_rows", "heldout"), absent)
    if not path.is_file():
        raise SystemExit(f"no dump at {path}: run --dump first with the same --model and --side"
                         + (" and --absent" if absent else ""))
    with open(path, "rb") as f:
        return pickle.load(f)


def build_lists(data, registry, use_rerank: bool):
    from affiliation_curator.engine.combiner import LabelledList, candidate_features, country_sizes

    by_id = {inst.id: inst for inst in registry}
    sizes = country_sizes(registry)
    lists = []
    for row in data["rows"]:
        found = row["found"]
        rr = row["rerank"] if use_rerank else [None] * len(found)
        x = candidate_features(row["affiliation"], found, rr, by_id, country_sizes=sizes)
        gold = set(row["gold"])
        y = np.array([c.institution_id in gold for c in found], dtype=np.int64)
        lists.append(LabelledList(x, y, row["source"], not gold))
    return lists, by_id


def baseline_scores(data, weight: float, lexical: bool):
    """Today's Matcher score of each candidate (blend of reranker and retrieval score)."""
    out = []
    for row in data["rows"]:
        found, rr, ex = row["found"], row["rerank"], row["examined"]
        vals = [c.score if lexical else (1 - weight) * (r or 0.0) + weight * c.score for c, r in zip(found, rr)]
        done = [v for v, e in zip(vals, ex) if e]
        floor = min(done) if done else None
        out.append(np.array([v if e else 0.5 * min(floor if floor is not None else c.score, c.score)
                             for c, v, e in zip(found, vals, ex)]))
    return out


def summarise(out, label, data, scores, threshold=None):
    """acc@1 / recall@5 / no-match F1 per source (ties keep retrieval order), with a calibrated threshold."""
    from affiliation_curator.engine.calibration import Outcome, calibrate_threshold, metrics_at

    outcomes = []
    per = defaultdict(list)
    for row, s in zip(data["rows"], scores):
        gold = set(row["gold"])
        order = np.argsort(-s, kind="stable") if len(s) else []
        ids = [row["found"][i].institution_id for i in order]
        top = float(s[order[0]]) if len(s) else None
        o = Outcome(top, bool(ids and ids[0] in gold), not gold, row["source"])
        outcomes.append(o)
        per[row["source"]].append((gold, ids, o))
    cal = calibrate_threshold(outcomes) if threshold is None else metrics_at(outcomes, threshold)
    t = cal.threshold
    parts = []
    allm = [(g, ids) for v in per.values() for g, ids, _ in v if g]
    acc = np.mean([bool(ids) and ids[0] in g for g, ids in allm])
    r5 = np.mean([bool(g & set(ids[:5])) for g, ids in allm])
    for src, v in sorted(per.items()):
        m = [(g, ids) for g, ids, _ in v if g]
        a = np.mean([bool(ids) and ids[0] in g for g, ids in m]) if m else float("nan")
        extra = ""
        if any(not g for g, _, _ in v):
            mm = metrics_at([o for _, _, o in v], t)
            extra = f" nm-F1 {mm.no_match_f1:.3f}"
        parts.append(f"{src.split('-')[0]} {a:.3f}{extra}")
    out(f"{label}: acc@1 {acc:.3f} recall@5 {r5:.3f} | " + " | ".join(parts)
        + f" | threshold {t:.3f} decision acc {cal.decision_accuracy:.3f}")
    return cal


def model_created(model_id: str) -> str | None:
    """The model card's creation time (the Matcher checks it: a retrained model needs a new combiner)."""
    import json
    from pathlib import Path

    try:
        return json.loads((Path(model_id) / "curator.json").read_text(encoding="utf-8")).get("created")
    except (OSError, ValueError):
        return None


def fit_base(args, out, exclude: set[str]):
    """The lexical combiner fitted on the lexical dump's rows other than ``exclude`` (for stacking)."""
    from affiliation_curator.engine import combiner as cb

    class Lex:
        model = None
        side = args.side
        ce_rows = "heldout"

    data = load_dump(Lex)
    keep = [r for r in data["rows"] if r["affiliation"] not in exclude]
    lists, _ = build_lists({"rows": keep}, shared_registry(), False)
    t = time.perf_counter()
    model = cb.fit(lists, kind=args.base_kind)
    out(f"stacking: base combiner ({args.base_kind}, no reranker) fitted on {len(lists)} lexical-dump rows "
        f"not among these, in {time.perf_counter() - t:.0f} s")
    return cb.Combiner(model, uses_reranker=False, meta={"rows": len(lists), "kind": args.base_kind})


def stacked(lists, base):
    from affiliation_curator.engine import combiner as cb

    return [cb.LabelledList(np.hstack([ll.x, base.predict(cb.without_rerank(ll.x))[:, None]]) if len(ll.x) else
                            np.zeros((0, ll.x.shape[1] + 1)), ll.y, ll.source, ll.no_match) for ll in lists]


RELATIVE = ("abbr_part_exact", "abbr_part_f1", "abbr_name_written", "abbr_name_covered", "best_name_seg_ratio",
            "abbr_display_f1")


def with_relative(lists):
    """An experiment (--cv --relative), not in the shipped combiner: for each evidence feature of RELATIVE,
    the best value in the string's list minus this candidate's. A pointwise model sees "this name is
    written in the string"; a curator also sees "another candidate's name is written, whole"
    ("University of New South Wales": UNSW, not the University of South Wales)."""
    from affiliation_curator.engine import combiner as cb

    idx = [cb.FEATURES.index(f) for f in RELATIVE]
    out = []
    for ll in lists:
        x = ll.x
        if len(x):
            x = np.column_stack([x] + [x[:, i].max() - x[:, i] for i in idx])
        out.append(cb.LabelledList(x, ll.y, ll.source, ll.no_match))
    return out


HAND_LABELLED = {"s2aff-train", "ror-logs-train"}  # not publisher-asserted: see --absent-is-no-match


def absent_lists(args, registry, use_rerank: bool):
    """The strings labelled only with institutions the registry lacks (the --absent dump), as "no match" lists."""
    by_id = {inst.id for inst in registry}
    extra = load_dump(args, absent=True)
    extra["rows"] = [r for r in extra["rows"] if not any(g in by_id for g in r["gold"])]  # none of them in it
    for row in extra["rows"]:
        row["gold"] = []
    return build_lists(extra, registry, use_rerank)[0]


def cv_absent(args, out, data, registry):
    """--cv --absent: strings labelled with institutions the registry lacks, fitted as "no match" or not;
    figures on the labelled rows (out-of-fold) and on the hand-labelled files with those strings added
    (out-of-fold where they were fitted, else scored by the variant's model fitted on all its rows)."""
    from affiliation_curator.engine import combiner as cb
    from affiliation_curator.engine.calibration import calibrate_threshold, metrics_at
    from affiliation_curator.learning.combiner_fit import calibrated_out_of_fold, top_outcomes

    hand = HAND_LABELLED
    lists, _ = build_lists(data, registry, False)
    absent = absent_lists(args, registry, False)
    hand_absent = [ll for ll in absent if ll.source in hand]
    for label, fitted in (("labelled rows only (as shipped)", []), ("+ hand-labelled absent strings", hand_absent),
                          (f"+ all {len(absent)} absent strings", absent)):
        t0 = time.perf_counter()
        rows = lists + fitted
        cal, curve = calibrated_out_of_fold(rows, kind=args.kind)
        o_all = top_outcomes(rows, cal)
        chosen = calibrate_threshold(o_all)
        t95 = calibrate_threshold(o_all, method="precision", target_precision=0.95).threshold
        o = o_all[:len(lists)]
        if fitted:
            oa = [x for x in o_all[len(lists):] if x.source in hand]
        else:
            model = cb.fit(rows, kind=args.kind, seed=0)
            oa = top_outcomes(hand_absent, [curve.map(model.predict_proba(ll.x)[:, 1]) if len(ll.x) else np.zeros(0)
                                            for ll in hand_absent])
        acc = np.mean([x.top_correct for x in o if not x.is_no_match])
        m, c = metrics_at(o, chosen.threshold), metrics_at(o, t95)
        hand_o = [x for x in o if x.source in hand]
        mh, mha = metrics_at(hand_o, chosen.threshold), metrics_at(hand_o + oa, chosen.threshold)
        out(f"{label} ({time.perf_counter() - t0:.0f} s): acc@1 {acc:.4f}, no-match F1 {m.no_match_f1:.3f} "
            f"(P {m.no_match_precision:.3f} R {m.no_match_recall:.3f}), coverage {c.coverage:.3f} at precision "
            f"{c.precision:.3f} (threshold {t95:.3f}); hand-labelled files: no-match F1 {mh.no_match_f1:.3f}, "
            f"with their {len(hand_absent)} absent strings {mha.no_match_f1:.3f}")


def do_cv(args, out):
    from affiliation_curator.engine import combiner as cb

    data = load_dump(args)
    registry = shared_registry()
    lexical = data["model"] == "lexical-fallback"
    out(f"cv: {len(data['rows'])} rows ({', '.join(f'{k} {v}' for k, v in Counter(r['source'] for r in data['rows']).items())}), "
        f"scorer {data['model']}")
    if args.absent:
        cv_absent(args, out, data, registry)
        return
    summarise(out, "today's score", data, baseline_scores(data, args.weight, lexical))
    variants = [("no reranker", False)] if lexical else [("no reranker", False), ("with reranker", True)]
    if args.relative:
        variants.append(("no reranker, with list-relative evidence", False))
    if args.stack and not lexical:
        variants.append(("with reranker, stacked on the lexical combiner", True))
        base = fit_base(args, out, {r["affiliation"] for r in data["rows"]})
    for label, use in variants:
        lists, _ = build_lists(data, registry, use)
        if "stacked" in label:
            lists = stacked(lists, base)
        if "list-relative" in label:
            lists = with_relative(lists)
        for kind in args.kind.split(","):
            t = time.perf_counter()
            oof = cb.out_of_fold(lists, folds=5, kind=kind)
            summarise(out, f"combiner {kind}, {label} (5-fold OOF, {time.perf_counter() - t:.0f} s)", data, oof)


def do_fit(args, out):
    """Fit on the dump as `model fit-combiner` does (combiner_fit: out-of-fold, isotonic calibration,
    threshold), store JSON and its card."""
    from pathlib import Path

    from affiliation_curator.engine import combiner as cb
    from affiliation_curator.learning.combiner_fit import card_path, card_text, fit_calibrated

    t0 = time.perf_counter()
    data = load_dump(args)
    registry = shared_registry()
    lexical = data["model"] == "lexical-fallback"
    lists, _ = build_lists(data, registry, not lexical)
    base = None
    if args.stack and not lexical:
        base = fit_base(args, out, {r["affiliation"] for r in data["rows"]})
        lists = stacked(lists, base)
    model, cal, figures = fit_calibrated(lists, kind=args.kind, folds=args.folds, say=out)
    out(f"combiner {args.kind} ({args.folds}-fold OOF, calibrated): {cal.summary()}")
    model_arg = f" --model {args.model} --ce-rows {args.ce_rows}" if args.model else ""
    gold = " ".join(f"../shared/data/gold/{n}.jsonl" for n in sorted({r["source"] for r in data["rows"]}))
    command = (f"python -m affiliation_curator model fit-combiner --registry ../shared/data/ror/{UNION.name} "
               f"--gold {gold} --kind {args.kind}" + (f" --model {args.model}" if args.model else "")
               + (f" --folds {args.folds}" if args.folds != 5 else "")
               + (f"  (same rows as: python bench/bench_combiner.py --dump{model_arg} && "
                  f"python bench/bench_combiner.py --fit{model_arg} --kind {args.kind}"
                  + (f" --folds {args.folds}" if args.folds != 5 else "") + ")"))
    meta = {"rows": len(lists), "candidates": int(sum(len(ll.x) for ll in lists)),
            "sources": dict(Counter(ll.source for ll in lists)), "kind": args.kind, "folds": args.folds,
            "scorer": data["model"], "uses_reranker": not lexical, "side": data["side"],
            "calibration": cal.to_dict(), "figures": figures, "command": command,
            "ce_rows": args.ce_rows, "scorer_created": model_created(data["model"]),
            "registry": {"name": registry.name, "version": registry.meta.version, "institutions": len(registry)},
            "seconds": round(time.perf_counter() - t0), "machine": "2 shared CPU cores",
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if base is not None:
        meta["base"] = base.meta
        meta["command"] += f" --stack --base-kind {args.base_kind}"
    comb = cb.Combiner(model, threshold=cal.threshold, uses_reranker=not lexical, meta=meta, base=base)
    if args.out:
        path = Path(args.out)
    elif lexical:
        from affiliation_curator import config

        path = config.models_dir() / cb.LEXICAL_COMBINER_FILE
    else:
        path = Path(data["model"]) / cb.COMBINER_FILE
    comb.save(path)
    card_path(path).write_text(card_text(meta), encoding="utf-8")
    out(f"saved {path} and its card (threshold {cal.threshold:.3f}, {path.stat().st_size / 1024:.0f} KB)")


def do_score(args, out):
    """A stored combiner (--combiner-file) on a dump (--side test: the final figures, once)."""
    from affiliation_curator.engine import combiner as cb
    from affiliation_curator.engine.calibration import calibrate_threshold, metrics_at
    from affiliation_curator.learning.combiner_fit import reliability, top_outcomes
    from affiliation_curator.learning.levels import level_breakdown, summary

    comb = cb.Combiner.load(args.combiner_file)
    if comb is None:
        raise SystemExit(f"no usable combiner at {args.combiner_file}")
    data = load_dump(args)
    registry = shared_registry()
    lists, by_id = build_lists(data, registry, comb.uses_reranker)
    scores = [comb.predict(ll.x) if len(ll.x) else np.zeros(0) for ll in lists]
    outcomes = top_outcomes(lists, scores)
    out(f"{comb.path} on the {data['side']} side: {len(lists)} strings "
        + ", ".join(f"{k} {v}" for k, v in Counter(ll.source for ll in lists).items()))
    t = time.perf_counter()
    for label, subset in [("all", outcomes)] + [(s, [o for o in outcomes if o.source == s])
                                                 for s in sorted({o.source for o in outcomes})]:
        m = metrics_at(subset, comb.threshold)
        out(f"  {label}: {m.summary()}; no-match precision {m.no_match_precision:.3f} recall "
            f"{m.no_match_recall:.3f}")
    best = calibrate_threshold(outcomes, method="precision", target_precision=0.95)
    fixed = comb.meta.get("figures", {}).get("precision_0.95", {}).get("threshold")
    if fixed is not None:
        m = metrics_at(outcomes, fixed)
        out(f"  at the train-side precision-0.95 threshold {fixed:.3f}: precision {m.precision:.3f} coverage "
            f"{m.coverage:.3f}")
    out(f"  best coverage at precision >= 0.95 on this side (threshold chosen here, an upper bound): "
        f"threshold {best.threshold:.3f} coverage {best.coverage:.3f} precision {best.precision:.3f}")
    for b in reliability(outcomes):
        out(f"  calibration {b['band']}: {b['rows']} strings, mean score {b['mean_score']:.3f}, right {b['right']:.3f}")
    gold = [r["gold"] for r in data["rows"]]
    ranked = [[r["found"][i].institution_id for i in np.argsort(-s, kind="stable")] for r, s in zip(data["rows"], scores)]
    out("  " + summary(level_breakdown(gold, ranked, by_id)))
    if args.absent:
        # strings labelled with institutions the registry lacks: a curator gives them no match
        more = absent_lists(args, registry, comb.uses_reranker)
        absent = top_outcomes(more, [comb.predict(ll.x) if len(ll.x) else np.zeros(0) for ll in more])
        out(f"  with the {len(absent)} strings whose institutions the registry lacks counted as 'no match' "
            f"({', '.join(f'{k} {v}' for k, v in sorted(Counter(o.source for o in absent).items()))}):")
        for label, subset in (("all", outcomes + absent),
                              ("hand-labelled files", [o for o in outcomes + absent if o.source in HAND_LABELLED])):
            m = metrics_at(subset, comb.threshold)
            out(f"    {label}: {m.summary()}; no-match precision {m.no_match_precision:.3f} recall "
                f"{m.no_match_recall:.3f}")
    out(f"  ({time.perf_counter() - t:.1f} s)")


def do_errors(args, out):
    """Categories of today's acc@1 errors on the dumped rows."""
    data = load_dump(args)
    registry = shared_registry()
    by_id = {inst.id: inst for inst in registry}
    lexical = data["model"] == "lexical-fallback"
    scores = baseline_scores(data, args.weight, lexical)
    cats = Counter()
    per_src = defaultdict(Counter)
    examples = defaultdict(list)
    n_m = 0
    for row, s in zip(data["rows"], scores):
        gold = set(row["gold"])
        if not gold:
            continue
        n_m += 1
        found = row["found"]
        order = np.argsort(-s, kind="stable")
        ids = [found[i].institution_id for i in order]
        if ids and ids[0] in gold:
            continue
        top = by_id.get(ids[0]) if ids else None
        gi = [by_id[g] for g in gold if g in by_id]
        if not any(g in ids for g in gold):
            cat = "retrieval miss (gold not in top 20)"
        elif len(gold) > 1:
            cat = "multi-institution gold (several ids)"
        else:
            g = gi[0] if gi else None
            tp = {r.id for r in top.relationships if r.type == "parent"} if top else set()
            tc = {r.id for r in top.relationships if r.type == "child"} if top else set()
            gp = {r.id for r in g.relationships if r.type == "parent"} if g else set()
            gc = {r.id for r in g.relationships if r.type == "child"} if g else set()
            if g and (g.id in tp or top.id in gc):
                cat = "parent/child: gold is the parent of the top"
            elif g and (g.id in tc or top.id in gp):
                cat = "parent/child: gold is a child of the top (department-level gold)"
            elif g and (tp & gp):
                cat = "siblings (same parent)"
            elif g and top and g.country_code != top.country_code:
                cat = "location: other country"
            elif g and top and g.city != top.city:
                cat = "location: same country, other city"
            elif g and top and g.status != "active" or top.status != "active":
                cat = "inactive/successor"
            else:
                cat = "same city, unrelated (name confusion / label noise?)"
        gold_rank = next((k for k, i in enumerate(ids) if i in gold), None)
        cats[cat] += 1
        per_src[row["source"]][cat] += 1
        if len(examples[cat]) < args.examples:
            examples[cat].append(f"    [{row['source'].split('-')[0]}] {row['affiliation'][:110]!r}\n"
                                 f"       top: {top.name if top else None} ({top.country_code if top else ''}) "
                                 f"| gold@{gold_rank}: {'; '.join(g.name + ' (' + str(g.country_code) + ')' for g in gi)}")
    total = sum(cats.values())
    out(f"acc@1 errors: {total} of {n_m} rows with a right answer ({total / max(1, n_m):.3f}); scorer {data['model']}")
    for cat, k in cats.most_common():
        out(f"  {k:5d} {k / total:6.1%}  {cat}   " + ", ".join(f"{s.split('-')[0]} {per_src[s][cat]}" for s in sorted(per_src)))
    for cat, ex in examples.items():
        out(f"-- {cat}")
        for e in ex:
            out(e)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="cross-encoder folder (default: the lexical fallback)")
    ap.add_argument("--side", choices=("train", "test"), default="train")
    ap.add_argument("--per-file", type=int, default=None, help="rows per gold file (default: all)")
    ap.add_argument("--n-retrieve", type=int, default=20)
    ap.add_argument("--n-rerank", type=int, default=8)
    ap.add_argument("--rerank-margin", type=float, default=0.25)
    ap.add_argument("--weight", type=float, default=0.7, help="retrieval weight of today's blend (model card: 0.7)")
    ap.add_argument("--kind", default="hgb", help="hgb or logreg (--cv: comma-separated list)")
    ap.add_argument("--folds", type=int, default=5, help="--fit: folds of the out-of-fold scores the curve and "
                    "threshold are chosen on (3 on a busy machine: a third fewer fits)")
    ap.add_argument("--stack", action="store_true",
                    help="with --model: feed the score of a lexical combiner (fitted on the lexical dump's other "
                         "rows; run --dump without --model first) into the combiner")
    ap.add_argument("--ce-rows", choices=("heldout", "unseen"), default="heldout",
                    help="with --model: rows its training held out for calibration (default), or every row it did "
                         "not train on (its card's --gold-rows sample re-drawn: --ce-gold-rows, --ce-seed)")
    ap.add_argument("--ce-gold-rows", type=int, default=4000)
    ap.add_argument("--ce-seed", type=int, default=13)
    ap.add_argument("--base-kind", default="hgb", help="classifier of the stacked lexical combiner")
    ap.add_argument("--examples", type=int, default=4)
    ap.add_argument("--out", help="--fit: where to store the combiner")
    ap.add_argument("--combiner-file", help="--score: the stored combiner (JSON) to score the dump with")
    ap.add_argument("--relative", action="store_true",
                    help="--cv: also a variant with list-relative evidence features (with_relative)")
    ap.add_argument("--absent", action="store_true",
                    help="--dump: the strings labelled with institutions the registry lacks (a dump of their own); "
                         "--score: count them as 'no match' in extra lines; --cv: fit them as 'no match' or not")
    g = ap.add_mutually_exclusive_group(required=True)
    for name in ("dump", "errors", "cv", "fit", "score"):
        g.add_argument(f"--{name}", action="store_true")
    args = ap.parse_args()
    action = next(n for n in ("dump", "errors", "cv", "fit", "score") if getattr(args, n))
    tag = (args.model or "lexical-fallback").rstrip("/").split("/")[-1]
    out = Tee(f"bench_combiner_{action}_{args.side}_{tag}")
    {"dump": do_dump, "errors": do_errors, "cv": do_cv, "fit": do_fit, "score": do_score}[action](args, out)
    out.save()


if __name__ == "__main__":
    main()
