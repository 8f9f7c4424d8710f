"""Fit the second-stage combiner on labelled gold rows, calibrate it, and write it with its card.

    python -m affiliation_curator model fit-combiner --registry R --gold A.jsonl B.jsonl [--model M] [--out PATH]

Steps (``refit``):

1. the rows: the TRAIN side of ``gold.split`` of each gold file, only rows the registry can answer
   (every gold id in it, or "no match"); with ``absent_no_match`` (``--absent-is-no-match``), also
   the rows of those files that name only institutions the registry lacks, as "no match" strings:
   a curator gives such a string no match, and without them the combiner sees few strings that name
   a real institution which is not in the registry (the commonest "no match" in practice). Only
   for hand-labelled files: publisher-asserted ones label one of several institutions a string
   names, so their absent label often sits beside a present, right one;
2. each string is retrieved (and, with a cross-encoder, reranked) by the Matcher once
   (``Matcher.examine``), and every candidate gets its features (combiner.candidate_features) and a
   label (1: one of the gold ids);
3. a classifier (``combiner.make_model``; each gold file weighs the same) is fitted out-of-fold
   (5 folds over the strings by default, ``--folds``) to get scores on strings it did not see;
4. **calibration**: an isotonic curve maps the out-of-fold score of each string's top candidate to
   the share of such top candidates that are right (a no-match string's top candidate is never
   right). So a score is the probability that accepting the top candidate is right, for every
   model alike, and "bulk accept above 0.95" means what it says;
5. the accept threshold: the calibrated score with the best decision accuracy (each file weighted
   equally; calibration.calibrate_threshold) on those out-of-fold rows;
6. the classifier is refitted on all rows and written as JSON with the curve and the threshold
   (combiner_json.py), and a card (Markdown) beside it: rows, command, figures.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from affiliation_curator.engine import combiner as cb
from affiliation_curator.engine.calibration import DecisionMetrics, Outcome, calibrate_threshold
from affiliation_curator.curation.gold import GoldRow, read_gold, split
from affiliation_curator.text import sanitize


@dataclass
class Examined:
    """One gold row as the engine saw it."""

    source: str
    affiliation: str
    gold: list[str]
    found: list[Any]
    rerank: list[float | None]


def gold_rows(paths: Sequence[Path | str], ids: set[str], side: str = "train",
              absent_no_match: Sequence[Path | str] = ()) -> list[tuple[str, GoldRow]]:
    """(file stem, row) of one side of the split, rows the registry with ``ids`` can answer; rows of the
    files in ``absent_no_match`` whose gold ids are all missing from ``ids`` come as "no match" rows
    (``ror_ids`` empty, ``all_ids_in_registry`` False: told apart from rows labelled "no match")."""
    absent_files = {Path(p).resolve() for p in absent_no_match}
    out = []
    for path in paths:
        rows = read_gold(path)
        train, test = split(rows)
        absent_ok = Path(path).resolve() in absent_files
        for row in (train if side == "train" else test):
            if row.answerable_in(ids):
                out.append((Path(path).stem, row))
            elif absent_ok and row.affiliation.strip() and not any(i in ids for i in row.ror_ids):
                out.append((Path(path).stem, replace(row, ror_ids=[], all_ids_in_registry=False)))
    return out


def examine(matcher: Any, rows: Sequence[tuple[str, GoldRow]], batch: int = 64,
            progress: Callable[[int, int], None] | None = None) -> list[Examined]:
    texts = [sanitize(r.affiliation)[0] or r.affiliation for _, r in rows]
    out: list[Examined] = []
    for start in range(0, len(texts), batch):
        chunk = texts[start:start + batch]
        for (src, row), text, (found, rerank, _e) in zip(rows[start:start + batch], chunk, matcher.examine(chunk)):
            out.append(Examined(src, text, list(row.ror_ids), found, rerank))
        if progress is not None:
            progress(min(start + batch, len(texts)), len(texts))
    return out


def labelled_lists(examined: Sequence[Examined], institutions: Sequence[Any], use_rerank: bool) -> list[cb.LabelledList]:
    by_id = {inst.id: inst for inst in institutions}
    sizes = cb.country_sizes(institutions)
    lists = []
    for ex in examined:
        rr = ex.rerank if use_rerank else [None] * len(ex.found)
        x = cb.candidate_features(ex.affiliation, ex.found, rr, by_id, country_sizes=sizes)
        gold = set(ex.gold)
        y = np.array([c.institution_id in gold for c in ex.found], dtype=np.int64)
        lists.append(cb.LabelledList(x, y, ex.source, not gold))
    return lists


def top_outcomes(lists: Sequence[cb.LabelledList], scores: Sequence[np.ndarray]) -> list[Outcome]:
    """Each string's top candidate (highest score, ties in retrieval order): its score and whether it is right."""
    out = []
    for ll, s in zip(lists, scores):
        if not len(s):
            out.append(Outcome(None, False, ll.no_match, ll.source))
            continue
        k = int(np.argmax(s))
        out.append(Outcome(float(s[k]), bool(ll.y[k]), ll.no_match, ll.source))
    return out


def source_weights(outcomes: Sequence[Outcome]) -> np.ndarray:
    counts = Counter(o.source for o in outcomes)
    return np.array([len(outcomes) / (len(counts) * counts[o.source]) for o in outcomes])


def calibrated_out_of_fold(lists: Sequence[cb.LabelledList], kind: str = "hgb", folds: int = 5, seed: int = 0,
                           say: Callable[[str], None] = lambda _m: None) -> tuple[list[np.ndarray], Any]:
    """(each list's out-of-fold scores mapped by the isotonic curve, the curve): steps 3 and 4. The curve is
    fitted on these same scores, so they run slightly optimistic."""
    from affiliation_curator.engine.combiner_json import fit_calibration

    t = time.perf_counter()
    oof = cb.out_of_fold(lists, folds=folds, kind=kind, seed=seed)
    say(f"out-of-fold scores ({folds} folds, {kind}) in {time.perf_counter() - t:.0f} s")
    have = [o for o in top_outcomes(lists, oof) if o.top_score is not None]
    curve = fit_calibration(None, np.array([o.top_score for o in have]), np.array([o.top_correct for o in have]),
                            source_weights(have))
    return [curve.map(s) if len(s) else s for s in oof], curve


def fit_calibrated(lists: Sequence[cb.LabelledList], kind: str = "hgb", folds: int = 5, seed: int = 0,
                   say: Callable[[str], None] = lambda _m: None) -> tuple[Any, DecisionMetrics, dict[str, Any]]:
    """(calibrated model, decision metrics at its threshold, figures) — see the module docstring."""
    cal_scores, curve = calibrated_out_of_fold(lists, kind=kind, folds=folds, seed=seed, say=say)
    outcomes = top_outcomes(lists, cal_scores)
    chosen = calibrate_threshold(outcomes)
    at95 = calibrate_threshold(outcomes, method="precision", target_precision=0.95)
    figures = {"out_of_fold": chosen.to_dict(), "precision_0.95": at95.to_dict(),
               "reliability": reliability(outcomes)}
    t = time.perf_counter()
    model = cb.fit(lists, kind=kind, seed=seed)
    say(f"fitted on all {len(lists)} strings in {time.perf_counter() - t:.0f} s")
    curve.model = model
    return curve, chosen, figures


def reliability(outcomes: Sequence[Outcome], edges: Sequence[float] = (0.0, 0.5, 0.8, 0.9, 0.95, 1.0001)) -> list[dict]:
    """Per score band of top candidates: rows, mean score, share right (calibration check)."""
    s = np.array([o.top_score if o.top_score is not None else -1.0 for o in outcomes])
    r = np.array([o.top_correct for o in outcomes])
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (s >= lo) & (s < hi)
        if m.any():
            out.append({"band": f"{lo:.2f}-{min(hi, 1.0):.2f}", "rows": int(m.sum()),
                        "mean_score": round(float(s[m].mean()), 4), "right": round(float(r[m].mean()), 4)})
    return out


def card_text(meta: dict[str, Any]) -> str:
    """The Markdown card written beside a combiner file."""
    fig = meta.get("figures", {})
    oof = fig.get("out_of_fold", {})
    p95 = fig.get("precision_0.95", {})
    lines = [
        f"# Combiner card: {meta.get('scorer', '?')}", "",
        "A small learned model (second stage of matching: affiliation_curator/combiner.py) stored as plain "
        "JSON (trees, a calibration curve, a threshold); reading it runs no code. It holds weights only, "
        "no rows of the data it was fitted on.", "",
        f"- **Scorer**: `{meta.get('scorer')}` (reranker scores used: {meta.get('uses_reranker')})",
        f"- **Classifier**: {meta.get('kind')}, {len(cb.FEATURES)} features (combiner.FEATURES), each gold file "
        "weighted equally; an isotonic curve maps its score to the probability that the top candidate is right",
        "- **Fitted on**: the train side of the gold split (gold.split, string hash) of "
        + ", ".join(f"`{k}` ({v} strings)" for k, v in sorted((meta.get("sources") or {}).items()))
        + f"; only rows the registry can answer (every gold id in it, or no match); {meta.get('rows')} strings, "
        f"{meta.get('candidates')} candidates",
        *([("- **Strings whose institutions the registry lacks, fitted as \"no match\"** "
            "(`--absent-is-no-match`): "
            + ", ".join(f"`{k}` {v}" for k, v in sorted(meta["absent_no_match"].items()))
            + " (counted in the strings above)")] if meta.get("absent_no_match") else []),
        f"- **Registry**: {(meta.get('registry') or {}).get('name')} "
        f"({(meta.get('registry') or {}).get('institutions')} institutions); not used for a registry under half that size",
        f"- **Made by**: `{meta.get('command')}` ({meta.get('seconds')} s on {meta.get('machine', 'this machine')})",
        f"- **Created**: {meta.get('created')}", "",
        f"## Figures (out-of-fold on the train side: {meta.get('folds', 5)} folds over strings; the curve and "
        "threshold are chosen "
        "on the same scores, so they run slightly high)", "",
        "| | threshold | accuracy@1 | precision | coverage | no-match precision | no-match recall | no-match F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, m in (("accept threshold (best decision accuracy)", oof), ("precision >= 0.95", p95)):
        if m:
            lines.append(f"| {label} | {m['threshold']:.3f} | {m['acc_at_1']:.3f} | {m['precision']:.3f} | "
                         f"{m['coverage']:.3f} | {m['no_match_precision']:.3f} | {m['no_match_recall']:.3f} | "
                         f"{m['no_match_f1']:.3f} |")
    rel = fig.get("reliability") or []
    if rel:
        lines += ["", "Calibration (top candidates, out-of-fold):", "",
                  "| score band | strings | mean score | share right |", "|---|---|---|---|"]
        lines += [f"| {b['band']} | {b['rows']} | {b['mean_score']:.3f} | {b['right']:.3f} |" for b in rel]
    test = meta.get("test_figures")
    if test:
        lines += ["", "## Test side of the gold split (measured once, after every choice was made)", "", "```",
                  str(test), "```"]
    lines += ["", "Refit: run the command above; the file it writes in the data directory's models folder "
              "takes precedence over the shipped one.", ""]
    return "\n".join(lines)


def refit(registry: Any, gold_paths: Sequence[Path | str], scorer: Any, out: Path, kind: str = "hgb",
          command: str = "", say: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
          folds: int = 5, absent_no_match: Sequence[Path | str] = ()) -> cb.Combiner:
    """Examine the train-side gold rows with ``scorer``, fit, calibrate, write ``out`` and its card."""
    from affiliation_curator.engine.matcher import Matcher
    from affiliation_curator.engine.retrieval import Retriever

    t0 = time.perf_counter()
    retriever = Retriever.for_registry(registry)
    matcher = Matcher(registry, scorer=scorer, top_k=20, n_retrieve=20, retriever=retriever, combiner=False)
    institutions = list(retriever.institutions)
    ids = {i.id for i in institutions}
    rows = gold_rows(gold_paths, ids, absent_no_match=absent_no_match)
    if not rows:
        raise ValueError("no train-side gold row is answerable with this registry")
    say(f"{len(rows)} train-side strings: " + ", ".join(f"{k} {v}" for k, v in Counter(s for s, _ in rows).items()))
    step = max(1, len(rows) // 20)

    def progress(done: int, total: int) -> None:
        if done % step < 64 or done == total:
            say(f"  examined {done}/{total}")

    examined = examine(matcher, rows, progress=progress)
    lexical = matcher.lexical
    lists = labelled_lists(examined, institutions, use_rerank=not lexical)
    model, chosen, figures = fit_calibrated(lists, kind=kind, folds=folds, say=say)
    say(f"out-of-fold: {chosen.summary()}")
    meta = {"scorer": matcher.model_id, "uses_reranker": not lexical, "kind": kind, "side": "train", "folds": folds,
            "rows": len(lists), "candidates": int(sum(len(ll.x) for ll in lists)),
            "sources": dict(Counter(ll.source for ll in lists)), "calibration": chosen.to_dict(),
            "absent_no_match": dict(Counter(src for src, row in rows if row.is_no_match and not row.all_ids_in_registry)),
            "figures": figures, "command": command, "seconds": round(time.perf_counter() - t0),
            "scorer_created": (getattr(scorer, "card", None) or {}).get("created"),
            "registry": {"name": getattr(registry, "name", ""), "institutions": len(institutions)},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    comb = cb.Combiner(model, threshold=chosen.threshold, uses_reranker=not lexical, meta=meta)
    comb.save(out)
    card_path(out).write_text(card_text(meta), encoding="utf-8")
    say(f"saved {out} and {card_path(out).name} (threshold {chosen.threshold:.3f})")
    return comb


def card_path(path: Path) -> Path:
    return Path(path).with_suffix(".md")
