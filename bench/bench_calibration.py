"""Do the scores mean what they say? Calibration of each scorer, on the full registry and on small ones.

    python bench/bench_calibration.py --dump --side train [--per-file 500]   # retrieve + features once, cache
    python bench/bench_calibration.py --report --side train                  # ECE and reliability per scorer
    python bench/bench_calibration.py --fit                                  # fit the small-registry curve (train side)
    python bench/bench_calibration.py --dump --side test --per-file 0 && python bench/bench_calibration.py --report --side test
    python bench/bench_calibration.py --demo                                 # candidates at 1.00 on the demo, before/now

Registries: the 51k-record shared one ("full"), and samples of it of about 2,000 and of 104
institutions (the demo registry's size), each holding the gold institutions of the strings
matched against it plus random others (rows are matched in groups, a fresh sample per group, the
gold institutions filling at most half of it). Scorers: the lexical score alone (the retrieval
score, the Matcher without a combiner), the shipped lexical combiner as it is, with the country
sizes put on the scale of the registry it was fitted on, and with the small-registry curve after it
(engine/score_scale.py).

Figures, per candidate shown (top 10 of a string, scored ones): expected calibration error (ECE,
10 equal-width bins, weighted by candidates) and the share right of the candidates scoring at
least 0.5 / 0.8 / 0.95 (precision; how many). The same for the top candidate of each string
(its ECE is the threshold's: the match decision reads the top score).
"""

from __future__ import annotations

import argparse
import pickle
import random
import time
from collections import Counter

import numpy as np
from _common import RESULTS, Tee, gold_rows, shared_registry

SIZES = {"full": None, "2000": 2000, "104": 104}
TOP_K = 10
BANDS = (0.5, 0.8, 0.95)


def dump_file(side: str, size: str):
    return RESULTS / "home" / f"calibration-dump-{side}-{size}.pkl"


def groups_for(rows, size: int):
    """Rows in groups whose gold ids fill at most half of a registry sample of ``size``."""
    group: list = []
    gold: set[str] = set()
    for row in rows:
        ids = set(row[1].ror_ids)
        if group and len(gold | ids) > size // 2:
            yield group, gold
            group, gold = [], set()
        group.append(row)
        gold |= ids
    if group:
        yield group, gold


def sample_ids(gold: set[str], size: int, all_ids: list[str], rng: random.Random) -> list[str]:
    out = set(gold)
    while len(out) < size:
        out.add(rng.choice(all_ids))
    return sorted(out)


def examine_group(insts, rows, out_rows):
    from affiliation_curator.engine.combiner import candidate_features, country_sizes
    from affiliation_curator.engine.matcher import Matcher
    from affiliation_curator.engine.reranker import LexicalScorer
    from affiliation_curator.text import sanitize

    matcher = Matcher(insts, LexicalScorer(), top_k=TOP_K, combiner=False, detect_several=False, cascade="off")
    sizes = country_sizes(insts)
    texts = [sanitize(r.affiliation)[0] or r.affiliation for _, r in rows]
    for start in range(0, len(texts), 64):
        chunk = texts[start:start + 64]
        for (name, row), text, (found, rerank, examined) in zip(rows[start:start + 64], chunk, matcher.examine(chunk)):
            lex = matcher._blended_scores(found, rerank, examined) if found else []
            x = candidate_features(text, found, [None] * len(found), matcher._by_id, country_sizes=sizes)
            out_rows.append({"source": name, "gold": list(row.ror_ids), "ids": [c.institution_id for c in found],
                             "lex_shown": np.array(lex), "examined": np.array(examined, dtype=bool), "x": x,
                             "registry": len(insts)})


def do_dump(args, out):
    registry = shared_registry()
    insts = list(registry)
    by_id = {i.id: i for i in insts}
    all_ids = sorted(by_id)
    rows = gold_rows(args.side, args.per_file)
    out(f"{args.side} side: {len(rows)} rows ({', '.join(f'{k} {v}' for k, v in Counter(n for n, _ in rows).items())})")
    for size_name in args.sizes.split(","):
        size = SIZES[size_name]
        t = time.perf_counter()
        dumped: list[dict] = []
        if size is None:
            examine_group(insts, rows, dumped)
        else:
            rng = random.Random(args.seed)
            shuffled = list(rows)
            rng.shuffle(shuffled)
            n_groups = 0
            for group, gold in groups_for(shuffled, size):
                sample = [by_id[i] for i in sample_ids(gold, size, all_ids, rng)]
                examine_group(sample, group, dumped)
                n_groups += 1
            out(f"  {size_name}: {n_groups} registry samples")
        path = dump_file(args.side, size_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            pickle.dump({"side": args.side, "size": size_name, "rows": dumped}, f)
        out(f"  {size_name}: {len(dumped)} strings examined in {time.perf_counter() - t:.0f} s -> {path}")


# --------------------------------------------------------------------------- scoring


def scorers(fitted_size: int):
    """name -> function(row) giving the shown scores of the row's retrieved candidates (and which are scored)."""
    from affiliation_curator.engine.combiner import SHIPPED_LEXICAL, Combiner
    from affiliation_curator.engine.score_scale import load_small_registry_curve

    from affiliation_curator.engine.score_scale import load_lexical_curves

    comb = Combiner.load(SHIPPED_LEXICAL)
    curve = load_small_registry_curve(comb)
    lex_curve = load_lexical_curves()

    def lexical(row):
        return raw_lexical(row), row["examined"]

    def lexical_curve(row):
        raw = raw_lexical(row)
        return np.array(lex_curve.map_list(raw, row["registry"])), row["examined"]

    def combiner_as_is(row):
        return row["comb"], np.ones(len(row["x"]), dtype=bool)

    def combiner_scaled(row):
        return row["comb_scaled"], np.ones(len(row["x"]), dtype=bool)

    def combiner_curve(row):
        p, s = combiner_scaled(row)
        if curve is not None and row["registry"] < fitted_size * 0.5:
            p = curve.map(p)
        return p, s

    out = {"lexical alone": lexical}
    if lex_curve is not None:
        out["lexical alone + curve"] = lexical_curve
    out.update({"lexical + combiner": combiner_as_is, "+ country sizes rescaled": combiner_scaled})
    if curve is not None:
        out["+ small-registry curve"] = combiner_curve
    return out


def raw_lexical(row) -> np.ndarray:
    """The lexical fallback's own score as the Matcher computed it before any curve: the retrieval
    score (a feature column) where examined; the others follow at half the lowest examined one."""
    from affiliation_curator.engine.combiner import FEATURES

    if not len(row["x"]):
        return np.zeros(0)
    raw = row["x"][:, FEATURES.index("retrieval")]
    ex = row["examined"]
    floor = raw[ex].min() if ex.any() else None
    return np.array([v if e else 0.5 * min(floor if floor is not None else v, v) for v, e in zip(raw, ex)])


def shown(row, scores, scored):
    """(score, right) of the candidates shown for one string: its top 10 by score, scored ones."""
    if not len(scores):
        return [], []
    order = sorted(range(len(scores)), key=lambda i: -scores[i])[:TOP_K]  # stable: ties keep retrieval order
    gold = set(row["gold"])
    return ([float(scores[i]) for i in order if scored[i]], [row["ids"][i] in gold for i in order if scored[i]])


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    if not len(p):
        return float("nan")
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            total += m.sum() * abs(p[m].mean() - y[m].mean())
    return total / len(p)


def figures(p, y) -> str:
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    parts = [f"ECE {ece(p, y):.3f}"]
    for t in BANDS:
        m = p >= t
        parts.append(f">={t}: {y[m].mean():.3f} ({int(m.sum())})" if m.any() else f">={t}: n/a (0)")
    parts.append(f"at 1.00: {int((p >= 0.995).sum())}")
    return ", ".join(parts)


def predict_all(data, comb, fitted_size: int) -> None:
    """The combiner's scores of every row, as stored and with rescaled country sizes (one call each)."""
    from affiliation_curator.engine.score_scale import country_size_column

    rows = data["rows"]
    sizes = [len(r["x"]) for r in rows]
    x = np.vstack([r["x"] for r in rows if len(r["x"])])
    xs = np.vstack([country_size_column(r["x"], r["registry"], fitted_size) for r in rows if len(r["x"])])
    for key, values in (("comb", comb.predict(x)), ("comb_scaled", comb.predict(xs))):
        start = 0
        for r, n in zip(rows, sizes):
            r[key] = values[start:start + n]
            start += n


def collect(data, fn):
    cand_p, cand_y, top_p, top_y = [], [], [], []
    several_at_one = 0
    hits = []
    for row in data["rows"]:
        scores, scored = fn(row)
        p, y = shown(row, scores, scored)
        if row["gold"]:  # accuracy@1 over strings with a right answer (ranking, whatever the scale)
            order = sorted(range(len(scores)), key=lambda i: -scores[i])
            hits.append(bool(order) and row["ids"][order[0]] in set(row["gold"]))
        cand_p += p
        cand_y += y
        several_at_one += sum(v >= 0.995 for v in p) > 1
        if p:
            top_p.append(p[0])
            top_y.append(y[0])
        else:
            top_p.append(0.0)
            top_y.append(False)
    return cand_p, cand_y, top_p, top_y, several_at_one, float(np.mean(hits)) if hits else float("nan")


def do_report(args, out):
    from affiliation_curator.engine.combiner import SHIPPED_LEXICAL, Combiner

    comb = Combiner.load(SHIPPED_LEXICAL)
    fitted = int(comb.meta["registry"]["institutions"])
    fns = scorers(fitted)
    for size_name in args.sizes.split(","):
        path = dump_file(args.side, size_name)
        if not path.is_file():
            out(f"{size_name}: no dump ({path}); run --dump --side {args.side} first")
            continue
        with open(path, "rb") as f:
            data = pickle.load(f)
        predict_all(data, comb, fitted)
        out(f"\n{args.side} side, registry {size_name} ({len(data['rows'])} strings)")
        for name, fn in fns.items():
            cp, cy, tp, ty, several, acc = collect(data, fn)
            out(f"  {name:28s} candidates: {figures(cp, cy)}")
            out(f"  {'':28s} top:        {figures(tp, ty)}; strings with several at 1.00: {several}; acc@1 {acc:.3f}")


def do_fit(args, out):
    """The small-registry curve: isotonic, on the train side's small-registry samples (both sizes),
    candidates shown, scores of the combiner with rescaled country sizes."""
    from affiliation_curator.engine.combiner import SHIPPED_LEXICAL, Combiner
    from affiliation_curator.engine.score_scale import fit_curve, lexical_curve_path, small_curve_path

    comb = Combiner.load(SHIPPED_LEXICAL)
    fitted = int(comb.meta["registry"]["institutions"])
    ps, ys, ws = [], [], []
    used = []
    for size_name in ("2000", "104"):
        with open(dump_file("train", size_name), "rb") as f:
            data = pickle.load(f)
        n = 0
        predict_all(data, comb, fitted)
        for row in data["rows"]:
            if not len(row["x"]):
                continue
            scores = row["comb_scaled"]
            p, y = shown(row, scores, np.ones(len(scores), dtype=bool))
            ps += p
            ys += y
            n += len(p)
        ws += [1.0 / n] * n  # each registry size weighs the same
        used.append(f"{size_name}: {len(data['rows'])} strings, {n} candidates")
    curve = fit_curve(np.array(ps), np.array(ys), np.array(ws), combiner_created=comb.meta.get("created"),
                      combiner_registry=fitted,
                      fitted_on="train side of the gold split, candidates shown (top 10), registry samples of "
                                "about 2,000 and 104 institutions holding the gold institutions plus random others; "
                                + "; ".join(used),
                      command="python bench/bench_calibration.py --dump --side train && "
                              "python bench/bench_calibration.py --fit")
    path = curve.save(small_curve_path())
    out(f"saved {path}: {len(curve.x)} points; {'; '.join(used)}")

    # the lexical score alone (no combiner applies): per registry size, the best candidate and the others
    from affiliation_curator.engine.score_scale import LexicalCurves

    sizes, tops, rests, used = [], [], [], []
    for size_name in ("full", "2000", "104"):
        with open(dump_file("train", size_name), "rb") as f:
            data = pickle.load(f)
        top_p, top_y, rest_p, rest_y = [], [], [], []
        for row in data["rows"]:
            p, y = shown(row, raw_lexical(row), row["examined"])
            if p:
                top_p.append(p[0])
                top_y.append(y[0])
                rest_p += p[1:]
                rest_y += y[1:]
        n = data["rows"][0]["registry"] if size_name != "full" else fitted
        sizes.append(int(n))
        tops.append(fit_curve(np.array(top_p), np.array(top_y), rows=len(top_p)))
        rests.append(fit_curve(np.array(rest_p), np.array(rest_y), rows=len(rest_p)))
        used.append(f"{size_name}: {len(top_p)} best candidates, {len(rest_p)} others")
    curves = LexicalCurves(sizes, tops, rests, {
        "fitted_on": "train side of the gold split, scored candidates shown (top 10) of the lexical score alone, "
                     "on the 51,370-record registry and on samples of about 2,000 and 104 institutions (gold "
                     "institutions plus random others); a curve for each string's best candidate and one for the "
                     "others; " + "; ".join(used),
        "command": "python bench/bench_calibration.py --dump --side train && python bench/bench_calibration.py --fit"})
    path = curves.save(lexical_curve_path())
    out(f"saved {path}: {'; '.join(used)}")


def do_demo(out) -> None:
    """The sample affiliations on the demo registry: candidates shown at 1.00 before (the lexical
    retrieval score, as shown without a combiner or curve) and now (the engine as the app builds it)."""
    from affiliation_curator import config
    from affiliation_curator.engine.matcher import Matcher
    from affiliation_curator.engine.reranker import LexicalScorer
    from affiliation_curator.registry import parse_registry_file

    insts = parse_registry_file(config.DEMO_REGISTRY_PATH).institutions
    strings = [s for s in config.SAMPLE_AFFILIATIONS_PATH.read_text(encoding="utf-8").splitlines() if s.strip()]
    matcher = Matcher(insts, LexicalScorer())
    results = list(matcher.match_many(strings))
    plain = list(Matcher(insts, LexicalScorer(), combiner=False).match_many(strings))
    before = [[c.retrieval_score for c in r.candidates if c.evidence.scored] for r in plain]
    after = [[c.score for c in r.candidates if c.evidence.scored] for r in results]
    for name, lists in (("before (lexical score)", before), ("now", after)):
        shown = sum(len(v) for v in lists)
        ones = sum(f"{s:.2f}" == "1.00" for v in lists for s in v)
        several = sum(sum(f"{s:.2f}" == "1.00" for s in v) > 1 for v in lists)
        out(f"demo registry, {len(strings)} sample affiliations, {name}: {ones} of {shown} scored candidates "
            f"shown at 1.00; {several} strings with several at 1.00")
    out(f"now: {matcher.scale.label}; threshold {matcher.threshold:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dump", action="store_true")
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--fit", action="store_true")
    ap.add_argument("--demo", action="store_true", help="candidates at 1.00 on the demo registry, before and now")
    ap.add_argument("--side", default="train", choices=("train", "test"))
    ap.add_argument("--per-file", type=int, default=500, help="rows per gold file (0: all)")
    ap.add_argument("--sizes", default="full,2000,104")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.per_file = args.per_file or None
    what = 'dump' if args.dump else 'fit' if args.fit else 'report' if args.report else 'demo'
    out = Tee(f"bench_calibration_{what}_{args.side}")
    if args.dump:
        do_dump(args, out)
    if args.fit:
        do_fit(args, out)
    if args.report:
        do_report(args, out)
    if args.demo:
        do_demo(out)
    out.save()


if __name__ == "__main__":
    main()
