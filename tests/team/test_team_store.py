"""Decisions per curator in the store: nobody's decision replaces another's, undo is one's own,
the migration from schema 3 keeps every decision, exports use the resolved label."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, inspect, text

from affiliation_curator.curation.export import MAPPING_COLUMNS, ExportOptions, build_mapping, build_pairs, export_mapping
from affiliation_curator.curation.store import LATEST_VERSION, Store, current_version, migrate
from affiliation_curator.team.report import agreement_text, batch_agreement, resolve_conflict
from affiliation_curator.team.users import AccessError, Identity
from tests.curation.test_store import ETH, HARVARD, MIT, result

PG_URL = os.environ.get("AFFILIATION_CURATOR_TEST_PG_URL")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="set AFFILIATION_CURATOR_TEST_PG_URL"))]
LEAD = Identity("lea", "lead")


@pytest.fixture(params=BACKENDS)
def ranked(request):
    store = Store(PG_URL if request.param == "postgresql" else None)
    batch = store.create_batch(f"team {request.param} {os.getpid()}", ["MIT", "Harvard Medical School", "ETH Zurich", "Nowhere"])
    ids = [v.id for v in store.items(batch)]
    store.save_result(ids[0], result("MIT", (MIT, "MIT", 0.97), (HARVARD, "Harvard", 0.10)))
    store.save_result(ids[1], result("Harvard Medical School", (HARVARD, "Harvard", 0.55), (MIT, "MIT", 0.50)))
    store.save_result(ids[2], result("ETH Zurich", (ETH, "ETH Zürich", 0.91), (MIT, "MIT", 0.20)))
    yield store, batch, ids
    store.delete_batch(batch)


def test_each_curator_keeps_their_own_decision(ranked):
    store, batch, ids = ranked
    store.decide(ids[0], "accept", "ann", MIT)
    store.decide(ids[0], "none", "bob")  # bob's does not replace ann's
    assert store.item(ids[0], curator="ann").decision.action == "accept"
    assert store.item(ids[0], curator="bob").decision.action == "none"
    assert [v.id for v in store.items(batch, status="undecided", curator="ann")] == ids[1:]
    assert [v.id for v in store.items(batch, status="undecided", curator="bob")] == ids[1:]
    assert [v.id for v in store.items(batch, status="undecided", curator="cy")] == ids
    assert store.count_items(batch, "accepted", curator="ann") == 1 and store.count_items(batch, "none", curator="bob") == 1
    assert store.progress(batch, curator="cy")["undecided"] == 4
    # both decisions stay, and both appear in the log
    assert [(d["curator"], d["action"], d["method"]) for d in store.decisions(batch)] == [("ann", "accept", "key"), ("bob", "none", "key")]


def test_undo_takes_back_only_ones_own(ranked):
    store, batch, ids = ranked
    store.decide(ids[0], "accept", "ann", MIT)
    store.decide(ids[1], "accept", "bob", HARVARD)
    undone = store.undo(batch, curator="ann")
    assert undone.curator == "ann" and undone.item_ids == [ids[0]]
    assert store.item(ids[0], curator="ann").decision is None
    assert store.item(ids[1], curator="bob").decision.institution_id == HARVARD
    assert store.undo(batch, curator="ann") is None  # nothing of ann's is left; bob's is untouched
    assert store.item(ids[1], curator="bob").decision is not None


def test_a_reject_checks_only_ones_own_accept(ranked):
    store, batch, ids = ranked
    store.decide(ids[0], "accept", "ann", MIT)
    store.decide(ids[0], "reject", "bob", MIT)  # bob thinks MIT is wrong: allowed, ann accepted it, not bob
    assert store.item(ids[0], curator="bob").rejected == [MIT]


def test_bulk_accept_and_imports_are_the_curators_own(ranked):
    store, batch, ids = ranked
    store.decide(ids[0], "none", "bob")
    taken = store.bulk_accept(batch, 0.5, "ann")
    assert [t.item_id for t in taken] == ids[:3]  # bob's "none" on MIT does not keep it from ann
    store.record_decisions(batch, [(ids[2], "none", None, None)], "cy", kind="import")
    methods = {(d["curator"], d["item_id"]): d["method"] for d in store.decisions(batch)}
    assert methods[("ann", ids[0])] == "bulk" and methods[("cy", ids[2])] == "import" and methods[("bob", ids[0])] == "key"
    assert store.item(ids[0], curator="bob").decision.action == "none"


def test_exports_use_the_resolved_label_with_provenance(ranked):
    store, batch, ids = ranked
    store.decide(ids[0], "accept", "ann", MIT)
    store.decide(ids[0], "accept", "bob", MIT)  # agreed
    store.decide(ids[1], "accept", "ann", HARVARD)
    store.decide(ids[1], "accept", "bob", MIT, method="search")  # conflict
    store.decide(ids[2], "accept", "ann", ETH)  # single
    rows = {r["affiliation"]: r for r in build_mapping(store, ExportOptions(batches=[batch]))}
    assert set(rows) == {"MIT", "ETH Zurich"}  # the conflict is left out by default
    assert (rows["MIT"]["agreement"], rows["MIT"]["curators"], rows["MIT"]["methods"]) == ("agreed", "ann; bob", "ann:key; bob:key")
    assert rows["ETH Zurich"]["agreement"] == "single"
    assert set(MAPPING_COLUMNS) <= set(rows["MIT"])
    with_majority = store.table(batch, rule="majority")
    assert with_majority[1]["decision"] == "" and with_majority[1]["agreement"] == "conflict"  # 1:1 is no majority

    report = batch_agreement(store, batch)
    assert [(p.a, p.b, p.overlap, p.agreed) for p in report.pairs] == [("ann", "bob", 2, 1)]
    assert [c.item_id for c in report.conflicts] == [ids[1]]
    with pytest.raises(AccessError, match="only a lead"):
        resolve_conflict(store, Identity("bob", "curator"), ids[1], f"accept:{MIT}")
    resolve_conflict(store, LEAD, ids[1], f"accept:{MIT}")
    rows = {r["affiliation"]: r for r in build_mapping(store, ExportOptions(batches=[batch]))}
    harvard = rows["Harvard Medical School"]
    assert (harvard["ror_id"], harvard["agreement"], harvard["resolved_by"], harvard["curator"]) == (MIT, "resolved", "lea", "lea")
    assert harvard["methods"] == "ann:key; bob:search"
    assert batch_agreement(store, batch).conflicts == []
    assert store.item(ids[1], curator="lea").decision is None  # a resolution is not the lead's own labelling
    # the pairs follow the resolved labels: MIT is the positive of the resolved item, Harvard is not
    pairs = build_pairs(store, ExportOptions(batches=[batch], hard_negatives=0))
    positives = {(p.query, p.institution_id) for p in pairs.pairs if p.label == 1}
    assert positives == {("MIT", MIT), ("Harvard Medical School", MIT), ("ETH Zurich", ETH)}
    text_report = agreement_text(batch_agreement(store, batch))
    assert "ann / bob" in text_report and "50.0 %" in text_report and "conflicts: 0" in text_report
    card = export_mapping(store, "m.csv", ExportOptions(batches=[batch]), write=False).card
    assert "## Agreement" in card and "ann / bob" in card


def test_schema_3_database_migrates_keeping_every_decision(tmp_path):
    url = f"sqlite:///{tmp_path / 'v3.db'}"
    engine = create_engine(url)
    assert migrate(engine, target=3) == [1, 2, 3]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO batches (id, name, created_at) VALUES (1, 'old', '2025-01-01 10:00:00')"))
        conn.execute(text("INSERT INTO items (id, batch_id, position, affiliation, affiliation_hash, count) VALUES "
                          "(1, 1, 0, 'MIT', 'h1', 1), (2, 1, 1, 'ETH', 'h2', 1)"))
        conn.execute(text("INSERT INTO undo_groups (id, batch_id, kind, curator, created_at) VALUES "
                          "(1, 1, 'decision', 'ann', '2025-01-01 10:01:00'), (2, 1, 'decision', 'bob', '2025-01-01 10:02:00'), "
                          "(3, 1, 'bulk_accept', 'ann', '2025-01-01 10:03:00'), (4, 1, 'import', 'cy', '2025-01-01 10:04:00')"))
        conn.execute(text(
            "INSERT INTO decisions (id, item_id, action, institution_id, curator, created_at, undo_group) VALUES "
            f"(1, 1, 'accept', '{MIT}', 'ann', '2025-01-01 10:01:00', 1), "
            "(2, 1, 'none', NULL, 'bob', '2025-01-01 10:02:00', 2), "  # used to replace ann's
            f"(3, 2, 'accept', '{ETH}', 'ann', '2025-01-01 10:03:00', 3), "
            f"(4, 2, 'accept', '{ETH}', 'cy', '2025-01-01 10:04:00', 4)"))
    engine.dispose()
    store = Store(url)
    with store.engine.connect() as conn:
        assert current_version(conn) == LATEST_VERSION
        assert {"users", "batch_sharing", "item_coverage", "item_claims"} <= set(inspect(conn).get_table_names())
        assert conn.execute(text("SELECT count(*) FROM decisions")).scalar() == 4
    log = store.decisions(1)
    assert [(d["id"], d["curator"], d["method"]) for d in log] == [(1, "ann", "key"), (2, "bob", "key"), (3, "ann", "bulk"), (4, "cy", "import")]
    assert store.item(1, curator="ann").decision.institution_id == MIT  # ann's decision is hers again
    assert store.item(1, curator="bob").decision.action == "none"
    report = batch_agreement(store, 1)
    assert report.statuses["conflict"] == 1 and report.statuses["agreed"] == 1
