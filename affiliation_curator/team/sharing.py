"""How a lead shares a batch between curators, and who gets which item.

Modes:

- ``all`` (the default, and a one-person tool's): every curator sees and labels every item;
- ``split``: the items are handed out between named curators; each item needs one curator,
  and a chosen share of them (``double_share``, e.g. 0.1) needs two different ones, for the
  agreement figures. Which items are double-labelled is fixed when the lead sets the split (a
  stable hash of batch and item, so the choice does not follow input order).

In a split batch a curator's queue holds the items they have not decided that still need
someone: fewer other curators have decided or are looking at them (a live **claim**) than
the item needs. Showing an item claims it (``claim``); a claim runs out after
``claim_minutes`` (someone walked away), so nobody else is given a single-coverage item while
one curator has it on screen. Claims are taken in a write transaction that locks the item's
row (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers), so two
curators asking at the same moment never both get it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, exists, false, func, insert, or_, select, true

from affiliation_curator.errors import CuratorError
from affiliation_curator.curation.store import Store
from affiliation_curator.curation.store.models import BatchSharing, Decision, Item, ItemClaim, ItemCoverage
from affiliation_curator.team.users import Identity, clean_name, require_lead

MODES = ("all", "split")
DEFAULT_CLAIM_MINUTES = 15.0


@dataclass(slots=True)
class Sharing:
    batch_id: int
    mode: str = "all"
    curators: list[str] = field(default_factory=list)
    double_share: float = 0.0
    claim_minutes: float = DEFAULT_CLAIM_MINUTES
    double_items: int = 0


def _now() -> datetime:
    return datetime.now(timezone.utc)


def sharing(store: Store, batch_id: int) -> Sharing:
    """How a batch is shared (mode ``all`` until a lead sets otherwise)."""
    with store._read() as session:
        store._batch_row(session, batch_id)
        row = session.get(BatchSharing, batch_id)
        if row is None:
            return Sharing(batch_id)
        doubles = session.scalar(
            select(func.count()).where(ItemCoverage.batch_id == batch_id, ItemCoverage.needed >= 2)
        ) or 0
        return Sharing(batch_id, row.mode, list(row.curators or []), float(row.double_share),
                       float(row.claim_minutes), doubles)


def split_curators(store: Store, batch_id: int) -> list[str] | None:
    """The curators a batch is split between, or None when it is not split: one primary-key read,
    for what the Review card asks on every decision (``sharing`` also counts double items)."""
    with store._read() as session:
        row = session.get(BatchSharing, batch_id)
        return list(row.curators or []) if row is not None and row.mode == "split" else None


def _order_key(batch_id: int, item_id: int) -> str:
    return hashlib.sha1(f"{batch_id}:{item_id}".encode()).hexdigest()


def set_sharing(
    store: Store,
    actor: Identity | None,
    batch_id: int,
    mode: str,
    curators: list[str] | tuple[str, ...] = (),
    double_share: float = 0.0,
    claim_minutes: float = DEFAULT_CLAIM_MINUTES,
) -> Sharing:
    """Share a batch (leads only): ``all``, or ``split`` between ``curators`` with ``double_share``
    of the items labelled by two of them. Decisions already made stay as they are."""
    actor = require_lead(actor)
    mode = (mode or "").strip().lower()
    if mode not in MODES:
        raise CuratorError(f"unknown sharing {mode!r}; use one of: {', '.join(MODES)}")
    names: list[str] = []
    for name in curators:
        name = clean_name(name)
        if name not in names:
            names.append(name)
    try:
        double_share = float(double_share)
        claim_minutes = float(claim_minutes)
    except (TypeError, ValueError):
        raise CuratorError("the double-labelled share and the claim time must be numbers") from None
    if not 0.0 <= double_share <= 1.0:
        raise CuratorError("the double-labelled share must lie between 0 and 1 (e.g. 0.1 for 10 %)")
    if not 0.5 <= claim_minutes <= 24 * 60:
        raise CuratorError("a claim lasts between half a minute and a day")
    if mode == "split":
        if not names:
            raise CuratorError("name the curators the batch is split between")
        if double_share > 0 and len(names) < 2:
            raise CuratorError("a double-labelled share needs at least two curators")
    else:
        names, double_share = [], 0.0
    with store._write() as session:
        store._batch_row(session, batch_id)
        session.execute(delete(BatchSharing).where(BatchSharing.batch_id == batch_id))
        session.execute(delete(ItemCoverage).where(ItemCoverage.batch_id == batch_id))
        session.add(BatchSharing(batch_id=batch_id, mode=mode, double_share=double_share, curators=names,
                                 claim_minutes=claim_minutes, updated_by=actor.name, updated_at=_now()))
        if mode == "split" and double_share > 0:
            ids = list(session.scalars(select(Item.id).where(Item.batch_id == batch_id)))
            ids.sort(key=lambda i: _order_key(batch_id, i))
            chosen = ids[: round(double_share * len(ids))]
            for start in range(0, len(chosen), 5000):
                session.execute(insert(ItemCoverage), [
                    {"item_id": i, "batch_id": batch_id, "needed": 2} for i in chosen[start:start + 5000]
                ])
    return sharing(store, batch_id)


def double_item_ids(store: Store, batch_id: int) -> set[int]:
    with store._read() as session:
        return set(session.scalars(
            select(ItemCoverage.item_id).where(ItemCoverage.batch_id == batch_id, ItemCoverage.needed >= 2)
        ))


# ----------------------------------------------------------------------------- the queue


def _decided_by_others(curator: str) -> Any:
    return (
        select(func.count(func.distinct(Decision.curator)))
        .where(
            Decision.item_id == Item.id, Decision.curator != curator, Decision.undone_at.is_(None),
            Decision.action != "reject", or_(Decision.method.is_(None), Decision.method != "resolution"),
        )
        .correlate(Item)
        .scalar_subquery()
    )


def _claimed_by_others(curator: str, now: datetime) -> Any:
    decided = exists().where(
        Decision.item_id == ItemClaim.item_id, Decision.curator == ItemClaim.curator,
        Decision.undone_at.is_(None), Decision.action != "reject",
    )
    return (
        select(func.count())
        .select_from(ItemClaim)
        .where(ItemClaim.item_id == Item.id, ItemClaim.curator != curator, ItemClaim.expires_at > now, ~decided)
        .correlate(Item)
        .scalar_subquery()
    )


def _needed() -> Any:
    return func.coalesce(
        select(ItemCoverage.needed).where(ItemCoverage.item_id == Item.id).correlate(Item).scalar_subquery(), 1
    )


def queue_condition(store: Store, session: Any, batch_id: int, curator: str | None, status: str | None,
                    now: datetime | None = None) -> Any:
    """A WHERE condition on Item for ``curator``'s view of a batch, or None (everyone sees all).

    Split batches: a curator not named sees nothing; a named one sees, among undecided items,
    those still needing someone (or claimed by them), and, among the rest, their own."""
    if not curator:
        return None
    row = session.get(BatchSharing, batch_id)
    if row is None or row.mode != "split":
        return None
    if curator not in (row.curators or []):
        return false()
    now = now or store.clock()
    mine = exists().where(ItemClaim.item_id == Item.id, ItemClaim.curator == curator, ItemClaim.expires_at > now)
    open_ = _decided_by_others(curator) + _claimed_by_others(curator, now) < _needed()
    available = or_(mine, open_)
    if status == "undecided":
        return available
    if status is None:
        own = exists().where(Decision.item_id == Item.id, Decision.curator == curator, Decision.undone_at.is_(None))
        return or_(own, available)
    return true()  # their own accepted / none / skipped items: the status filter is theirs already


def claim(store: Store, item_id: int, curator: str, now: datetime | None = None) -> bool:
    """Claim an item for ``curator`` (renewing their claim); False when others cover it already.

    Batches not split are never claimed (True: everyone may label every item)."""
    now = now or store.clock()
    with store._write() as session:
        item = session.execute(select(Item.id, Item.batch_id).where(Item.id == item_id).with_for_update()).first()
        if item is None:
            raise CuratorError(f"no item {item_id}")
        row = session.get(BatchSharing, item.batch_id)
        if row is None or row.mode != "split":
            return True
        if curator not in (row.curators or []):
            return False
        taken = session.scalar(
            select(_decided_by_others(curator) + _claimed_by_others(curator, now) < _needed()).where(Item.id == item_id)
        )
        mine = session.get(ItemClaim, (item_id, curator))
        if not taken and mine is None:
            return False
        if mine is None:
            session.add(ItemClaim(item_id=item_id, curator=curator,
                                  expires_at=now + timedelta(minutes=float(row.claim_minutes))))
        else:
            mine.expires_at = now + timedelta(minutes=float(row.claim_minutes))
        return True


def release(store: Store, curator: str, batch_id: int | None = None) -> int:
    """Drop ``curator``'s claims (of one batch): they signed out or left the batch."""
    with store._write() as session:
        query = delete(ItemClaim).where(ItemClaim.curator == curator)
        if batch_id is not None:
            query = query.where(ItemClaim.item_id.in_(select(Item.id).where(Item.batch_id == batch_id)))
        return session.execute(query).rowcount or 0


def next_item(store: Store, batch_id: int, curator: str, order: str = "input", tries: int = 20,
              now: datetime | None = None) -> Any:
    """The next undecided item of ``curator``'s queue, claimed for them (None: nothing left).

    Where someone else claimed the first one a moment earlier, the next is tried."""
    offset = 0
    for _ in range(tries):
        views = store.items(batch_id, status="undecided", order=order, limit=1, offset=offset, curator=curator)
        if not views:
            return None
        if claim(store, views[0].id, curator, now):
            return views[0]
        offset += 1  # normally the next read leaves it out already; never ask for the same one twice
    return None


def own_progress(store: Store, batch_id: int, curator: str) -> dict[str, int] | None:
    """A curator's progress through their own items of a split batch (None: not split, or not
    theirs): ``total`` their items (decided or skipped by them, claimed by them, or still open
    to them; it shrinks as others take open items), ``decided`` (accept or none), ``skipped``,
    ``to_go`` (undecided items still theirs)."""
    curators = split_curators(store, batch_id)
    if curators is None or not curator or curator not in curators:
        return None
    mine = store.progress(batch_id, curator=curator, rejected=False)
    to_go = store.count_items(batch_id, "undecided", curator=curator)
    decided, skipped = mine["decided"], mine["skipped"]
    return {"total": decided + skipped + to_go, "decided": decided, "skipped": skipped, "to_go": to_go,
            "decisions_per_hour": mine["decisions_per_hour"]}
