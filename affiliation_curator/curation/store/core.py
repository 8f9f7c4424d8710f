"""The curation store: batches of affiliation strings, their ranked candidates, the decisions.

Every write runs in its own transaction and commits before the method returns, so a killed
server loses nothing. Decisions are append-only and every curator's are their own: a
curator's current decision on an item is their latest decision on it that is not undone, not
a "reject" and not a lead's resolution; no curator's decision replaces another's. Undo marks
decisions as undone (one undo group at a time: a single decision, or a whole bulk accept),
which brings that curator's previous decision back. Where no curator is named (the batch's
counts, the one-person tool) an item's current decision is its latest one of anyone; exports
read the *resolved* label instead (``affiliation_curator.team.resolve``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from sqlalchemy import and_, case, delete, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from affiliation_curator import config
from affiliation_curator.engine.results import Candidate, Evidence, MatchResult
from affiliation_curator.institution import normalize_ror_id
from affiliation_curator.curation.intake import IntakeResult
from affiliation_curator.curation.store.claims import ranking_claim
from affiliation_curator.curation.store.engine import forget_engine, get_engine
from affiliation_curator.curation.store.migrations import StoreError, migrate
from affiliation_curator.curation.store.models import ACTIONS, METHODS, Batch, CandidateRow, Decision, Item, UndoGroup

DECIDING_ACTIONS = ("accept", "none", "skip")  # actions that set an item's current decision
STATUSES = {  # items(status=...) -> current action (None: no current decision)
    "undecided": None,
    "accepted": "accept",
    "accept": "accept",
    "none": "none",
    "skipped": "skip",
    "skip": "skip",
}
ORDERS = ("input", "uncertain")
_CHUNK = 5000  # ids per IN (...) clause
_NAME_TRIES = 50  # concurrent creations of one batch name resolved by " (2)", " (3)"...
log = logging.getLogger(__name__)


def affiliation_hash(text: str) -> str:
    """sha1 of the normalised string (NFC, whitespace collapsed): one item per string in a batch."""
    normal = re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()
    return hashlib.sha1(normal.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc)


# ----------------------------------------------------------------------------- views


@dataclass(slots=True)
class AcceptedInstitution:
    """One institution of an accept beyond the first (a string naming several institutions)."""

    id: str
    name: str | None = None
    document: str | None = None
    score: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "document": self.document, "score": self.score}


@dataclass(slots=True)
class DecisionView:
    """A decision as the pages show it."""

    id: int
    action: str
    institution_id: str | None
    institution_name: str | None
    curator: str
    at: datetime
    score: float | None = None
    document: str | None = None
    seconds: float | None = None
    also: list[AcceptedInstitution] = field(default_factory=list)  # accepted beyond institution_id

    @property
    def institution_ids(self) -> list[str]:
        """Every accepted institution id, the first one first (empty unless an accept)."""
        if self.action != "accept" or not self.institution_id:
            return []
        return [self.institution_id, *(a.id for a in self.also if a.id != self.institution_id)]

    @property
    def institution_names(self) -> list[str]:
        if self.action != "accept" or not self.institution_id:
            return []
        return [self.institution_name or self.institution_id, *(a.name or a.id for a in self.also)]


@dataclass(slots=True)
class ItemView:
    """One affiliation of a batch with its candidates and its current decision."""

    id: int
    batch_id: int
    position: int
    affiliation: str
    count: int
    candidates: list[Candidate] = field(default_factory=list)
    decision: DecisionView | None = None
    rejected: list[str] = field(default_factory=list)  # institution ids marked wrong
    ranked: bool = False
    model_id: str | None = None
    registry_version: str | None = None
    threshold: float | None = None
    notes: list[str] = field(default_factory=list)
    ranked_at: datetime | None = None
    top_score: float | None = None
    second_score: float | None = None

    @property
    def top(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def margin(self) -> float:
        """Gap between the two best scores (0 when unranked or without candidates)."""
        if self.top_score is None:
            return 0.0
        return self.top_score - (self.second_score or 0.0)

    @property
    def accepted_ids(self) -> list[str]:
        """The institutions the current decision accepts (several for a multi-institution string)."""
        return self.decision.institution_ids if self.decision is not None else []

    @property
    def status(self) -> str:
        """undecided, accepted, none or skipped."""
        if self.decision is None:
            return "undecided"
        return {"accept": "accepted", "none": "none", "skip": "skipped"}[self.decision.action]

    @property
    def uncertainty(self) -> float:
        """Smaller is less confident: the margin to the runner-up or the distance to the threshold."""
        return _uncertainty(self.top_score, self.second_score, self.threshold)


def _uncertainty(top: float | None, second: float | None, threshold: float | None) -> float:
    if top is None:
        return math.inf
    margin = top - (second or 0.0)
    return min(margin, abs(top - (0.5 if threshold is None else threshold)))


@dataclass(slots=True)
class BatchInfo:
    """A batch with its counts."""

    id: int
    name: str
    created_at: datetime
    source: str
    registry_name: str
    registry_version: str
    model_id: str
    total: int = 0  # unique strings
    ranked: int = 0
    by_action: dict[str, int] = field(default_factory=dict)  # current decisions: accept, none, skip

    @property
    def decided(self) -> int:
        """Items with a final answer (accepted or none of these)."""
        return self.by_action.get("accept", 0) + self.by_action.get("none", 0)

    @property
    def skipped(self) -> int:
        return self.by_action.get("skip", 0)

    @property
    def undecided(self) -> int:
        return self.total - sum(self.by_action.values())


class BulkAccept(NamedTuple):
    """An item that a bulk accept takes (or would take) with its top candidate. ``held``: why a
    bulk accept leaves it for a curator although it scores high enough (only in a preview)."""

    item_id: int
    affiliation: str
    institution_id: str
    name: str
    score: float
    held: str = ""


@dataclass(slots=True)
class UndoResult:
    """What one undo took back."""

    group_id: int
    kind: str  # decision, bulk_accept, import
    description: str
    curator: str
    item_ids: list[int]

    @property
    def count(self) -> int:
        return len(self.item_ids)


# ----------------------------------------------------------------------------- the store


class Store:
    """The curation database (SQLite file in the data directory by default; any SQLAlchemy URL)."""

    def __init__(self, url: str | None = None, clock: Callable[[], datetime] = _now) -> None:
        self.url = url or config.database_url()
        self.engine = get_engine(self.url)
        try:
            migrate(self.engine)
        except DBAPIError as err:
            forget_engine(self.url)  # a repaired file or a server that comes back is tried afresh
            raise StoreError(f"cannot open the database {self._where()}: {_reason(err)}") from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.clock = clock

    def __repr__(self) -> str:
        return f"Store({self._where()!r})"

    def _where(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    # ---------------------------------------------------------------- sessions

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._sessions() as session:  # closing ends the read transaction; loaded objects stay usable
            try:
                yield session
            except IntegrityError:
                raise
            except DBAPIError as err:
                raise StoreError(f"database {self._where()}: {_reason(err)}") from None

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with self._sessions() as session:
            session.connection(execution_options={"sqlite_immediate": True})
            try:
                yield session
                session.commit()
            except IntegrityError:
                session.rollback()
                raise
            except DBAPIError as err:
                session.rollback()
                raise StoreError(f"database {self._where()}: {_reason(err)}; nothing was changed") from None
            except BaseException:
                session.rollback()
                raise

    # ---------------------------------------------------------------- batches

    def create_batch(
        self,
        name: str,
        intake: IntakeResult | Sequence[str],
        registry_name: str = "",
        registry_version: str = "",
        model_id: str = "",
        source: str = "",
    ) -> int:
        """Store a new batch of affiliations; returns its id. A taken name gets " (2)", " (3)"..."""
        strings, counts = _strings_and_counts(intake)
        if not strings:
            raise StoreError("a batch needs at least one affiliation")
        base = re.sub(r"\s+", " ", name or "").strip()[:180] or f"Batch {self.clock():%Y-%m-%d %H:%M}"
        for attempt in range(_NAME_TRIES):
            try:
                return self._insert_batch(base, strings, counts, source, registry_name, registry_version, model_id)
            except IntegrityError:
                # another process took the free name between our look and our insert (PostgreSQL's
                # default isolation lets both look at once): look again and take the next number
                log.info("batch name %r taken concurrently (try %d); taking the next free one", base, attempt + 1)
        raise StoreError(f"no free batch name like {base!r} could be taken; try another name")

    def _insert_batch(
        self, base: str, strings: list[str], counts: dict[str, int], source: str, registry_name: str,
        registry_version: str, model_id: str,
    ) -> int:
        with self._write() as session:
            taken = set(session.scalars(select(Batch.name).where(Batch.name.like(f"{_like_escape(base)}%", escape="\\"))))
            unique, n = base, 1
            while unique in taken:
                n += 1
                unique = f"{base} ({n})"
            batch = Batch(
                name=unique, created_at=self.clock(), source=source or "", registry_name=registry_name or "",
                registry_version=registry_version or "", model_id=model_id or "",
            )
            session.add(batch)
            session.flush()
            _insert_items(session, batch.id, strings, counts, start=0)
            return batch.id

    def add_items(self, batch_id: int, intake: IntakeResult | Sequence[str]) -> int:
        """Append strings to a batch; strings already in it only add to their count. Returns how many are new."""
        strings, counts = _strings_and_counts(intake)
        with self._write() as session:
            self._batch_row(session, batch_id)
            existing = dict(
                session.execute(select(Item.affiliation_hash, Item.id).where(Item.batch_id == batch_id)).all()
            )
            start = (session.scalar(select(func.max(Item.position)).where(Item.batch_id == batch_id)) or -1) + 1
            new: list[str] = []
            for text in strings:
                item_id = existing.get(affiliation_hash(text))
                if item_id is not None:
                    session.execute(update(Item).where(Item.id == item_id).values(count=Item.count + counts[text]))
                else:
                    new.append(text)
            if len(existing) + len(new) > config.MAX_BATCH_ROWS:
                raise StoreError(f"a batch holds at most {config.MAX_BATCH_ROWS:,} affiliations")
            return _insert_items(session, batch_id, new, counts, start=start)

    def batches(self) -> list[BatchInfo]:
        """Every batch, newest first, with its counts."""
        with self._read() as session:
            rows = session.scalars(select(Batch).order_by(Batch.id.desc())).all()
            totals = dict(session.execute(select(Item.batch_id, func.count()).group_by(Item.batch_id)).all())
            ranked = dict(
                session.execute(
                    select(Item.batch_id, func.count()).where(Item.ranked_at.is_not(None)).group_by(Item.batch_id)
                ).all()
            )
            actions: dict[int, dict[str, int]] = defaultdict(dict)
            current = _current_decisions_subquery()
            for batch_id, action, n in session.execute(
                select(Item.batch_id, Decision.action, func.count())
                .join(Decision, Decision.item_id == Item.id)
                .where(Decision.id.in_(select(current.c.decision_id)))
                .group_by(Item.batch_id, Decision.action)
            ):
                actions[batch_id][action] = n
        return [
            _batch_info(b, totals.get(b.id, 0), ranked.get(b.id, 0), actions.get(b.id, {})) for b in rows
        ]

    def batch(self, batch_id: int, curator: str | None = None) -> BatchInfo:
        """One batch with its counts (StoreError when there is none); ``curator``: of their decisions."""
        with self._read() as session:
            b = self._batch_row(session, batch_id)
            total = session.scalar(select(func.count()).where(Item.batch_id == batch_id)) or 0
            ranked = session.scalar(
                select(func.count()).where(Item.batch_id == batch_id, Item.ranked_at.is_not(None))
            ) or 0
            current = _current_decisions_subquery(batch_id, curator)
            actions = dict(
                session.execute(
                    select(Decision.action, func.count())
                    .where(Decision.id.in_(select(current.c.decision_id)))
                    .group_by(Decision.action)
                ).all()
            )
        return _batch_info(b, total, ranked, actions)

    def batch_by_name(self, name: str) -> BatchInfo | None:
        with self._read() as session:
            batch_id = session.scalar(select(Batch.id).where(Batch.name == name))
        return None if batch_id is None else self.batch(batch_id)

    def rename_batch(self, batch_id: int, name: str) -> str:
        name = re.sub(r"\s+", " ", name or "").strip()[:200]
        if not name:
            raise StoreError("a batch name cannot be empty")
        try:
            with self._write() as session:
                self._batch_row(session, batch_id).name = name
        except IntegrityError:
            raise StoreError(f"a batch named {name!r} exists already") from None
        return name

    def delete_batch(self, batch_id: int) -> None:
        """Delete a batch with its items, candidates and decisions."""
        with self._write() as session:
            self._batch_row(session, batch_id)
            item_ids = select(Item.id).where(Item.batch_id == batch_id)
            session.execute(delete(Decision).where(Decision.item_id.in_(item_ids)))
            session.execute(delete(CandidateRow).where(CandidateRow.item_id.in_(item_ids)))
            session.execute(delete(UndoGroup).where(UndoGroup.batch_id == batch_id))
            session.execute(delete(Item).where(Item.batch_id == batch_id))
            session.execute(delete(Batch).where(Batch.id == batch_id))

    # ---------------------------------------------------------------- items

    def items(
        self,
        batch_id: int,
        status: str | None = None,
        order: str = "input",
        limit: int | None = None,
        offset: int = 0,
        curator: str | None = None,
    ) -> list[ItemView]:
        """Items of a batch with candidates and current decision.

        ``status``: None (all), "undecided" (no current decision), "accepted", "none",
        "skipped". ``order``: "input", or "uncertain" (least confident first: small margin
        between the two best scores or a top score near the threshold; unranked items last).
        ``curator``: statuses and decisions are that curator's own (None: anyone's latest).
        """
        if status is not None and status not in STATUSES:
            raise StoreError(f"unknown status {status!r}; use one of: {', '.join(sorted(set(STATUSES)))}")
        if order not in ORDERS:
            raise StoreError(f"unknown order {order!r}; use one of: {', '.join(ORDERS)}")
        with self._read() as session:
            self._batch_row(session, batch_id)
            # Filter, order and page in SQL; load whole items only for the page asked for.
            query = self._status_query(session, batch_id, status, curator)
            if order == "uncertain":
                margin = Item.top_score - func.coalesce(Item.second_score, 0.0)
                distance = func.abs(Item.top_score - func.coalesce(Item.threshold, 0.5))
                query = query.order_by(
                    Item.ranked_at.is_(None), Item.top_score.is_(None),
                    case((margin < distance, margin), else_=distance), Item.position,
                )
            else:
                query = query.order_by(Item.position)
            if offset:
                query = query.offset(offset)
            if limit is not None:
                query = query.limit(limit)
            page = list(session.scalars(query))
            return self._load_views(session, page, curator)

    def _status_query(self, session: Session, batch_id: int, status: str | None, curator: str | None):  # noqa: ANN202
        """SELECT item ids of a batch with this status (of ``curator``'s own decisions when given;
        in a batch split between curators, only the items of their queue: ``team.sharing``)."""
        from affiliation_curator.team.sharing import queue_condition

        query = select(Item.id).where(Item.batch_id == batch_id)
        shared = queue_condition(self, session, batch_id, _curator(curator) if curator else None, status, self.clock())
        if shared is not None:
            query = query.where(shared)
        if status is not None:
            # the current action, per item (indexes on (item, id) and (item, curator, id) make this one probe)
            action = (
                select(Decision.action)
                .where(Decision.item_id == Item.id, *_current_conditions(curator))
                .order_by(Decision.id.desc())
                .limit(1)
                .correlate(Item)
                .scalar_subquery()
            )
            want = STATUSES[status]
            query = query.where(action.is_(None) if want is None else action == want)
        return query

    def _load_views(self, session: Session, item_ids: list[int], curator: str | None = None) -> list[ItemView]:
        """Full views of these items, in the order given."""
        if not item_ids:
            return []
        by_id: dict[int, Item] = {}
        for chunk in _chunks(item_ids):
            for row in session.scalars(select(Item).where(Item.id.in_(chunk))):
                by_id[row.id] = row
        rows = [by_id[i] for i in item_ids if i in by_id]
        return self._views(session, rows, self._current(session, [r.id for r in rows], curator=curator))

    def _current_actions(self, session: Session, batch_id: int) -> dict[int, str]:
        """item id -> action of its current decision, for one batch."""
        current = _current_decisions_subquery(batch_id)
        return dict(
            session.execute(
                select(Decision.item_id, Decision.action).where(Decision.id.in_(select(current.c.decision_id)))
            ).all()
        )

    def item(self, item_id: int, curator: str | None = None) -> ItemView:
        """One item (StoreError when there is none); its decision is ``curator``'s own when given."""
        with self._read() as session:
            row = session.get(Item, item_id)
            if row is None:
                raise StoreError(f"no item {item_id}")
            return self._views(session, [row], self._current(session, [row.id], curator=curator))[0]

    def count_items(self, batch_id: int, status: str | None = None, curator: str | None = None) -> int:
        if curator:
            if status is not None and status not in STATUSES:
                raise StoreError(f"unknown status {status!r}")
            with self._read() as session:
                sub = self._status_query(session, batch_id, status, curator).subquery()
                return session.scalar(select(func.count()).select_from(sub)) or 0
        if status is None:
            with self._read() as session:
                return session.scalar(select(func.count()).where(Item.batch_id == batch_id)) or 0
        if status not in STATUSES:
            raise StoreError(f"unknown status {status!r}")
        info = self.batch(batch_id)
        want = STATUSES[status]
        return info.undecided if want is None else info.by_action.get(want, 0)

    def unranked_items(self, batch_id: int, limit: int = 100) -> list[ItemView]:
        """Items not ranked yet, in input order (without candidates)."""
        with self._read() as session:
            rows = session.scalars(
                select(Item)
                .where(Item.batch_id == batch_id, Item.ranked_at.is_(None))
                .order_by(Item.position)
                .limit(limit)
            ).all()
            return [_item_view(r) for r in rows]

    def count_unranked(self, batch_id: int) -> int:
        with self._read() as session:
            return session.scalar(
                select(func.count()).where(Item.batch_id == batch_id, Item.ranked_at.is_(None))
            ) or 0

    def ranking_claim(self, batch_id: int):  # noqa: ANN201 - a context manager yielding bool
        """Claim the ranking of a batch across processes: ``with store.ranking_claim(id) as held:``.

        Only the holder ranks; the claim ends with the block or with the holder's process.
        """
        return ranking_claim(self.engine, batch_id)

    def mark_unranked(self, batch_id: int) -> int:
        """Queue every item of a batch for ranking again (e.g. with a new model); candidates stay until replaced."""
        with self._write() as session:
            return session.execute(
                update(Item).where(Item.batch_id == batch_id).values(ranked_at=None)
            ).rowcount or 0

    def save_result(self, item_id: int, result: MatchResult, registry_version: str | None = None) -> None:
        """Store an item's ranked candidates (replacing earlier ones) exactly as they will be shown."""
        try:
            self._save_result(item_id, result, registry_version)
        except IntegrityError as err:
            # another process saved this item's candidates at the same moment; its result stands
            log.warning("candidates of item %s saved concurrently elsewhere; kept those (%s)", item_id, _reason(err))

    def save_results(self, results: list[tuple[int, MatchResult]]) -> None:
        """``save_result`` for several items in one transaction: a ranking job saves a chunk at
        once (a commit per item was a third of in-app ranking time on the demo registry). Should
        another process have saved one of them meanwhile, each is saved on its own instead."""
        if not results:
            return
        now = self.clock()
        try:
            with self._write() as session:
                versions: dict[int, str | None] = {}  # per batch: one query for the group, not one an item
                for item_id, result in results:
                    self._save_into(session, item_id, result, None, now, versions)
        except IntegrityError:
            for item_id, result in results:
                self.save_result(item_id, result)

    def _save_result(self, item_id: int, result: MatchResult, registry_version: str | None) -> None:
        with self._write() as session:
            self._save_into(session, item_id, result, registry_version, self.clock())

    def _save_into(self, session: Session, item_id: int, result: MatchResult, registry_version: str | None,
                   now: datetime, versions: dict[int, str | None] | None = None) -> None:
        item = session.get(Item, item_id)
        if item is None:
            raise StoreError(f"no item {item_id}")
        if registry_version is None:
            versions = {} if versions is None else versions
            if item.batch_id not in versions:
                versions[item.batch_id] = session.scalar(select(Batch.registry_version).where(Batch.id == item.batch_id))
            registry_version = versions[item.batch_id]
        session.execute(delete(CandidateRow).where(CandidateRow.item_id == item_id))
        if result.candidates:
            session.execute(
                insert(CandidateRow),
                [
                    {
                        "item_id": item_id, "rank": rank, "institution_id": c.id, "name": c.name,
                        "score": float(c.score), "retrieval_score": float(c.retrieval_score or 0.0),
                        "document": c.document or "", "city": c.city, "country_code": c.country_code,
                        "country_name": c.country_name, "types": list(c.types or []), "status": c.status,
                        "evidence": asdict(c.evidence) if isinstance(c.evidence, Evidence) else (c.evidence or {}),
                        "model_id": result.model or None, "registry_version": registry_version,
                    }
                    for rank, c in enumerate(result.candidates, 1)
                ],
            )
        scores = [float(c.score) for c in result.candidates]
        item.ranked_at = now
        item.model_id = result.model or None
        item.registry_version = registry_version
        item.threshold = float(result.threshold) if result.threshold is not None else None
        item.top_score = scores[0] if scores else None
        item.second_score = scores[1] if len(scores) > 1 else (0.0 if scores else None)
        item.notes = list(result.notes or [])

    # ---------------------------------------------------------------- decisions

    def decide(
        self,
        item_id: int,
        action: str,
        curator: str,
        institution_id: str | None = None,
        seconds: float | None = None,
        *,
        institution_name: str | None = None,
        document: str | None = None,
        method: str = "key",
        also: Sequence[str | AcceptedInstitution] = (),
    ) -> int:
        """Record a decision; returns its id.

        accept: ``institution_id`` is the match (any institution, not only a candidate: pass
        ``institution_name``/``document`` when it is not a candidate). none: no institution
        is right. skip: decide later. reject: mark one candidate wrong without deciding the
        item. A new accept/none/skip supersedes the same curator's current decision (never
        another curator's); each call is one undo step. ``method``: how it was made (key,
        search, bulk, import, resolution: a lead's resolution of a conflict).
        ``also`` (accept only): further institutions the string names, accepted with the first.
        """
        action = (action or "").strip().lower()
        if action not in ACTIONS:
            raise StoreError(f"unknown action {action!r}; use one of: {', '.join(ACTIONS)}")
        if method not in METHODS:
            raise StoreError(f"unknown method {method!r}; use one of: {', '.join(METHODS)}")
        inst = _norm_id(institution_id) if institution_id else None
        if action in ("accept", "reject") and not inst:
            raise StoreError(f"{action} needs an institution id")
        if action in ("none", "skip"):
            inst = None
        curator = _curator(curator)
        now = self.clock()
        with self._write() as session:
            item = session.get(Item, item_id)
            if item is None:
                raise StoreError(f"no item {item_id}")
            cand = None
            if inst:
                cand = session.scalars(
                    select(CandidateRow).where(CandidateRow.item_id == item_id, CandidateRow.institution_id == inst)
                ).first()
            if action == "reject":
                current = self._current(session, [item_id], curator=curator).get(item_id)
                if current is not None and inst in _accepted_ids(current):
                    raise StoreError("this institution is an accepted match; undo the accept or decide again first")
            name = cand.name if cand is not None else institution_name
            extra = _also_entries(session, item_id, inst, also) if action == "accept" else []
            summary = {"accept": f"accept {name or inst}" + (f" and {len(extra)} more" if extra else ""),
                       "none": "none of these", "skip": "skip", "reject": f"reject {name or inst}"}[action]
            group = UndoGroup(
                batch_id=item.batch_id, kind="resolution" if method == "resolution" else "decision",
                curator=curator, created_at=now,
                description=f"{'resolution: ' if method == 'resolution' else ''}{summary} for {_short(item.affiliation)}",
            )
            session.add(group)
            session.flush()
            decision = Decision(
                item_id=item_id, action=action, institution_id=inst, institution_name=name,
                document=cand.document if cand is not None else document,
                score=cand.score if cand is not None else None, curator=curator, created_at=now,
                seconds_spent=_seconds(seconds), undo_group=group.id, method=method, also_accepted=extra or None,
            )
            session.add(decision)
            session.flush()
            return decision.id

    def toggle_accept(
        self,
        item_id: int,
        curator: str,
        institution_id: str,
        seconds: float | None = None,
        *,
        institution_name: str | None = None,
        document: str | None = None,
    ) -> tuple[int, bool]:
        """Add an institution to the item's accepted ones, or take it out when it is one already
        (a string naming several institutions; the Review card's Alt+digit). Without a current
        accept this is a plain accept. Returns (decision id, whether it is accepted now); one undo
        step, like ``decide``. Taking out the only accepted institution is refused: choose
        "none of these" or undo instead."""
        inst = _norm_id(institution_id) if institution_id else None
        if not inst:
            raise StoreError("accept needs an institution id")
        with self._read() as session:  # the curator's own current decision (nobody else's changes)
            current = self._current(session, [item_id], curator=_curator(curator)).get(item_id)
            accepted = _accepted_ids(current) if current is not None else []
            kept = [a for a in (current.also_accepted or []) if isinstance(a, dict)] if current is not None else []
            first = (current.institution_id, current.institution_name, current.document) if current is not None else None
        if not accepted:
            return self.decide(item_id, "accept", curator, inst, seconds,
                               institution_name=institution_name, document=document), True
        if inst in accepted:
            if len(accepted) == 1:
                raise StoreError("this is the only accepted institution; choose None of these or undo instead")
            rest = [a for a in accepted if a != inst]
            entries = {a["id"]: a for a in kept}
            if first and first[0] != inst:
                entries[first[0]] = {"id": first[0], "name": first[1], "document": first[2]}
            head = entries[rest[0]]
            also = [AcceptedInstitution(a, entries[a].get("name"), entries[a].get("document")) for a in rest[1:]]
            return self.decide(item_id, "accept", curator, head["id"], seconds, institution_name=head.get("name"),
                               document=head.get("document"), also=also), False
        assert first is not None
        also = [AcceptedInstitution(a["id"], a.get("name"), a.get("document")) for a in kept]
        also.append(AcceptedInstitution(inst, institution_name, document))
        return self.decide(item_id, "accept", curator, first[0], seconds, institution_name=first[1],
                           document=first[2], also=also), True

    def undo(self, batch_id: int, curator: str | None = None, kind: str | None = None) -> UndoResult | None:
        """Take back the last undo group of a batch (by ``curator``, of ``kind`` when given: e.g. a
        lead's last ``resolution``); None when nothing is left."""
        now = self.clock()
        with self._write() as session:
            query = select(UndoGroup).where(UndoGroup.batch_id == batch_id, UndoGroup.undone_at.is_(None))
            if curator:
                query = query.where(UndoGroup.curator == _curator(curator))
            if kind:
                query = query.where(UndoGroup.kind == kind)
            group = session.scalars(query.order_by(UndoGroup.id.desc()).limit(1)).first()
            if group is None:
                return None
            group.undone_at = now
            item_ids = list(
                session.scalars(
                    select(Decision.item_id).where(Decision.undo_group == group.id, Decision.undone_at.is_(None))
                )
            )
            session.execute(
                update(Decision).where(Decision.undo_group == group.id, Decision.undone_at.is_(None)).values(undone_at=now)
            )
            return UndoResult(group.id, group.kind, group.description, group.curator, item_ids)

    def undo_history(self, batch_id: int, limit: int = 20) -> list[UndoResult]:
        """The latest undo groups not yet undone, newest first (what undo would take back, in turn)."""
        with self._read() as session:
            groups = session.scalars(
                select(UndoGroup)
                .where(UndoGroup.batch_id == batch_id, UndoGroup.undone_at.is_(None))
                .order_by(UndoGroup.id.desc())
                .limit(limit)
            ).all()
            members: dict[int, list[int]] = defaultdict(list)
            if groups:
                for gid, iid in session.execute(
                    select(Decision.undo_group, Decision.item_id).where(Decision.undo_group.in_([g.id for g in groups]))
                ):
                    members[gid].append(iid)
            return [UndoResult(g.id, g.kind, g.description, g.curator, members[g.id]) for g in groups]

    def bulk_accept(
        self,
        batch_id: int,
        threshold: float,
        curator: str,
        preview: bool = False,
        only: Iterable[tuple[int, str]] | None = None,
    ) -> list[BulkAccept]:
        """Accept the top candidate of every undecided ranked item scoring >= ``threshold``.

        Items whose top candidate a curator rejected are left alone, and so are items whose top
        candidate is an inactive or withdrawn record whose active successor is among the
        candidates: a preview lists those with ``held`` saying why, the accept never takes them.
        ``preview=True`` only lists them (a read; nothing is locked). ``only``: (item_id, institution_id) pairs
        from an earlier preview; just those that still qualify are accepted, checked in the
        same transaction as the write. All accepts form one undo group.
        """
        threshold = float(threshold)
        if preview:
            with self._read() as session:
                return self._bulk_candidates(session, batch_id, threshold, only, _curator(curator))[0]
        with self._write() as session:
            curator = _curator(curator)
            chosen, tops = self._bulk_candidates(session, batch_id, threshold, only, curator)
            chosen = [c for c in chosen if not c.held]
            if not chosen:
                return chosen
            now = self.clock()
            group = UndoGroup(
                batch_id=batch_id, kind="bulk_accept", curator=curator, created_at=now,
                description=f"bulk accept of {len(chosen):,} items scoring >= {threshold:g}",
            )
            session.add(group)
            session.flush()
            session.execute(
                insert(Decision),
                [
                    {
                        "item_id": c.item_id, "action": "accept", "institution_id": c.institution_id,
                        "institution_name": c.name, "document": tops[c.item_id].document, "score": c.score,
                        "curator": curator, "created_at": now, "undo_group": group.id, "method": "bulk",
                    }
                    for c in chosen
                ],
            )
            return chosen

    def _bulk_candidates(
        self, session: Session, batch_id: int, threshold: float, only: Iterable[tuple[int, str]] | None,
        curator: str | None = None,
    ) -> tuple[list[BulkAccept], dict[int, CandidateRow]]:
        self._batch_row(session, batch_id)
        query = select(Item.id, Item.affiliation).where(
            Item.batch_id == batch_id, Item.ranked_at.is_not(None), Item.top_score >= threshold
        )
        rows = session.execute(query.order_by(Item.position)).all()
        wanted = None if only is None else {(int(i), _norm_id(inst)) for i, inst in only}
        if wanted is not None:
            ids = {i for i, _ in wanted}
            rows = [r for r in rows if r[0] in ids]
        current = self._current(session, [r[0] for r in rows], batch_id, curator=curator)
        rows = [r for r in rows if r[0] not in current]
        ids = [r[0] for r in rows]
        tops = {
            c.item_id: c
            for chunk in _chunks(ids)
            for c in session.scalars(select(CandidateRow).where(CandidateRow.item_id.in_(chunk), CandidateRow.rank == 1))
        }
        rejected = self._rejected(session, ids)
        retired = [i for i, top in tops.items() if (top.status or "active") != "active"]
        others: dict[int, list[CandidateRow]] = defaultdict(list)
        for chunk in _chunks(retired):
            for c in session.scalars(select(CandidateRow).where(CandidateRow.item_id.in_(chunk), CandidateRow.rank > 1)):
                others[c.item_id].append(c)
        chosen = []
        for item_id, affiliation in rows:
            top = tops.get(item_id)
            if top is None or top.score < threshold or top.institution_id in rejected.get(item_id, ()):
                continue
            if wanted is not None and (item_id, top.institution_id) not in wanted:
                continue
            held = _successor_listed(top, others.get(item_id, []))
            chosen.append(BulkAccept(item_id, affiliation, top.institution_id, top.name, top.score, held))
        return chosen, tops

    def record_decisions(
        self,
        batch_id: int,
        decisions: Iterable[Sequence[Any]],
        curator: str,
        kind: str = "import",
        description: str = "",
    ) -> int:
        """Record many decisions as one undo group (an import: one undo step takes it all back).

        Each decision is ``(item_id, action, institution_id, institution_name[, document[, also]])``
        (``also``: further accepted institutions, ids or ``AcceptedInstitution``); name, document
        and score come from the item's candidates when the institution is one.
        They are ``curator``'s own: nobody else's decisions on these items change.
        """
        method = {"bulk_accept": "bulk", "decision": "key"}.get(kind, kind)
        if method not in METHODS:
            raise StoreError(f"unknown kind {kind!r}")
        now = self.clock()
        curator = _curator(curator)
        decisions = list(decisions)
        if not decisions:
            return 0
        with self._write() as session:
            self._batch_row(session, batch_id)
            group = UndoGroup(batch_id=batch_id, kind=kind, curator=curator, created_at=now, description=description)
            session.add(group)
            session.flush()
            ids = [d[0] for d in decisions]
            own = {
                i for chunk in _chunks(ids)
                for i in session.scalars(select(Item.id).where(Item.id.in_(chunk), Item.batch_id == batch_id))
            }
            if len(own) != len(set(ids)):
                raise StoreError(f"some items are not in batch {batch_id}")
            cands: dict[tuple[int, str], CandidateRow] = {}
            for chunk in _chunks(ids):
                for c in session.scalars(select(CandidateRow).where(CandidateRow.item_id.in_(chunk))):
                    cands[(c.item_id, c.institution_id)] = c
            rows = []
            for item_id, action, inst, name, *rest in decisions:
                document = rest[0] if rest else None
                also = rest[1] if len(rest) > 1 else ()
                if action not in ACTIONS:
                    raise StoreError(f"unknown action {action!r}")
                inst = _norm_id(inst) if inst else None
                if action in ("accept", "reject") and not inst:
                    raise StoreError(f"{action} needs an institution id")
                cand = cands.get((item_id, inst)) if inst else None
                rows.append({
                    "item_id": item_id, "action": action, "institution_id": inst,
                    "institution_name": cand.name if cand is not None else name,
                    "document": cand.document if cand is not None and cand.document else document,
                    "score": cand.score if cand is not None else None,
                    "curator": curator, "created_at": now, "undo_group": group.id, "method": method,
                    "also_accepted": _also_rows(also, inst, lambda i, _item=item_id: cands.get((_item, i)))
                    if action == "accept" and also else None,
                })
            session.execute(insert(Decision), rows)
            return len(rows)

    # ---------------------------------------------------------------- progress and tables

    def progress(self, batch_id: int, curator: str | None = None, rejected: bool = True) -> dict[str, Any]:
        """Counts and pace: total, ranked, decided (accept + none), skipped, undecided, by_action,
        rejected (None when ``rejected`` is False: one query less for the Review card),
        decisions_per_hour (from the recent one-by-one decisions, by ``curator`` when given; None
        until there are two) and eta_seconds for the undecided items."""
        info = self.batch(batch_id, curator=curator)
        with self._read() as session:
            item_ids = select(Item.id).where(Item.batch_id == batch_id)
            n_rejected = (session.scalar(
                select(func.count()).where(
                    Decision.item_id.in_(item_ids), Decision.action == "reject", Decision.undone_at.is_(None)
                )
            ) or 0) if rejected else None
            query = (
                select(Decision.created_at)
                .join(UndoGroup, UndoGroup.id == Decision.undo_group)
                .where(
                    Decision.item_id.in_(item_ids), Decision.undone_at.is_(None), UndoGroup.kind == "decision",
                    Decision.created_at >= self.clock() - timedelta(hours=12),
                )
            )
            if curator:
                query = query.where(Decision.curator == _curator(curator))
            times = sorted(session.scalars(query.order_by(Decision.id.desc()).limit(50)))
        rate = _rate(times)
        remaining = info.undecided + info.skipped
        return {
            "total": info.total,
            "ranked": info.ranked,
            "decided": info.decided,
            "skipped": info.skipped,
            "undecided": info.undecided,
            "by_action": {a: info.by_action.get(a, 0) for a in DECIDING_ACTIONS},
            "rejected": n_rejected,
            "decisions_per_hour": rate,
            "eta_seconds": (remaining / rate * 3600) if rate and remaining else (0.0 if rate else None),
            "last_decision_at": times[-1] if times else None,
        }

    def resolved(self, batch_id: int, rule: str = "leave_out") -> dict[int, Any]:
        """item id -> ``team.resolve.ItemLabels``: every curator's label and the label that counts."""
        from affiliation_curator.team.resolve import resolve_items

        return resolve_items(self.decisions(batch_id), rule)

    def table(self, batch_id: int, rule: str = "leave_out") -> list[dict[str, Any]]:
        """One row per item in input order: affiliation, count, decision, institution, score (the
        chosen candidate's score when decided), top candidate, curator, time, model, registry.

        The decision is the item's resolved label (``resolved``): the agreed one, a lead's
        resolution, or by ``rule`` where curators disagree; provenance columns say who decided how
        (``curators``, ``methods``: curator:method, ``agreement``: single, agreed, conflict,
        resolved; ``resolved_by``: single, agreed, resolution, majority)."""
        batch = self.batch(batch_id)
        labels = self.resolved(batch_id, rule)
        with self._read() as session:
            items = session.execute(
                select(
                    Item.id, Item.position, Item.affiliation, Item.count, Item.model_id, Item.registry_version,
                    Item.ranked_at.is_not(None),
                )
                .where(Item.batch_id == batch_id)
                .order_by(Item.position)
            ).all()
            tops = {
                item_id: (inst, name, score)
                for item_id, inst, name, score in session.execute(
                    select(CandidateRow.item_id, CandidateRow.institution_id, CandidateRow.name, CandidateRow.score)
                    .join(Item, Item.id == CandidateRow.item_id)
                    .where(Item.batch_id == batch_id, CandidateRow.rank == 1)
                )
            }
        rows = []
        for item_id, position, affiliation, count, model_id, registry_version, ranked in items:
            resolved = labels.get(item_id)
            d = _Chosen(resolved.chosen) if resolved is not None and resolved.chosen is not None else None
            if d is None and resolved is not None and resolved.status == "undecided":
                skips = [x for x in resolved.own.values() if x["action"] == "skip"]
                d = _Chosen(max(skips, key=lambda x: x["id"])) if skips else None
            top = tops.get(item_id)
            rows.append({
                "batch": batch.name,
                "item_id": item_id,
                "position": position,
                "affiliation": affiliation,
                "count": count,
                "decision": d.action if d else "",
                "institution_id": d.institution_id or "" if d else "",
                "institution_name": d.institution_name or "" if d else "",
                "institution_ids": _accepted_ids(d) if d else [],
                "institution_names": _accepted_names(d) if d else [],
                "score": d.score if d and d.institution_id else None,
                "top_id": top[0] if top else "",
                "top_name": top[1] if top else "",
                "top_score": top[2] if top else None,
                "curator": d.curator if d else "",
                "decided_at": d.created_at if d else None,
                "seconds_spent": d.seconds_spent if d else None,
                "model_id": model_id or "",
                "registry_name": batch.registry_name,
                "registry_version": registry_version or batch.registry_version,
                "ranked": bool(ranked),
                "curators": "; ".join(resolved.curators) if resolved is not None else "",
                "methods": "; ".join(f"{c}:{m}" for c, m in resolved.methods().items()) if resolved is not None else "",
                "agreement": resolved.status if resolved is not None and resolved.status != "undecided" else "",
                "resolved_by": (resolved.chosen or {}).get("curator", "") if resolved is not None and resolved.source == "resolution" else "",
                "label_source": resolved.source if resolved is not None else "",
            })
        return rows

    def change_stamp(self, batch_ids: Sequence[int] | None = None) -> tuple[Any, ...]:
        """A cheap fingerprint of what exports read from these batches (all when None): it changes
        with every decision, undo, ranking, added item or renamed batch, so a page can keep what
        it built from them until it does."""
        with self._read() as session:
            items = select(Item.id).where(Item.batch_id.in_(list(batch_ids))) if batch_ids is not None else None
            decisions = select(
                func.count(Decision.id), func.max(Decision.id), func.count(Decision.undone_at), func.max(Decision.undone_at)
            )
            ranked = select(func.count(Item.id), func.max(Item.id), func.count(Item.ranked_at), func.max(Item.ranked_at))
            names = select(Batch.id, Batch.name).order_by(Batch.id)
            if items is not None:
                decisions = decisions.where(Decision.item_id.in_(items))
                ranked = ranked.where(Item.batch_id.in_(list(batch_ids)))
                names = names.where(Batch.id.in_(list(batch_ids)))
            return (*session.execute(decisions).one(), *session.execute(ranked).one(),
                    tuple(tuple(row) for row in session.execute(names).all()))

    def curators(self) -> list[str]:
        """Every curator name that made a decision, sorted."""
        with self._read() as session:
            return sorted(n for n in session.scalars(select(Decision.curator).distinct()) if n)

    def decisions(
        self,
        batch_id: int | None = None,
        curator: str | None = None,
        include_undone: bool = False,
    ) -> list[dict[str, Any]]:
        """The decision log (all decisions, oldest first), for audits and exports."""
        with self._read() as session:
            query = (
                select(Decision, Item.affiliation, Item.batch_id)
                .join(Item, Item.id == Decision.item_id)
                .order_by(Decision.id)
            )
            if batch_id is not None:
                query = query.where(Item.batch_id == batch_id)
            if curator:
                query = query.where(Decision.curator == _curator(curator))
            if not include_undone:
                query = query.where(Decision.undone_at.is_(None))
            return [
                {
                    "id": d.id, "batch_id": b, "item_id": d.item_id, "affiliation": aff, "action": d.action,
                    "institution_id": d.institution_id, "institution_name": d.institution_name, "score": d.score,
                    "curator": d.curator, "created_at": d.created_at, "seconds_spent": d.seconds_spent,
                    "undone_at": d.undone_at, "method": d.method or "key", "document": d.document, "also": _also_list(d),
                }
                for d, aff, b in session.execute(query)
            ]

    def labelled_items(
        self, batch_ids: Sequence[int] | None = None, rule: str = "leave_out"
    ) -> Iterator[tuple[BatchInfo, list[ItemView]]]:
        """(batch, items with a resolved label or a reject) for each batch: what exports read.

        Each view's decision is the item's resolved label (``resolved``), not anyone's latest."""
        infos = self.batches()
        if batch_ids is not None:
            wanted = set(batch_ids)
            infos = [b for b in infos if b.id in wanted]
        for info in sorted(infos, key=lambda b: b.id):
            with self._read() as session:
                ids = list(
                    session.scalars(
                        select(Item.id)
                        .where(Item.batch_id == info.id, Item.id.in_(select(Decision.item_id).where(Decision.undone_at.is_(None))))
                        .order_by(Item.position)
                    )
                )
                views = self._load_views(session, ids)
                rejected = self._rejected(session, ids)
            labels = self.resolved(info.id, rule)
            for view in views:
                chosen = labels[view.id].chosen if view.id in labels else None
                view.decision = _Chosen(chosen).view() if chosen is not None else None
                accepted = view.decision.institution_id if view.decision and view.decision.action == "accept" else None
                view.rejected = [i for i in rejected.get(view.id, []) if i != accepted]
            yield info, [v for v in views if v.decision is not None or v.rejected]

    def rejections(self, item_ids: Sequence[int]) -> dict[int, list[DecisionView]]:
        """Active reject decisions per item (with curator and time), for exports."""
        with self._read() as session:
            out: dict[int, list[DecisionView]] = defaultdict(list)
            for chunk in _chunks(list(item_ids)):
                for d in session.scalars(
                    select(Decision)
                    .where(Decision.item_id.in_(chunk), Decision.action == "reject", Decision.undone_at.is_(None))
                    .order_by(Decision.id)
                ):
                    out[d.item_id].append(_decision_view(d))
            return dict(out)

    # ---------------------------------------------------------------- internals

    def _batch_row(self, session: Session, batch_id: int) -> Batch:
        batch = session.get(Batch, batch_id)
        if batch is None:
            raise StoreError(f"no batch {batch_id}")
        return batch

    def _current(
        self, session: Session, item_ids: list[int], batch_id: int | None = None, curator: str | None = None
    ) -> dict[int, Decision]:
        """Current decision per item (latest not undone, rejects aside; ``curator``'s own when given)."""
        out: dict[int, Decision] = {}
        if not item_ids:
            return out
        if batch_id is not None:
            current = _current_decisions_subquery(batch_id, curator)
            for d in session.scalars(select(Decision).where(Decision.id.in_(select(current.c.decision_id)))):
                out[d.item_id] = d
            return out
        for chunk in _chunks(item_ids):
            latest = (
                select(func.max(Decision.id))
                .where(Decision.item_id.in_(chunk), *_current_conditions(curator))
                .group_by(Decision.item_id)
            )
            for d in session.scalars(select(Decision).where(Decision.id.in_(latest))):
                out[d.item_id] = d
        return out

    def _rejected(self, session: Session, item_ids: list[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = defaultdict(list)
        for chunk in _chunks(item_ids):
            for item_id, inst in session.execute(
                select(Decision.item_id, Decision.institution_id)
                .where(Decision.item_id.in_(chunk), Decision.action == "reject", Decision.undone_at.is_(None))
                .order_by(Decision.id)
            ):
                if inst not in out[item_id]:
                    out[item_id].append(inst)
        return out

    def _views(self, session: Session, rows: Sequence[Item], current: dict[int, Decision]) -> list[ItemView]:
        ids = [r.id for r in rows]
        cands: dict[int, list[Candidate]] = defaultdict(list)
        for chunk in _chunks(ids):
            # plain rows, not ORM objects: a 20,000-item export reads 200,000 of them
            for c in session.execute(
                select(*_CANDIDATE_COLUMNS).where(CandidateRow.item_id.in_(chunk)).order_by(CandidateRow.item_id, CandidateRow.rank)
            ):
                cands[c.item_id].append(_candidate(c))
        rejected = self._rejected(session, ids)
        views = []
        for r in rows:
            view = _item_view(r)
            view.candidates = cands.get(r.id, [])
            d = current.get(r.id)
            view.decision = _decision_view(d) if d is not None else None
            accepted = set(_accepted_ids(d)) if d is not None else set()
            view.rejected = [i for i in rejected.get(r.id, []) if i not in accepted]
            views.append(view)
        return views


# ----------------------------------------------------------------------------- helpers


def _current_conditions(curator: str | None = None) -> list[Any]:
    """WHERE conditions of current-decision candidates: not undone, not a reject; when ``curator``
    is given, theirs and not a resolution (a lead's resolution is not their own labelling)."""
    conditions: list[Any] = [Decision.undone_at.is_(None), Decision.action != "reject"]
    if curator:
        conditions += [
            Decision.curator == _curator(curator),
            or_(Decision.method.is_(None), Decision.method != "resolution"),
        ]
    return conditions


def _current_decisions_subquery(batch_id: int | None = None, curator: str | None = None):  # noqa: ANN202
    """SELECT max(decision id) AS decision_id per item: the current decisions (of one batch, of a curator)."""
    query = select(func.max(Decision.id).label("decision_id")).where(*_current_conditions(curator))
    if batch_id is not None:
        query = query.join(Item, and_(Item.id == Decision.item_id, Item.batch_id == batch_id))
    return query.group_by(Decision.item_id).subquery()


def _strings_and_counts(intake: IntakeResult | Sequence[str]) -> tuple[list[str], dict[str, int]]:
    if isinstance(intake, IntakeResult):
        return list(intake.strings), {s: intake.counts.get(s, 1) for s in intake.strings}
    if isinstance(intake, str):
        intake = [intake]
    counts: Counter[str] = Counter()
    strings: list[str] = []
    for s in intake:
        s = str(s).strip()
        if not s:
            continue
        if s not in counts:
            strings.append(s)
        counts[s] += 1
    return strings, dict(counts)


def _insert_items(session: Session, batch_id: int, strings: list[str], counts: dict[str, int], start: int) -> int:
    """Insert items, folding strings whose normalised form is the same (their counts add up)."""
    by_hash: dict[str, dict[str, Any]] = {}
    for text in strings:
        h = affiliation_hash(text)
        if h in by_hash:
            by_hash[h]["count"] += counts.get(text, 1)
            continue
        by_hash[h] = {
            "batch_id": batch_id, "position": start + len(by_hash), "affiliation": text,
            "affiliation_hash": h, "count": counts.get(text, 1),
        }
    rows = list(by_hash.values())
    for i in range(0, len(rows), _CHUNK):
        session.execute(insert(Item), rows[i : i + _CHUNK])
    return len(rows)


def _batch_info(b: Batch, total: int, ranked: int, actions: dict[str, int]) -> BatchInfo:
    return BatchInfo(
        id=b.id, name=b.name, created_at=b.created_at, source=b.source or "", registry_name=b.registry_name or "",
        registry_version=b.registry_version or "", model_id=b.model_id or "", total=total, ranked=ranked,
        by_action={a: actions.get(a, 0) for a in DECIDING_ACTIONS},
    )


def _item_view(r: Item) -> ItemView:
    return ItemView(
        id=r.id, batch_id=r.batch_id, position=r.position, affiliation=r.affiliation, count=r.count,
        ranked=r.ranked_at is not None, model_id=r.model_id, registry_version=r.registry_version,
        threshold=r.threshold, notes=list(r.notes or []), ranked_at=r.ranked_at,
        top_score=r.top_score, second_score=r.second_score,
    )


_CANDIDATE_COLUMNS = (
    CandidateRow.item_id, CandidateRow.institution_id, CandidateRow.name, CandidateRow.score,
    CandidateRow.retrieval_score, CandidateRow.document, CandidateRow.city, CandidateRow.country_code,
    CandidateRow.country_name, CandidateRow.types, CandidateRow.status, CandidateRow.evidence,
)
_EVIDENCE_FIELDS = frozenset(Evidence.__dataclass_fields__)


def _candidate(c: Any) -> Candidate:
    """A Candidate from a CandidateRow or a row of ``_CANDIDATE_COLUMNS``."""
    evidence = c.evidence if isinstance(c.evidence, dict) else {}
    known = _EVIDENCE_FIELDS
    return Candidate(
        id=c.institution_id, name=c.name, score=c.score, retrieval_score=c.retrieval_score or 0.0,
        document=c.document or "", city=c.city, country_code=c.country_code, country_name=c.country_name,
        types=list(c.types or []), status=c.status or "active",
        evidence=Evidence(**{k: v for k, v in evidence.items() if k in known}),
    )


class _Chosen:
    """A decision of the log (a dict from ``Store.decisions``) read like a Decision row."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.id = row["id"]
        self.action = row["action"]
        self.institution_id = row["institution_id"]
        self.institution_name = row["institution_name"]
        self.curator = row["curator"]
        self.created_at = row["created_at"]
        self.score = row["score"]
        self.document = row.get("document")
        self.seconds_spent = row.get("seconds_spent")
        self.also_accepted = row.get("also") or None

    def view(self) -> DecisionView:
        return DecisionView(
            id=self.id, action=self.action, institution_id=self.institution_id, institution_name=self.institution_name,
            curator=self.curator, at=self.created_at, score=self.score, document=self.document, seconds=self.seconds_spent,
            also=[AcceptedInstitution(str(a["id"]), a.get("name"), a.get("document"), a.get("score"))
                  for a in _also_list(self) if a.get("id")],
        )


def _decision_view(d: Decision) -> DecisionView:
    return DecisionView(
        id=d.id, action=d.action, institution_id=d.institution_id, institution_name=d.institution_name,
        curator=d.curator, at=d.created_at, score=d.score, document=d.document, seconds=d.seconds_spent,
        also=[AcceptedInstitution(str(a["id"]), a.get("name"), a.get("document"), a.get("score"))
              for a in _also_list(d) if a.get("id")],
    )


def _also_list(d: Decision) -> list[dict[str, Any]]:
    raw = getattr(d, "also_accepted", None)
    return [a for a in raw if isinstance(a, dict)] if isinstance(raw, list) else []


def _accepted_ids(d: Decision | None) -> list[str]:
    """Every institution a decision accepts, its first one first ([] unless an accept)."""
    if d is None or d.action != "accept" or not d.institution_id:
        return []
    out = [d.institution_id]
    for a in _also_list(d):
        if a.get("id") and a["id"] not in out:
            out.append(str(a["id"]))
    return out


def _accepted_names(d: Decision | None) -> list[str]:
    if d is None or d.action != "accept" or not d.institution_id:
        return []
    return [d.institution_name or d.institution_id, *(a.get("name") or a["id"] for a in _also_list(d) if a.get("id"))]


def _also_rows(also: Iterable[Any], first: str | None, candidate: Callable[[str], Any]) -> list[dict[str, Any]] | None:
    """The JSON of ``decisions.also_accepted``: ids (or AcceptedInstitution) beyond the first,
    named from the item's candidates where they are among them; None when there are none."""
    out: list[dict[str, Any]] = []
    seen = {first}
    for a in also or ():
        entry = a if isinstance(a, AcceptedInstitution) else AcceptedInstitution(str(a))
        inst = _norm_id(entry.id) if entry.id else None
        if not inst or inst in seen:
            continue
        seen.add(inst)
        cand = candidate(inst)
        out.append({
            "id": inst,
            "name": cand.name if cand is not None else entry.name,
            "document": cand.document if cand is not None and cand.document else entry.document,
            "score": cand.score if cand is not None else entry.score,
        })
    return out or None


def _also_entries(session: Session, item_id: int, first: str | None, also: Sequence[Any]) -> list[dict[str, Any]]:
    if not also:
        return []
    cands = {c.institution_id: c for c in session.scalars(select(CandidateRow).where(CandidateRow.item_id == item_id))}
    return _also_rows(also, first, cands.get) or []


_SUCCEEDED = re.compile(r"succeeded by candidate (\d+)")


def _successor_listed(top: CandidateRow, others: Sequence[CandidateRow]) -> str:
    """Why a bulk accept must not take this inactive/withdrawn top candidate: its active successor
    is among the item's candidates (named by the relation evidence or the status note); "" else."""
    if (top.status or "active") == "active":
        return ""
    evidence = top.evidence if isinstance(top.evidence, dict) else {}
    ranks = {int(m) for r in evidence.get("relations") or [] for m in _SUCCEEDED.findall(str(r))}
    note = str(evidence.get("status_note") or "")
    for c in sorted(others, key=lambda c: c.rank):
        if (c.status or "active") != "active":
            continue
        bare = c.institution_id.rsplit("/", 1)[-1]
        if c.rank in ranks or (bare and bare in note):
            return f"{top.status} record; its active successor {c.name} is candidate {c.rank}"
    return ""


def _norm_id(value: str) -> str:
    value = str(value).strip()
    return normalize_ror_id(value) or value


def _curator(name: str | None) -> str:
    name = re.sub(r"\s+", " ", str(name or "")).strip()[:200]
    return name or "anonymous"


def _seconds(value: float | None) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _short(text: str, n: int = 60) -> str:
    return repr(text if len(text) <= n else text[: n - 1] + "…")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _chunks(ids: list[int], size: int = _CHUNK) -> Iterator[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _reason(err: DBAPIError) -> str:
    """The driver's message without SQLAlchemy's statement dump."""
    return str(getattr(err, "orig", None) or err).strip().splitlines()[0]


def _rate(times: list[datetime]) -> float | None:
    """Decisions per hour from consecutive decision times; gaps over 5 minutes count as 5 (breaks)."""
    if len(times) < 2:
        return None
    gaps = [min((b - a).total_seconds(), 300.0) for a, b in zip(times, times[1:])]
    total = sum(gaps)
    if total <= 0:
        return None
    return 3600.0 * len(gaps) / total
