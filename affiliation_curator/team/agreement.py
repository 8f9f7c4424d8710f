"""Agreement between curators: Cohen's kappa for a pair, Fleiss' kappa for three or more.

Pure functions on labels (any hashable: here ``"accept:<ROR id>"`` or ``"none"``). Kappa is
undefined where chance agreement is already certain (every label in one category) or where no
item was labelled twice; the functions return None then, never a division by zero:

- no overlap (no item labelled by both): ``None``;
- one category only (both always said the same one thing): ``None`` (p_e = 1);
- perfect agreement over two or more categories: ``1.0``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class PairAgreement:
    """Two curators on the items both labelled."""

    a: str
    b: str
    overlap: int  # items both labelled
    agreed: int
    kappa: float | None

    @property
    def share(self) -> float | None:
        return self.agreed / self.overlap if self.overlap else None


def cohen_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's kappa of (label by A, label by B) per item; None when undefined (see the module)."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(1 for x, y in pairs if x == y) / n
    count_a = Counter(x for x, _ in pairs)
    count_b = Counter(y for _, y in pairs)
    expected = sum(count_a[k] * count_b.get(k, 0) for k in count_a) / (n * n)
    if expected >= 1.0 - 1e-12:
        return None
    return (observed - expected) / (1.0 - expected)


def fleiss_kappa(items: Iterable[Mapping[Hashable, int] | Sequence[Hashable]]) -> float | None:
    """Fleiss' kappa; each item is its labels (a list) or label -> how many raters chose it.

    Items with fewer than two ratings are left out; the number of raters may differ between
    items (each item's agreement is averaged, category shares are pooled over all ratings).
    None when undefined (no item rated twice, or one category only).
    """
    rows: list[Counter] = []
    for item in items:
        row = Counter(item) if not isinstance(item, Mapping) else Counter({k: int(v) for k, v in item.items() if v})
        if sum(row.values()) >= 2:
            rows.append(row)
    if not rows:
        return None
    total = sum(sum(r.values()) for r in rows)
    per_item = []
    pooled: Counter = Counter()
    for row in rows:
        n = sum(row.values())
        per_item.append((sum(v * v for v in row.values()) - n) / (n * (n - 1)))
        pooled.update(row)
    p_bar = sum(per_item) / len(per_item)
    p_e = sum((v / total) ** 2 for v in pooled.values())
    if p_e >= 1.0 - 1e-12:
        return None
    return (p_bar - p_e) / (1.0 - p_e)


def pairwise(labels: Mapping[int, Mapping[str, Hashable]]) -> list[PairAgreement]:
    """Per pair of curators (sorted by name), on items both labelled: overlap, agreed, kappa.

    ``labels``: item id -> {curator: label}.
    """
    curators = sorted({c for by in labels.values() for c in by})
    out = []
    for i, a in enumerate(curators):
        for b in curators[i + 1:]:
            both = [(by[a], by[b]) for by in labels.values() if a in by and b in by]
            out.append(PairAgreement(a, b, len(both), sum(1 for x, y in both if x == y), cohen_kappa(both)))
    return out


def decisions_per_hour(times: Sequence[datetime], break_seconds: float = 300.0) -> float | None:
    """Pace from consecutive decision times (sorted here); gaps over ``break_seconds`` count as that."""
    times = sorted(times)
    if len(times) < 2:
        return None
    total = sum(min((b - a).total_seconds(), break_seconds) for a, b in zip(times, times[1:]))
    if total <= 0:
        return None
    return 3600.0 * (len(times) - 1) / total
