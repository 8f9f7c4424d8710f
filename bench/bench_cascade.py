"""The rerank cascade (affiliation_curator/engine/cascade.py): what each policy costs in accuracy and saves in pairs.

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

``--combiner`` chooses the policies on the shipped lexical combiner's probability as the first
stage (what a registry of ROR size has; see ``combiner_rows``): no reranker is replayed, each
policy is measured by its pairs a string and its risk, the share of strings where it may change
the answer (a skipped string whose first-stage top is not a gold institution, or has none; a
verified one whose gold is not among the first stage's top n):

    python bench/bench_combiner.py --dump && python bench/bench_cascade.py --combiner --choose
    python bench/bench_combiner.py --dump --side test --per-file 0 && python bench/bench_cascade.py --combiner --side test --policy 0.93 0.5 0.2 0 2

Otherwise the first stage is the retrieval score (what a registry without a lexical combiner has). A replayed string's final scores follow matching.Matcher without a combiner: the
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
from collections import Counter

from pathlib import Path

import numpy as np
from _common import Tee

from bench_combiner import load_dump


def replay(rows, policy, weight: float):
    """For each row: (final scores aligned with found, pairs reranked, mode); None policy = today."""
    from affiliation_curator.engine.cascade import FULL, SKIP, VERIFY

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
    from affiliation_curator.engine.calibration import Outcome

    out = []
    for row, (final, _n, _m) in zip(rows, replayed):
        gold = set(row["gold"])
        if len(final):
            top = int(np.argsort(-final, kind="stable")[0])
            out.append(Outcome(float(final[top]), row["found"][top].institution_id in gold, not gold, row["source"]))
        else:
            out.append(Outcome(None, False, not gold, row["source"]))
    return out


class Replays:
    """Every row replayed once per mode (today, skip, top 1, top 2, top 3); a policy then only picks a
    mode per row, so a grid of thousands of policies is measured in seconds."""

    def __init__(self, rows, weight: float) -> None:
        from affiliation_curator.engine.cascade import CascadePolicy

        inf = math.inf
        self.modes = {"full": None, "skip": CascadePolicy(skip_at=-inf)}
        self.modes.update({f"top{n}": CascadePolicy(verify_at=-inf, verify_n=n) for n in (1, 2, 3)})
        self.score, self.correct, self.pairs = {}, {}, {}
        for name, policy in self.modes.items():
            outs = outcomes(rows, replay(rows, policy, weight))
            self.score[name] = np.array([-1.0 if o.top_score is None else o.top_score for o in outs])
            self.correct[name] = np.array([o.top_correct for o in outs])
            self.pairs[name] = np.array([n for _f, n, _m in replay(rows, policy, weight)], dtype=np.float64)
        tops = [sorted((c.score for c in r["found"]), reverse=True) for r in rows]
        self.top = np.array([t[0] if t else -1.0 for t in tops])
        self.lead = np.array([(t[0] - (t[1] if len(t) > 1 else 0.0)) if t else 0.0 for t in tops])
        self.no_match = np.array([not r["gold"] for r in rows])
        self.source = np.array([r["source"] for r in rows])

    def choose(self, policy) -> np.ndarray:
        """The mode name of each row under ``policy`` (None: today)."""
        mode = np.full(len(self.top), "full", dtype=object)
        if policy is None:
            return mode
        has = self.top > -1.0
        skip = has & (self.top >= policy.skip_at) & (self.lead >= policy.skip_margin)
        verify = has & ~skip & (self.top >= policy.verify_at) & (self.lead >= policy.verify_margin)
        mode[skip] = "skip"
        mode[verify] = f"top{min(3, max(1, policy.verify_n))}"
        return mode

    def measure(self, policy, threshold: float) -> dict:
        mode = self.choose(policy)
        score = np.empty(len(mode))
        correct = np.zeros(len(mode), dtype=bool)
        pairs = np.empty(len(mode))
        for name in self.modes:
            m = mode == name
            score[m], correct[m], pairs[m] = self.score[name][m], self.correct[name][m], self.pairs[name][m]

        def metrics(idx):
            nm, acc = self.no_match[idx], score[idx] >= threshold
            right = (acc & correct[idx] & ~nm) | (~acc & nm)
            pred_nm = ~acc
            tp = float(np.sum(pred_nm & nm))
            prec = tp / max(1.0, float(np.sum(pred_nm)))
            rec = tp / max(1.0, float(np.sum(nm)))
            f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
            acc1 = float(np.mean(correct[idx][~nm])) if np.any(~nm) else float("nan")
            return acc1, float(np.mean(right)), f1

        acc1, decision, f1 = metrics(np.ones(len(mode), dtype=bool))
        per = {src: metrics(self.source == src) for src in sorted(set(self.source.tolist()))}
        counts = Counter(mode.tolist())
        return {
            "acc1": acc1, "decision": decision, "nm_f1": f1,
            "acc1_mean": float(np.nanmean([v[0] for v in per.values()])),
            "decision_mean": float(np.mean([v[1] for v in per.values()])),
            "per_file": {src: (round(v[0], 4), round(v[1], 4)) for src, v in per.items()},
            "pairs": float(np.mean(pairs)) if len(pairs) else 0.0,
            "modes": {k: round(v / max(1, len(mode)), 3) for k, v in counts.items()},
        }


def proxy_rows(args):
    """Rows of the lexical dump whose "reranker" is the lexical combiner (combiner.py), with its threshold.

    Stands in for a trained cross-encoder where none is affordable: the combiner's probability is
    the score of each candidate the Matcher would rerank. On the train side each row is scored by
    a combiner fitted without its fold (5 folds); on the test side by one fitted on all the train
    rows. The threshold is calibrated (sources weighted equally) on the train side's out-of-fold
    scores with full reranking, and used on both sides.
    """
    import pickle
    from types import SimpleNamespace

    from _common import RESULTS, shared_registry

    from affiliation_curator.engine import combiner as cb
    from bench_combiner import build_lists

    registry = shared_registry()
    train = load_dump(SimpleNamespace(model=None, side="train", ce_rows="heldout"))
    cache = RESULTS / "home" / "cascade-proxy-train.pkl"  # out-of-fold scores, threshold, model: made once
    key = [r["affiliation"] for r in train["rows"]]
    saved = pickle.loads(cache.read_bytes()) if cache.is_file() else None
    if saved is None or saved["key"] != key:
        from affiliation_curator.engine.calibration import calibrate_threshold

        lists, _ = build_lists(train, registry, False)
        oof = [[float(v) for v in probs] for probs in cb.out_of_fold(lists, folds=5)]
        for row, probs in zip(train["rows"], oof):
            row["rerank"] = probs
        threshold = calibrate_threshold(outcomes(train["rows"], replay(train["rows"], None, 0.0))).threshold
        saved = {"key": key, "oof": oof, "threshold": threshold, "model": cb.fit(lists)}
        cache.write_bytes(pickle.dumps(saved))
    for row, probs in zip(train["rows"], saved["oof"]):
        row["rerank"] = probs
    threshold = saved["threshold"]
    if args.side == "train":
        return train, 0.0, threshold
    model = saved["model"]
    test = load_dump(SimpleNamespace(model=None, side="test", ce_rows="heldout"))
    test_lists, _ = build_lists(test, registry, False)
    for row, ll in zip(test["rows"], test_lists):
        row["rerank"] = [float(v) for v in model.predict_proba(ll.x)[:, 1]] if len(ll.x) else []
    return test, 0.0, threshold


def combiner_rows(side: str):
    """The lexical dump of ``side`` with the shipped lexical combiner's probability of each candidate
    (on the train side it was fitted on these strings: optimistic, the test side checks), cached in
    results/home/cascade-combiner-SIDE.pkl for the same strings and combiner file."""
    import hashlib
    import pickle
    from types import SimpleNamespace

    from _common import RESULTS, shared_registry

    from affiliation_curator.engine.combiner import LEXICAL_COMBINER_FILE, Combiner, load_for
    from bench_combiner import build_lists

    data = load_dump(SimpleNamespace(model=None, side=side, ce_rows="heldout"))
    comb = load_for(None, True)
    if comb is None:
        raise SystemExit(f"no lexical combiner ({LEXICAL_COMBINER_FILE}) to replay")
    digest = hashlib.sha256(Path(comb.path).read_bytes()).hexdigest() if getattr(comb, "path", None) else "given"
    key = ([r["affiliation"] for r in data["rows"]], digest)
    cache = RESULTS / "home" / f"cascade-combiner-{side}.pkl"
    saved = pickle.loads(cache.read_bytes()) if cache.is_file() else None
    if saved is None or saved["key"] != key:
        lists, _ = build_lists(data, shared_registry(), False)
        probs = [comb.predict(ll.x) if len(ll.x) else np.zeros(0) for ll in lists]
        saved = {"key": key, "probs": [[float(v) for v in p] for p in probs], "y": [ll.y for ll in lists]}
        cache.write_bytes(pickle.dumps(saved))
    assert isinstance(comb, Combiner)
    return data["rows"], saved["probs"], saved["y"]


class Risks:
    """Pairs a string and risk (see the module docstring) of any policy on given first-stage scores."""

    def __init__(self, rows, first, y) -> None:
        n = len(rows)
        self.full_pairs = np.array([sum(r["examined"]) for r in rows], dtype=np.float64)
        self.source = np.array([r["source"] for r in rows])
        self.top, self.lead = np.full(n, -1.0), np.zeros(n)
        self.risk_skip = np.zeros(n, dtype=bool)
        self.risk_verify = {k: np.zeros(n, dtype=bool) for k in (1, 2, 3)}
        for i, (s, gold) in enumerate(zip(first, y)):
            s, gold = np.asarray(s, dtype=np.float64), np.asarray(gold, dtype=bool)
            if not len(s):
                continue
            order = np.argsort(-s, kind="stable")
            self.top[i] = s[order[0]]
            self.lead[i] = s[order[0]] - (s[order[1]] if len(s) > 1 else 0.0)
            self.risk_skip[i] = not gold[order[0]]
            for k in (1, 2, 3):
                self.risk_verify[k][i] = gold.any() and not gold[order[:k]].any()

    def measure(self, p) -> dict:
        has = self.top > -1.0
        skip = has & (self.top >= p.skip_at) & (self.lead >= p.skip_margin)
        verify = has & ~skip & (self.top >= p.verify_at) & (self.lead >= p.verify_margin)
        k = min(3, max(1, int(p.verify_n)))
        pairs = np.where(skip, 0.0, np.where(verify, float(k), self.full_pairs))
        risk = (skip & self.risk_skip) | (verify & self.risk_verify[k])
        per_file = [float(risk[self.source == s].mean()) for s in sorted(set(self.source.tolist()))]
        return {"pairs": float(pairs.mean()), "risk": float(risk.mean()), "risk_mean": float(np.mean(per_file)),
                "skip": float(skip.mean()), "verify": float(verify.mean())}


def combiner_main(args, out) -> None:
    from affiliation_curator.engine.cascade import POLICIES, CascadePolicy

    rows, probs, y = combiner_rows(args.side)
    combined = Risks(rows, probs, y)
    retrieval = Risks(rows, [[c.score for c in r["found"]] for r in rows], y)

    def show(label, r):
        out(f"{label}: pairs/string {r['pairs']:.2f} | risk {r['risk']:.4f} (mean over files {r['risk_mean']:.4f}) "
            f"| skip {r['skip']:.2f} verify {r['verify']:.2f}")

    out(f"{len(rows)} {args.side}-side rows of the lexical dump; full reranking {combined.full_pairs.mean():.2f} pairs a string")
    for level, policies in POLICIES.items():
        show(f"'{level}' on the retrieval score {policies['retrieval']}", retrieval.measure(policies["retrieval"]))
        if "combiner" in policies:
            show(f"'{level}' on the combiner's probability {policies['combiner']}", combined.measure(policies["combiner"]))
    for values in args.policy:
        p = CascadePolicy(values[0], values[1], values[2], values[3], int(values[4]))
        show(f"combiner {p}", combined.measure(p))
    if not args.choose:
        return
    inf = math.inf
    skips = [(inf, 0.0)] + list(itertools.product([0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99], [0.0, 0.1, 0.2, 0.3, 0.5]))
    verifies = [(inf, 0.0, 1)] + list(itertools.product([0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], [0.0, 0.1, 0.2, 0.3],
                                                        [1, 2, 3]))
    results = [(p, combined.measure(p)) for p in (CascadePolicy(sa, sm, va, vm, vn) for (sa, sm), (va, vm, vn)
                                                   in itertools.product(skips, verifies) if va <= sa)]
    out(f"\n{len(results)} policies; the fewest pairs within each budget of risk (mean over files):")
    for budget in (0.002, 0.005, 0.01, 0.015, 0.02):
        ok = [(p, r) for p, r in results if r["risk_mean"] <= budget]
        if ok:
            p, r = min(ok, key=lambda pr: (pr[1]["pairs"], pr[1]["risk_mean"]))
            show(f"<= {budget}: {p}", r)


def grid():
    from affiliation_curator.engine.cascade import CascadePolicy

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
    from affiliation_curator.engine.cascade import CascadePolicy

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="the cross-encoder folder whose dump to replay")
    ap.add_argument("--proxy", action="store_true",
                    help="no cross-encoder: the lexical dump, with the lexical combiner as the reranker (proxy_rows)")
    ap.add_argument("--combiner", action="store_true",
                    help="the shipped lexical combiner as the first stage: pairs and risk of each policy (combiner_rows)")
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

    if args.combiner:
        out = Tee(f"cascade_{args.side}_combiner")
        combiner_main(args, out)
        out.save()
        return
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
    replays = Replays(rows, weight)
    base = replays.measure(None, threshold)
    out(line("today (full reranking)", base))
    out(f"  per file (acc@1, decision acc): {base['per_file']}")
    for n in (1, 2, 3):
        p = CascadePolicy(verify_at=-math.inf, verify_n=n)
        out(line(f"top {n} reranked for every string", replays.measure(p, threshold), base))
    out(line("no string reranked (first stage alone)", replays.measure(CascadePolicy(skip_at=-math.inf), threshold), base))
    for values in args.policy:
        p = CascadePolicy(values[0], values[1], values[2], values[3], int(values[4]))
        r = replays.measure(p, threshold)
        out(line(str(p), r, base))
        out(f"  per file (acc@1, decision acc): {r['per_file']}")
    if not args.choose:
        out.save()
        return
    results = []
    for p in grid():
        results.append((p, replays.measure(p, threshold)))
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
