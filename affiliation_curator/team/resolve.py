"""From every curator's decisions to one label per item, with its provenance.

A curator's label on an item is their current decision (latest not undone; rejects and skips
are not labels; a lead's resolution is not anyone's labelling). The item's **resolved label**:

1. a lead's resolution (method ``resolution``), when there is one: status ``resolved``;
2. else the label every labelling curator gave: ``single`` (one curator) or ``agreed``;
3. else (a ``conflict``) by the chosen rule: ``majority`` takes a label more than half of the
   curators gave (none: left out), ``leave_out`` leaves the item out.

``resolve_items`` works on the store's decision log (``Store.decisions``), so exports, the Team
page and the CLI read the same answer.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

RULES = ("leave_out", "majority")
STATUSES = ("single", "agreed", "conflict", "resolved")


def label_of(decision: Mapping[str, Any]) -> str | None:
    """"accept:<id>", "none", or None (skip, reject: not a label)."""
    if decision["action"] == "accept":
        return f"accept:{decision['institution_id']}"
    if decision["action"] == "none":
        return "none"
    return None


@dataclass(slots=True)
class ItemLabels:
    """Every curator's current decision on one item, its resolution, and the label that counts."""

    item_id: int
    own: dict[str, dict[str, Any]] = field(default_factory=dict)  # curator -> current decision (skips too)
    resolution: dict[str, Any] | None = None
    status: str = "undecided"  # undecided, single, agreed, conflict, resolved
    chosen: dict[str, Any] | None = None  # the decision whose label counts (None: left out)
    source: str = ""  # single, agreed, resolution, majority

    @property
    def labels(self) -> dict[str, str]:
        """curator -> label, for curators whose current decision is a label."""
        return {c: lab for c, d in self.own.items() if (lab := label_of(d)) is not None}

    @property
    def curators(self) -> list[str]:
        return sorted(self.labels)

    def methods(self) -> dict[str, str]:
        return {c: self.own[c].get("method") or "key" for c in self.curators}


def collect(decisions: Iterable[Mapping[str, Any]]) -> dict[int, ItemLabels]:
    """Group a decision log (oldest first, undone ones already left out) by item."""
    out: dict[int, ItemLabels] = {}
    for d in sorted(decisions, key=lambda d: d["id"]):
        if d.get("undone_at") is not None or d["action"] == "reject":
            continue
        item = out.setdefault(d["item_id"], ItemLabels(d["item_id"]))
        if d.get("method") == "resolution":
            item.resolution = dict(d)
        else:
            item.own[d["curator"]] = dict(d)
    return out


def resolve_item(item: ItemLabels, rule: str = "leave_out") -> ItemLabels:
    """Fill in status, chosen decision and source (see the module)."""
    if rule not in RULES:
        raise ValueError(f"unknown conflict rule {rule!r}; use one of: {', '.join(RULES)}")
    labels = item.labels
    distinct = set(labels.values())
    if item.resolution is not None and label_of(item.resolution) is not None:
        item.status, item.chosen, item.source = "resolved", item.resolution, "resolution"
        return item
    if not labels:
        item.status, item.chosen, item.source = "undecided", None, ""
        # a lone skip still shows as the item's state, but it is no label
        return item
    if len(distinct) == 1:
        latest = max((item.own[c] for c in labels), key=lambda d: d["id"])
        item.status = "agreed" if len(labels) > 1 else "single"
        item.chosen, item.source = latest, item.status
        return item
    item.status = "conflict"
    item.chosen, item.source = None, ""
    if rule == "majority":
        top, votes = Counter(labels.values()).most_common(1)[0]
        if votes * 2 > len(labels):
            item.chosen = max((item.own[c] for c, lab in labels.items() if lab == top), key=lambda d: d["id"])
            item.source = "majority"
    return item


def resolve_items(decisions: Iterable[Mapping[str, Any]], rule: str = "leave_out") -> dict[int, ItemLabels]:
    """item id -> ItemLabels resolved by ``rule``."""
    return {i: resolve_item(item, rule) for i, item in collect(decisions).items()}


def conflicts(items: Mapping[int, ItemLabels]) -> list[ItemLabels]:
    """Items whose curators disagree and that no lead resolved yet, in item order."""
    return [items[i] for i in sorted(items) if items[i].status == "conflict"]


def labels_by_item(items: Mapping[int, ItemLabels]) -> dict[int, dict[str, str]]:
    return {i: item.labels for i, item in items.items() if item.labels}


def status_counts(items: Mapping[int, ItemLabels]) -> dict[str, int]:
    counts = defaultdict(int)
    for item in items.values():
        counts[item.status] += 1
    return {s: counts.get(s, 0) for s in ("undecided", *STATUSES)}
