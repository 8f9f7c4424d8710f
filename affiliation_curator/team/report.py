"""Agreement and adjudication of one batch: what the Team page shows and ``team agreement`` prints."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from affiliation_curator.errors import CuratorError
from affiliation_curator.curation.store import AcceptedInstitution, Store
from affiliation_curator.team.agreement import PairAgreement, decisions_per_hour, fleiss_kappa, pairwise
from affiliation_curator.team.resolve import ItemLabels, conflicts, label_of, labels_by_item, resolve_items, status_counts
from affiliation_curator.team.users import Identity, require_lead


@dataclass(slots=True)
class CuratorFigures:
    name: str
    decisions: int  # current labels (accept / none) on items of the batch
    per_hour: float | None  # one-by-one decisions (key press, search), breaks over 5 minutes cut to 5


@dataclass(slots=True)
class BatchAgreement:
    batch_id: int
    batch: str
    rule: str
    statuses: dict[str, int]  # undecided, single, agreed, conflict, resolved
    pairs: list[PairAgreement]
    fleiss: float | None  # over items labelled by two or more; reported with three or more curators
    curators: list[CuratorFigures]
    conflicts: list[ItemLabels]
    affiliations: dict[int, str] = field(default_factory=dict)

    @property
    def double_labelled(self) -> int:
        return self.statuses.get("agreed", 0) + self.statuses.get("conflict", 0) + self.statuses.get("resolved", 0)


def batch_agreement(store: Store, batch_id: int, rule: str = "leave_out") -> BatchAgreement:
    info = store.batch(batch_id)
    log = store.decisions(batch_id)
    items = resolve_items(log, rule)
    labels = labels_by_item(items)
    times: dict[str, list[Any]] = defaultdict(list)
    for d in log:
        if d["method"] in ("key", "search") and d["action"] != "reject":
            times[d["curator"]].append(d["created_at"])
    counts: dict[str, int] = defaultdict(int)
    for by in labels.values():
        for c in by:
            counts[c] += 1
    names = sorted(set(counts) | set(times))
    multi = [list(by.values()) for by in labels.values() if len(by) >= 2]
    return BatchAgreement(
        batch_id=batch_id, batch=info.name, rule=rule, statuses=status_counts(items), pairs=pairwise(labels),
        fleiss=fleiss_kappa(multi) if len(names) >= 3 else None,
        curators=[CuratorFigures(n, counts.get(n, 0), decisions_per_hour(times.get(n, []))) for n in names],
        conflicts=conflicts(items),
        affiliations={d["item_id"]: d["affiliation"] for d in log},
    )


def resolve_conflict(store: Store, actor: Identity | None, item_id: int, label: str) -> int:
    """A lead's resolution of an item: ``label`` is "accept:<ROR id>" or "none". It is a decision
    of its own (method ``resolution``, by the lead), kept beside the curators' decisions; the
    lead can undo it like any decision of theirs."""
    actor = require_lead(actor)
    item = store.item(item_id)
    if label == "none":
        return store.decide(item_id, "none", actor.name, method="resolution")
    if not label.startswith("accept:") or len(label) <= len("accept:"):
        raise CuratorError(f"not a label: {label!r} (accept:<ROR id> or none)")
    inst, *also = label[len("accept:"):].split("|")  # several institutions: the first, and the others
    same = [d for d in store.decisions(item.batch_id) if d["item_id"] == item_id and label_of(d) == label]
    shown = same[-1] if same else None  # a curator's decision of this label gives names and documents
    if shown is not None:
        inst = shown["institution_id"]
        also = [AcceptedInstitution(a["id"], a.get("name"), a.get("document")) for a in shown.get("also") or [] if a.get("id")]
    return store.decide(
        item_id, "accept", actor.name, institution_id=inst, method="resolution",
        institution_name=shown["institution_name"] if shown else None, document=shown["document"] if shown else None,
        also=also,
    )


def undo_resolution(store: Store, actor: Identity | None, batch_id: int) -> Any:
    """Take back the acting lead's latest resolution in a batch (their own curation decisions are
    left alone); the conflict is open again. Returns the store's UndoResult, None when none is left."""
    actor = require_lead(actor)
    store.batch(batch_id)
    return store.undo(batch_id, curator=actor.name, kind="resolution")


def format_kappa(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def agreement_text(report: BatchAgreement, conflicts_shown: int = 50) -> str:
    """The report as plain text (the CLI prints it)."""
    s = report.statuses
    lines = [
        f"batch {report.batch!r}: {s['single']} labelled once, {s['agreed']} agreed, {s['conflict']} in conflict, "
        f"{s['resolved']} resolved by a lead, {s['undecided']} with no label (of the items anyone decided)",
        "",
        "curator pair            double-labelled  agree   share   Cohen's kappa",
    ]
    for p in report.pairs:
        share = "-" if p.share is None else f"{100 * p.share:5.1f} %"
        lines.append(f"{(p.a + ' / ' + p.b)[:22]:<22}  {p.overlap:>15}  {p.agreed:>5}  {share:>7}   {format_kappa(p.kappa)}")
    if not report.pairs:
        lines.append("(fewer than two curators labelled this batch)")
    if report.fleiss is not None or len(report.curators) >= 3:
        lines.append(f"Fleiss' kappa (items labelled by two or more): {format_kappa(report.fleiss)}")
    lines += ["", "curator                 labels  decisions/hour"]
    for c in report.curators:
        lines.append(f"{c.name[:22]:<22}  {c.decisions:>6}  {'-' if c.per_hour is None else f'{c.per_hour:,.0f}'}")
    lines += ["", f"conflicts: {len(report.conflicts)}"]
    for item in report.conflicts[:conflicts_shown]:
        votes = "; ".join(f"{c}: {lab}" for c, lab in sorted(item.labels.items()))
        lines.append(f"  item {item.item_id} {report.affiliations.get(item.item_id, '')!r}: {votes}")
    if len(report.conflicts) > conflicts_shown:
        lines.append(f"  … and {len(report.conflicts) - conflicts_shown} more")
    return "\n".join(lines)
