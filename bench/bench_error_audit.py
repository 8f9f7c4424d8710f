"""Which accuracy@1 errors are the engine's, and which come from how the gold sets label strings.

    python bench/bench_error_audit.py [--model M] [--side test] [--examples 20]

Matches every scorable gold row with a right answer (all gold ids in the shared registry) and
sorts each row whose top candidate is not a gold id into one of:
  names both      the string names the top candidate and a gold institution too ("Dept X, UMC
                  Utrecht, Utrecht University" labelled Utrecht University, ranked UMC Utrecht
                  first): several institutions fit, the label picked another
  gold unnamed    no word of the gold institution's names is in the string ("Food Process
                  Engineering" labelled Wageningen University): the string alone cannot say
  top named       the string names the top candidate; the gold one only in part
  other           the rest: the engine's own mistakes (wrong city, wrong one of two namesakes, ...)
"Named" means every word (stop words aside) of one of its names is in the string, or one of its
acronyms is written there. Per gold file and pooled, with the accuracy on the rows left once
"names both" and "gold unnamed" are set aside. A diagnostic, not a target: tune nothing on it.
"""

from __future__ import annotations

import argparse
import random
import re
from collections import Counter

from _common import Tee, gold_rows, shared_registry

STOP = set("of the and for de la le des du di del der und in at".split())
CATEGORIES = ("names both", "gold unnamed", "top named", "other")


def named(inst, text: str, words: set[str]) -> bool:
    from affiliation_curator.text import normalize

    for name in inst.names or []:
        if "acronym" in name.types:
            if re.search(r"\b" + re.escape(name.value) + r"\b", text):
                return True
            continue
        wanted = [w for w in normalize(name.value).split() if w not in STOP]
        if wanted and all(w in words for w in wanted):
            return True
    return False


def category(text: str, top, gold: list) -> str:
    from affiliation_curator.text import normalize

    words = set(normalize(text).split())
    gold_named = any(named(g, text, words) for g in gold)
    shares = any(set(normalize(n.value).split()) & words - STOP for g in gold for n in g.names or [])
    if not gold_named and not shares:
        return "gold unnamed"
    if top is not None and named(top, text, words):
        return "names both" if gold_named else "top named"
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="reranker (folder, hub id or 'lexical-fallback'); default: load_scorer()")
    ap.add_argument("--side", choices=("train", "test"), default="test")
    ap.add_argument("--examples", type=int, default=12, help="examples printed per category")
    args = ap.parse_args()

    from affiliation_curator.engine.assemble import build_engine, open_scorer
    from affiliation_curator.engine.retrieval import Retriever

    registry = shared_registry()
    by_id = {inst.id: inst for inst in registry}
    matcher = build_engine(registry, open_scorer(args.model), retriever=Retriever.for_registry(registry))
    rows = gold_rows(args.side, None, matchable_only=True)
    out = Tee(f"bench_error_audit_{args.side}_{matcher.model_id.replace('/', '_')[-40:]}")
    combiner = matcher.combiner.path if matcher.combiner is not None else "none"
    out(f"{args.side} side, {len(rows)} rows with a right answer (all gold ids in {registry.name}); "
        f"scorer {matcher.model_id}; combiner {combiner}")
    texts = [r.affiliation for _, r in rows]
    first = matcher.retriever.search_many(texts, k=20)
    results = matcher.match_many(texts, batch_size=32)
    counts: dict[str, Counter] = {}
    examples: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    for (source, row), res, found in zip(rows, results, first):
        c = counts.setdefault(source, Counter())
        c["rows"] += 1
        gold = [by_id[g] for g in row.ror_ids if g in by_id]
        if not set(row.ror_ids) & {f.institution_id for f in found}:
            c["retrieval miss"] += 1
            c["retrieval miss, gold unnamed"] += category(row.affiliation, None, gold) == "gold unnamed"
        top = res.candidates[0].id if res.candidates else None
        if top in row.ror_ids:
            c["right"] += 1
            continue
        cat = category(row.affiliation, by_id.get(top) if top else None, gold)
        c[cat] += 1
        examples[cat].append(f"  {row.affiliation[:120]!r}\n      top: {by_id[top].name if top else None} | "
                             f"gold: {'; '.join(g.name for g in gold)}")
    counts["ALL (pooled)"] = sum(counts.values(), Counter())
    for source, c in counts.items():
        clear = c["rows"] - c["names both"] - c["gold unnamed"]
        out(f"{source}: rows {c['rows']} | acc@1 {c['right'] / c['rows']:.3f} | errors "
            + ", ".join(f"{k} {c[k]}" for k in CATEGORIES)
            + f" | acc@1 without 'names both' and 'gold unnamed' rows {c['right'] / max(1, clear):.3f}"
            + f" | retrieval recall@20 {1 - c['retrieval miss'] / c['rows']:.3f}, without 'gold unnamed' rows "
            f"{1 - (c['retrieval miss'] - c['retrieval miss, gold unnamed']) / max(1, c['rows'] - c['gold unnamed']):.3f}")
    for cat in CATEGORIES:
        random.Random(0).shuffle(examples[cat])
        out(f"-- {cat} ({len(examples[cat])})")
        for line in examples[cat][: args.examples]:
            out(line)
    out.save()


if __name__ == "__main__":
    main()
