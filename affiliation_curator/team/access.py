"""Who may see which batch and item: nobody sees or changes what is not theirs.

- A lead sees every batch, item and decision of the store.
- A curator sees the batches shared with them: every batch shared with everyone (mode ``all``,
  the default), and the split batches that name them. In a split batch they see only their own
  items: those they decided or hold a claim on, and those still open to them (``team.sharing``);
  never another curator's items or decisions.
- ``None`` (sign-in off: a one-person tool) sees everything.

One store is one team. Teams that must not see each other's batches at all run one store each
(``AFFILIATION_CURATOR_DB``, or a data directory each) and one app server (or several) per store.

The app asks here before it shows a batch or an item named in the URL (``?batch=``, ``?item=``);
a refusal is an ``AccessError`` whose message names the batch or item, not its contents.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from affiliation_curator.errors import CuratorError
from affiliation_curator.curation.store import Store
from affiliation_curator.curation.store.models import BatchSharing, Item
from affiliation_curator.team.users import AccessError, Identity


def _restricted(who: Identity | None) -> bool:
    return who is not None and not who.is_lead


def _split_curators(store: Store) -> dict[int, list[str]]:
    """batch id -> the curators a split batch is shared with."""
    with store._read() as session:
        return {
            batch_id: list(curators or [])
            for batch_id, curators in session.execute(
                select(BatchSharing.batch_id, BatchSharing.curators).where(BatchSharing.mode == "split")
            )
        }


def visible_batches(store: Store, who: Identity | None) -> list[Any]:
    """The batches ``who`` may open (``Store.batches()`` order: newest first)."""
    batches = store.batches()
    if not _restricted(who):
        return batches
    split = _split_curators(store)
    return [b for b in batches if b.id not in split or who.name in split[b.id]]


def may_see_batch(store: Store, who: Identity | None, batch_id: int) -> bool:
    if not _restricted(who):
        return True
    split = _split_curators(store)
    return batch_id not in split or who.name in split[batch_id]


def check_batch(store: Store, who: Identity | None, batch_id: int) -> None:
    """AccessError unless ``who`` may open the batch (an unknown batch is refused the same way,
    so a curator learns nothing about batches not theirs)."""
    try:
        store.batch(batch_id)
    except Exception:  # noqa: BLE001 - StoreError: no such batch
        known = False
    else:
        known = True
    if not known or not may_see_batch(store, who, batch_id):
        name = who.name if who is not None else "you"
        raise AccessError(f"batch #{batch_id} is not shared with {name}")


def check_item(store: Store, who: Identity | None, item_id: int) -> int:
    """The item's batch id when ``who`` may see and decide the item; AccessError otherwise.

    In a split batch a curator's items are those of their own view of it (decided by them,
    claimed by them, or still open to them); items other curators cover are not theirs."""
    with store._read() as session:
        batch_id = session.scalar(select(Item.batch_id).where(Item.id == item_id))
    name = who.name if who is not None else "you"
    refused = AccessError(f"item {item_id} is not one of {name}'s items")
    if batch_id is None:
        if _restricted(who):
            raise refused  # a curator learns nothing about what exists
        raise CuratorError(f"no item {item_id}")
    if not _restricted(who):
        return batch_id
    if not may_see_batch(store, who, batch_id):
        raise refused
    from affiliation_curator.team.sharing import queue_condition

    with store._read() as session:
        condition = queue_condition(store, session, batch_id, who.name, None, store.clock())
        query = select(Item.id).where(Item.id == item_id)
        if condition is not None:
            query = query.where(condition)
        if session.scalar(query) is None:
            raise refused
    return batch_id
