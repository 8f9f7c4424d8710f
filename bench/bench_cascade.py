"""The rerank cascade (affiliation_curator/cascade.py): what each policy costs in accuracy and saves in pairs.

Works from a cross-encoder dump of bench_combiner.py (the retrieved candidates of each gold string,
the scores of the candidates the Matcher reranks today, whether each was reranked), so every policy
is replayed exactly as the Matcher would decide it, without running the model again:

    python bench/bench_combiner.py --dump --model DIR --ce-rows unseen --ce-gold-rows N   # train side
    python bench/bench_cascade.py --model DIR --ce-rows unseen --choose                 # grid, pick one
    python bench/bench_combiner.py --dump --model DIR --side test                        # test side
    python bench/bench_cascade.py --model DIR --side test --policy SKIP_AT SKIP_MARGIN VERIFY_AT VERIFY_MARGIN VERIFY_N

Without a trained cross-encoder (training one takes hours on a loaded 2-core machine), ``--proxy``
replays the lexical dump (``bench_combiner.py --dump [--side test]``) with the lexical combiner
as the reranker (see ``proxy_rows``):

    python bench/bench_combiner.py --dump --per-file 1500 && python bench/bench_cascade.py --proxy --choose
    python bench/bench_combiner.py --dump --side test --per-file 300 && python bench/bench_cascade.py --proxy --side test --policy ...

The first stage is the retrieval score (what the product default has: a hub model without a stored
combiner). A replayed string's final scores follow matching.Matcher without a combiner: the
model's score blended with the retrieval score by the model card's weight for reranked candidates,
the others at half the lowest reranked score; a skipped string keeps its retrieval scores. The match
decision uses the model card's threshold. Figures: acc@1 (rows with a right answer), decision
accuracy (a right accept, or "no match" where none is right) and no-match F1 at that threshold,
each pooled and as the mean over gold files (each file weighs the same, as calibration does), and
the mean number of pairs reranked per string.

``--choose`` picks, on the TRAIN side only, the policy with the fewest pairs a string whose mean
acc@1 and mean decision accuracy over files are each within ``--tolerance`` of today's (full
reranking); the test side only reports the chosen policy.
"""

from __future__ import annotations

import argparse
import itertools
import math
from collections import Counter, defaultdict

import numpy as np
from _common import Tee

from bench_combiner import load_dump


def replay(rows, policy, weight: float):
    """For each row: (final scores aligned with found, pairs reranked, mode); None policy = today."""
    from affiliation_curator.cascade import FULL, SKIP, VERIFY

    out = []
    for row in rows:
        found, rr, ex = row["found"], row["rerank"], list(row["examined"])
        s = np.array([c.score for c in found], dtype=np.float64)
        mode = FULL if policy is None or not len(s) else policy.decide(s)
        if mode == SKIP:
            out.append((s, 0, mode))
            continue
        if mode == VERIFY:
            order = np.argsort(-s, kind="stable")[: max(1, policy.verify_n)]
            ex = [i in set(order.tolist()) for i in range(len(found))]
            if any(e and r is None for e, r in zip(ex, rr)):
                raise SystemExit("a verified candidate has no score in the dump (was it reranked today?)")
        vals = np.array([(1 - weight) * (r or 0.0) + weight * c.score if weight > 0 else (r or 0.0)
                         for c, r in zip(found, rr)])
        done = [v for v, e in zip(vals, ex) if e]
        floor = min(done) if done else None
        final = np.array([v if e else 0.5 * min(floor if floor is not None else c.score, c.score)
                          for c, v, e in zip(found, vals, ex)])
        out.append((final, int(sum(ex)), mode))
    return out


def outcomes(rows, replayed):
    from affiliation_curator.calibration import Outcome

    out = []
    for row, (final, _n, _m) in zip(rows, replayed):
        gold = set(row["gold"])
        if len(final):
            top = int(np.argsort(-final, kind="stable")[0])
            out.append(Outcome(float(final[top]), row["found"][top].institution_id in gold, not gold, row["source"]))
        else:
            out.append(Outcome(None, False, not gold, row["source"]))
    return out


def measure(rows, replayed, threshold: float) -> dict:
    from affiliation_curator.calibration import metrics_at

    outcomes_ = outcomes(rows, replayed)
    pooled = metrics_at(outcomes_, threshold)
    per = {}
    for src in sorted({o.source for o in outcomes_}):
        per[src] = metrics_at([o for o in outcomes_ if o.source == src], threshold)
    with_match = [m for src, m in per.items() if any(not o.is_no_match for o in outcomes_ if o.source == src)]
    modes = Counter(m for _f, _n, m in replayed)
    return {
        "acc1": pooled.acc_at_1, "decision": pooled.decision_accuracy, "nm_f1": pooled.no_match_f1,
        "acc1_mean": float(np.mean([m.acc_at_1 for m in with_match])),
        "decision_mean": float(np.mean([m.decision_accuracy for m in per.values()])),
        "per_file": {src: (round(m.acc_at_1, 4), round(m.decision_accuracy, 4)) for src, m in per.items()},
        "pairs": float(np.mean([n for _f, n, _m in replayed])) if replayed else 0.0,
        "modes": {k: round(v / max(1, len(replayed)), 3) for k, v in modes.items()},
    }


def proxy_rows(args):
    """Rows of the lexical dump whose "reranker" is the lexical combiner (combiner.py), with its threshold.

    Stands in for a trained cross-encoder where none is affordable: the combiner's probability is
    the score of each candidate the Matcher would rerank. On the train side each row is scored by
    a combiner fitted without its fold (5 folds); on the test side by one fitted on all the train
    rows. The threshold is calibrated (sources weighted equally) on the train side's out-of-fold
    scores with full reranking, and used on both sides.
    """
    from types import SimpleNamespace

    from _common import shared_registry

    from affiliation_curator import combiner as cb
    from bench_combiner import build_lists

    registry = shared_registry()
    train = load_dump(SimpleNamespace(model=None, side="train", ce_rows="heldout"))
    lists, _ = build_lists(train, registry, False)
    oof = cb.out_of_fold(lists, folds=5)
    for row, probs in zip(train["rows"], oof):
        row["rerank"] = [float(v) for v in probs]
    from affiliation_curator.calibration import calibrate_threshold

    threshold = calibrate_threshold(outcomes(train["rows"], replay(train["rows"], None, 0.0))).threshold
    if args.side == "train":
        return train, 0.0, threshold
    model = cb.fit(lists)
    test = load_dump(SimpleNamespace(model=None, side="test", ce_rows="heldout"))
    test_lists, _ = build_lists(test, registry, False)
    for row, ll in zip(test["rows"], test_lists):
        row["rerank"] = [float(v) for v in model.predict_proba(ll.x)[:, 1]] if len(ll.x) else []
    return test, 0.0, threshold


def grid():
    from affiliation_curator.cascade import CascadePolicy

    inf = math.inf
    skips = [(inf, 0.0)] + list(itertools.product([0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 1.0], [0.0, 0.05, 0.1, 0.2, 0.3, 0.4]))
    verifies = [(inf, 0.0, 1)] + list(itertools.product([0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9], [0.0, 0.05, 0.1, 0.2, 0.3],
                                                        [1, 2]))
    for (sa, sm), (va, vm, vn) in itertools.product(skips, verifies):
        if sa < inf and va < inf and va > sa:
            continue
        yield CascadePolicy(skip_at=sa, skip_margin=sm, verify_at=va, verify_margin=vm, verify_n=vn)


def line(label: str, r: dict, base: dict | None = None) -> str:
    d = ""
    if base is not None:
        d = (f" | d acc@1 {r['acc1'] - base['acc1']:+.4f} (mean {r['acc1_mean'] - base['acc1_mean']:+.4f})"
             f" d decision {r['decision'] - base['decision']:+.4f} (mean {r['decision_mean'] - base['decision_mean']:+.4f})")
    return (f"{label}: pairs/string {r['pairs']:.2f} | acc@1 {r['acc1']:.4f} (mean over files {r['acc1_mean']:.4f}) "
            f"decision acc {r['decision']:.4f} (mean {r['decision_mean']:.4f}) no-match F1 {r['nm_f1']:.3f}{d} "
            f"| modes {r['modes']}")


def main() -> None:
    from affiliation_curator.cascade import CascadePolicy

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="the cross-encoder folder whose dump to replay")
    ap.add_argument("--proxy", action="store_true",
                    help="no cross-encoder: the lexical dump, with the lexical combiner as the reranker (proxy_rows)")
    ap.add_argument("--side", choices=("train", "test"), default="train")
    ap.add_argument("--ce-rows", choices=("heldout", "unseen"), default="heldout")
    ap.add_argument("--choose", action="store_true", help="search the grid (train side only)")
    ap.add_argument("--tolerance", type=float, default=0.002, help="largest loss of mean acc@1 / decision accuracy")
    ap.add_argument("--policy", nargs=5, type=float, metavar=("SKIP_AT", "SKIP_MARGIN", "VERIFY_AT", "VERIFY_MARGIN", "N"),
                    action="append", default=[], help="report these policies (repeatable; inf allowed)")
    args = ap.parse_args()
    if args.choose and args.side != "train":
        raise SystemExit("--choose picks on the train side only")
    import json
    from pathlib import Path

    if args.proxy:
        data, weight, threshold = proxy_rows(args)
        what = "the lexical dump; reranker = the lexical combiner (proxy)"
    elif args.model:
        data = load_dump(args)
        card = json.loads((Path(args.model) / "curator.json").read_text(encoding="utf-8"))
        weight, threshold = float(card.get("retrieval_weight") or 0.0), float(card.get("threshold", 0.5))
        what = data["model"]
    else:
        raise SystemExit("give --model DIR (a cross-encoder dump) or --proxy")
    rows = data["rows"]
    out = Tee(f"cascade_{args.side}{'_proxy' if args.proxy else ''}")
    out(f"{len(rows)} {args.side}-side rows ({', '.join(f'{k} {v}' for k, v in Counter(r['source'] for r in rows).items())}) "
        f"of {what}; blend weight {weight}, threshold {threshold:.3f}")
    base = measure(rows, replay(rows, None, weight), threshold)
    out(line("today (full reranking)", base))
    for n in (1, 2, 3):
        p = CascadePolicy(verify_at=-math.inf, verify_n=n)
        out(line(f"top {n} reranked for every string", measure(rows, replay(rows, p, weight), threshold), base))
    for values in args.policy:
        p = CascadePolicy(values[0], values[1], values[2], values[3], int(values[4]))
        out(line(str(p), measure(rows, replay(rows, p, weight), threshold), base))
    if not args.choose:
        out.save()
        return
    results = []
    for p in grid():
        results.append((p, measure(rows, replay(rows, p, weight), threshold)))
    ok = [(p, r) for p, r in results if r["acc1_mean"] >= base["acc1_mean"] - args.tolerance
          and r["decision_mean"] >= base["decision_mean"] - args.tolerance]
    ok.sort(key=lambda pr: (pr[1]["pairs"], -pr[1]["decision_mean"]))
    out(f"\n{len(results)} policies tried; {len(ok)} within {args.tolerance} of today on mean acc@1 and decision accuracy")
    for p, r in ok[:5]:
        out(line(str(p), r, base))
    # the cheapest policies at each level of cost, whatever their accuracy (the trade-off)
    out("\ntrade-off (best mean decision accuracy at each pairs/string bound):")
    for bound in (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0):
        under = [(p, r) for p, r in results if r["pairs"] <= bound]
        if under:
            p, r = max(under, key=lambda pr: (pr[1]["decision_mean"] + pr[1]["acc1_mean"], -pr[1]["pairs"]))
            out(line(f"<= {bound}: {p}", r, base))
    out.save()


if __name__ == "__main__":
    main()
