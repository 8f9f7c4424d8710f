"""Top-1 "errors" that are level disagreements: the top candidate is the gold's parent, child or a
related record (issue #15). Labels disagree about levels (a department's own ROR record or its
university; a hospital or the university it belongs to), so an evaluation that counts those apart
tells label convention from engine mistakes.

``classify(top_id, gold_ids, by_id)`` names the relation of the top candidate to the gold:
``"gold is parent"`` (the top is a child of the gold), ``"gold is child"``, ``"siblings"`` (same
parent), ``"gold is related"`` (ROR's related, successor or predecessor links), else ``"other"``.
Either record may carry the link. ``level_breakdown`` counts them over rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

KINDS = ("gold is parent", "gold is child", "siblings", "gold is related", "other")


def _links(inst: Any, kinds: set[str]) -> set[str]:
    return {r.id for r in getattr(inst, "relationships", ()) if r.type in kinds} if inst is not None else set()


def classify(top_id: str, gold_ids: Sequence[str], by_id: Mapping[str, Any]) -> str:
    """How the (wrong) top candidate relates to the gold institutions (see module docstring)."""
    top = by_id.get(top_id)
    top_parents = _links(top, {"parent"})
    top_children = _links(top, {"child"})
    top_related = _links(top, {"related", "successor", "predecessor"})
    found = []
    for g in gold_ids:
        gold = by_id.get(g)
        if g in top_parents or top_id in _links(gold, {"child"}):
            found.append("gold is parent")
        elif g in top_children or top_id in _links(gold, {"parent"}):
            found.append("gold is child")
        elif top_parents & _links(gold, {"parent"}):
            found.append("siblings")
        elif g in top_related or top_id in _links(gold, {"related", "successor", "predecessor"}):
            found.append("gold is related")
    return min(found, key=KINDS.index) if found else "other"


def level_breakdown(gold: Sequence[Sequence[str]], ranked: Sequence[Sequence[str]],
                    by_id: Mapping[str, Any]) -> dict[str, int]:
    """Counts of top-1 errors by kind, over rows with a right answer whose top candidate is wrong."""
    counts: Counter[str] = Counter()
    for g, r in zip(gold, ranked):
        if g and r and r[0] not in set(g):
            counts[classify(r[0], list(g), by_id)] += 1
        elif g and not r:
            counts["other"] += 1
    return {k: counts.get(k, 0) for k in KINDS}


def summary(counts: Mapping[str, int]) -> str:
    total = sum(counts.values())
    if not total:
        return "top-1 errors: none"
    level = total - counts.get("other", 0)
    parts = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    return f"top-1 errors {total}: {level} are level/related records of the gold ({parts})"
