"""Strings naming several institutions (issue 12): several accepted institutions per item in
the store, kept through migration, undo, exports, the mapping, decisions import and evaluation."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import create_engine, text

from affiliation_curator.candidates import Candidate, Evidence, MatchResult
from affiliation_curator.store import AcceptedInstitution, Store, StoreError, migrate

UMCU = "https://ror.org/0575yy874"
UU = "https://ror.org/04pp8hn57"
TUM = "https://ror.org/02kkvpp62"
STRING = "Dept X, University Medical Center Utrecht, Utrecht University"
PG_URL = os.environ.get("AFFILIATION_CURATOR_TEST_PG_URL")


def _result(text_: str, *scored: tuple[str, str, float]) -> MatchResult:
    cands = [Candidate(id=i, name=n, score=s, document=f"{n}, Utrecht, Netherlands", evidence=Evidence(matched_name=n))
             for i, n, s in scored]
    return MatchResult(text_, cands, cands[0].id, model="tiny", threshold=0.5)


def _batch(store: Store) -> tuple[int, int]:
    batch = store.create_batch("multi", [STRING, "TUM"], "demo", "v1", "tiny")
    item, tum = [v.id for v in store.items(batch)]
    store.save_result(item, _result(STRING, (UMCU, "UMC Utrecht", 0.9), (UU, "Utrecht University", 0.8),
                                    (TUM, "TU Munich", 0.1)))
    store.save_result(tum, _result("TUM", (TUM, "TU Munich", 0.95)))
    return batch, item


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, curator_home) -> Store:
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("set AFFILIATION_CURATOR_TEST_PG_URL to test PostgreSQL")
    store = Store(PG_URL if request.param == "postgresql" else None)
    yield store
    if request.param == "postgresql":
        for b in store.batches():
            if b.name.startswith("multi"):
                store.delete_batch(b.id)


def test_toggle_adds_and_takes_out_institutions_and_undo_steps_back(store: Store):
    batch, item = _batch(store)
    assert store.toggle_accept(item, "ana", UMCU) == (store.item(item).decision.id, True)  # a plain accept first
    store.toggle_accept(item, "ana", UU)
    view = store.item(item)
    assert view.accepted_ids == [UMCU, UU] and view.status == "accepted"
    assert view.decision.institution_names == ["UMC Utrecht", "Utrecht University"]
    assert view.decision.also[0].document == "Utrecht University, Utrecht, Netherlands"
    assert store.table(batch)[0]["institution_ids"] == [UMCU, UU]
    # a reject of an accepted one is refused; of another candidate it is allowed and stays apart
    with pytest.raises(StoreError, match="accepted match"):
        store.decide(item, "reject", "ana", UU)
    store.decide(item, "reject", "ana", TUM)
    assert store.item(item).rejected == [TUM] and store.item(item).accepted_ids == [UMCU, UU]
    # toggling the first out keeps the other as the accepted one
    _, on = store.toggle_accept(item, "ana", UMCU)
    assert not on and store.item(item).accepted_ids == [UU]
    with pytest.raises(StoreError, match="only accepted institution"):
        store.toggle_accept(item, "ana", UU)
    assert store.undo(batch).kind == "decision"  # undo brings back both
    assert store.item(item).accepted_ids == [UMCU, UU]
    store.decide(item, "none", "ana")  # "none of these" still works and clears them
    assert store.item(item).accepted_ids == [] and store.item(item).status == "none"
    store.undo(batch)
    assert store.item(item).accepted_ids == [UMCU, UU]
    assert store.batch(batch).by_action["accept"] == 1  # one item, however many institutions


def test_decide_and_record_decisions_take_several_ids(store: Store):
    batch, item = _batch(store)
    store.decide(item, "accept", "ana", UMCU, also=[UU, UMCU, "04pp8hn57"])  # repeats are dropped
    assert store.item(item).accepted_ids == [UMCU, UU]
    other = store.create_batch("multi import", [STRING])
    (oid,) = [v.id for v in store.items(other)]
    store.record_decisions(other, [(oid, "accept", UMCU, "UMC Utrecht", None,
                                    [AcceptedInstitution(UU, "Utrecht University", "Utrecht University, NL")])], "bob")
    d = store.item(oid).decision
    assert d.institution_ids == [UMCU, UU] and d.also[0].document == "Utrecht University, NL"


def test_a_version_3_database_keeps_every_decision_when_it_gains_several_ids(tmp_path):
    url = f"sqlite:///{tmp_path / 'v3.db'}"
    engine = create_engine(url)
    assert migrate(engine, target=3) == [1, 2, 3]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO batches (id, name, created_at) VALUES (1, 'old', '2026-01-01 10:00:00')"))
        conn.execute(text("INSERT INTO items (id, batch_id, position, affiliation, affiliation_hash, count) "
                          "VALUES (1, 1, 0, 'Utrecht', 'h1', 1), (2, 1, 1, 'Nowhere', 'h2', 1)"))
        conn.execute(text("INSERT INTO decisions (item_id, action, institution_id, institution_name, curator, created_at) "
                          f"VALUES (1, 'accept', '{UU}', 'Utrecht University', 'old', '2026-01-01 10:01:00'), "
                          "(2, 'none', NULL, NULL, 'old', '2026-01-01 10:02:00')"))
    engine.dispose()
    store = Store(url)
    one, two = store.items(1)
    assert one.accepted_ids == [UU] and one.decision.also == [] and one.decision.curator == "old"
    assert two.status == "none" and two.accepted_ids == []
    store.toggle_accept(one.id, "new", UMCU, institution_name="UMC Utrecht")
    assert store.item(one.id).accepted_ids == [UU, UMCU]
    assert store.item(one.id).decision.institution_names == ["Utrecht University", "UMC Utrecht"]


def test_bulk_accept_holds_an_inactive_top_whose_successor_is_listed(store: Store):
    batch = store.create_batch("multi bulk", ["Old Name Institute", "TUM"], "demo", "v1", "tiny")
    old_item, tum = [v.id for v in store.items(batch)]
    old = Candidate(id="https://ror.org/00old0000", name="Old Institute", score=0.97, status="inactive",
                    evidence=Evidence(relations=["succeeded by candidate 2 (New Institute)"],
                                      status_note="inactive; successor: New Institute (https://ror.org/00new0000)"))
    new = Candidate(id="https://ror.org/00new0000", name="New Institute", score=0.95,
                    evidence=Evidence(relations=["successor of candidate 1 (Old Institute)"]))
    store.save_result(old_item, MatchResult("Old Name Institute", [old, new], old.id, "tiny", 0.5))
    store.save_result(tum, _result("TUM", (TUM, "TU Munich", 0.95)))
    preview = store.bulk_accept(batch, 0.5, "ana", preview=True)
    held = {b.item_id: b.held for b in preview}
    assert held[tum] == "" and "successor New Institute is candidate 2" in held[old_item]
    assert [b.item_id for b in store.bulk_accept(batch, 0.5, "ana")] == [tum]
    assert store.item(old_item).decision is None


def test_an_inactive_top_without_a_listed_successor_is_bulk_accepted(store: Store):
    batch = store.create_batch("multi bulk 2", ["Gone Institute"], "demo", "v1", "tiny")
    (item,) = [v.id for v in store.items(batch)]
    gone = Candidate(id="https://ror.org/00gone000", name="Gone", score=0.9, status="withdrawn",
                     evidence=Evidence(status_note="withdrawn; no successor recorded"))
    store.save_result(item, MatchResult("Gone Institute", [gone], gone.id, "tiny", 0.5))
    assert [b.held for b in store.bulk_accept(batch, 0.5, "ana", preview=True)] == [""]
    assert [b.item_id for b in store.bulk_accept(batch, 0.5, "ana")] == [item]
