"""The curation store: batches, ranking results, decisions, undo, bulk accept, progress, migrations."""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, inspect, text

from affiliation_curator import config
from affiliation_curator.engine.results import Candidate, Evidence, MatchResult
from affiliation_curator.curation.intake import parse_paste
from affiliation_curator.curation.store import (
    LATEST_VERSION,
    Store,
    StoreError,
    current_version,
    dispose_engines,
    get_engine,
    migrate,
)
from affiliation_curator.curation.store.models import Base

MIT = "https://ror.org/042nb2s44"
HARVARD = "https://ror.org/03vek6s52"
ETH = "https://ror.org/05a28rw58"


def result(text: str, *scored: tuple[str, str, float], threshold: float = 0.5) -> MatchResult:
    cands = [
        Candidate(
            id=i, name=n, score=s, retrieval_score=s / 2, document=f"{n}, Somewhere", city="Somewhere",
            country_code="US", country_name="United States", types=["education"],
            evidence=Evidence(matched_name=n, name_type="label", country_match=True),
        )
        for i, n, s in scored
    ]
    return MatchResult(text, cands, cands[0].id if cands and cands[0].score >= threshold else None, model="tiny", threshold=threshold)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def ranked(store: Store) -> tuple[Store, int, list[int]]:
    batch = store.create_batch("ranked", parse_paste("MIT\nHarvard Medical School\nETH Zurich\nNowhere Inst\n"), "demo", "v1", "tiny")
    ids = [v.id for v in store.items(batch)]
    store.save_result(ids[0], result("MIT", (MIT, "MIT", 0.97), (HARVARD, "Harvard", 0.10)))
    store.save_result(ids[1], result("Harvard Medical School", (HARVARD, "Harvard", 0.55), (MIT, "MIT", 0.50)))
    store.save_result(ids[2], result("ETH Zurich", (ETH, "ETH Zürich", 0.91), (MIT, "MIT", 0.20)))
    store.save_result(ids[3], result("Nowhere Inst", (MIT, "MIT", 0.30), (ETH, "ETH Zürich", 0.05)))
    return store, batch, ids


def test_default_url_is_sqlite_in_the_data_dir_with_wal_and_foreign_keys(store: Store, curator_home):
    assert store.url == f"sqlite:///{curator_home / 'curator.db'}"
    assert (curator_home / "curator.db").exists()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert current_version(conn) == LATEST_VERSION
    assert Store().engine is store.engine  # one Engine per URL


def test_env_var_picks_the_database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'other.db'}"
    monkeypatch.setenv("AFFILIATION_CURATOR_DB", url)
    assert Store().url == url and (tmp_path / "other.db").exists()


def test_create_batch_keeps_order_counts_and_folds_normalised_duplicates(store: Store):
    intake = parse_paste("B Univ\nA  Univ\nB Univ\nA Univ\n")  # "A  Univ" and "A Univ" hash alike
    batch = store.create_batch("first", intake, "demo", "v1", "tiny", source="paste")
    items = store.items(batch)
    assert [(v.position, v.affiliation, v.count) for v in items] == [(0, "B Univ", 2), (1, "A  Univ", 2)]
    info = store.batch(batch)
    assert (info.name, info.total, info.ranked, info.undecided, info.source) == ("first", 2, 0, 2, "paste")
    assert (info.registry_name, info.registry_version, info.model_id) == ("demo", "v1", "tiny")


def test_batch_names_are_unique(store: Store):
    names = [store.batch(store.create_batch("Jan", ["x"])).name for _ in range(3)]
    assert names == ["Jan", "Jan (2)", "Jan (3)"]
    assert store.batch(store.create_batch("", ["x"])).name.startswith("Batch ")
    assert [b.name for b in store.batches()][1:4] == ["Jan (3)", "Jan (2)", "Jan"]  # newest first
    with pytest.raises(StoreError, match="at least one"):
        store.create_batch("empty", [])


def test_add_items_appends_and_counts(store: Store):
    batch = store.create_batch("b", ["A", "B"])
    assert store.add_items(batch, ["B", "C", "C"]) == 1
    assert [(v.affiliation, v.count, v.position) for v in store.items(batch)] == [("A", 1, 0), ("B", 2, 1), ("C", 2, 2)]


def test_save_result_keeps_candidates_exactly(ranked):
    store, batch, ids = ranked
    view = store.item(ids[2])
    assert view.ranked and view.model_id == "tiny" and view.registry_version == "v1"
    top = view.top
    assert (top.id, top.name, top.score, top.document, top.types) == (ETH, "ETH Zürich", 0.91, "ETH Zürich, Somewhere", ["education"])
    assert top.evidence.matched_name == "ETH Zürich" and top.evidence.country_match is True
    assert view.margin == pytest.approx(0.71)
    # ranking again replaces the candidates
    store.save_result(ids[2], result("ETH Zurich", (ETH, "ETH Zürich", 0.99)), registry_version="v2")
    view = store.item(ids[2])
    assert [c.score for c in view.candidates] == [0.99] and view.registry_version == "v2"


def test_save_results_in_one_transaction_equals_one_by_one(store: Store):
    texts = ["MIT", "ETH Zurich", "Nowhere Inst"]
    made = [result("MIT", (MIT, "MIT", 0.97), (HARVARD, "Harvard", 0.10)), result("ETH Zurich", (ETH, "ETH Zürich", 0.91)),
            result("Nowhere Inst")]
    one, many = store.create_batch("one", texts, "demo", "v1"), store.create_batch("many", texts, "demo", "v1")
    for item, res in zip(store.items(one), made):
        store.save_result(item.id, res)
    store.save_results([(item.id, res) for item, res in zip(store.items(many), made)])
    shape = lambda batch: [(v.ranked, v.registry_version, v.top_score, v.notes,  # noqa: E731
                            [(c.id, c.name, c.score, c.document, c.evidence) for c in v.candidates]) for v in store.items(batch)]
    assert shape(many) == shape(one) and store.count_unranked(many) == 0
    with pytest.raises(StoreError, match="no item"):  # all or nothing: an unknown item saves none of them
        store.save_results([(store.items(one)[0].id, made[1]), (10**9, made[0])])
    assert store.item(store.items(one)[0].id).top.id == MIT


def test_unranked_items_and_count(store: Store):
    batch = store.create_batch("b", ["A", "B", "C"])
    assert [v.affiliation for v in store.unranked_items(batch, 2)] == ["A", "B"]
    store.save_result(store.items(batch)[0].id, result("A"))  # no candidates is a result too
    assert store.count_unranked(batch) == 2
    assert [v.affiliation for v in store.unranked_items(batch, 10)] == ["B", "C"]
    assert store.mark_unranked(batch) == 3 and store.count_unranked(batch) == 3


def test_decide_accept_none_skip_and_status_filters(ranked):
    store, batch, ids = ranked
    store.decide(ids[0], "accept", "ana", MIT, seconds=4.5)
    store.decide(ids[1], "skip", "ana")
    store.decide(ids[3], "none", "ben")
    assert [v.id for v in store.items(batch, status="accepted")] == [ids[0]]
    assert [v.id for v in store.items(batch, status="skipped")] == [ids[1]]
    assert [v.id for v in store.items(batch, status="none")] == [ids[3]]
    assert [v.id for v in store.items(batch, status="undecided")] == [ids[2]]
    d = store.item(ids[0]).decision
    assert (d.action, d.institution_id, d.institution_name, d.curator, d.seconds, d.score) == ("accept", MIT, "MIT", "ana", 4.5, 0.97)
    info = store.batch(batch)
    assert (info.decided, info.skipped, info.undecided, info.by_action["accept"]) == (2, 1, 1, 1)
    # a later decision supersedes the current one
    store.decide(ids[1], "accept", "ana", HARVARD)
    assert store.item(ids[1]).status == "accepted"
    assert store.count_items(batch, "skipped") == 0 and store.count_items(batch, "accepted") == 2


def test_accept_any_institution_and_ror_id_spellings(ranked):
    store, batch, ids = ranked
    store.decide(ids[3], "accept", "ana", "ror.org/00f54p054", institution_name="Stanford University", document="Stanford University, Stanford, United States")
    d = store.item(ids[3]).decision
    assert d.institution_id == "https://ror.org/00f54p054" and d.institution_name == "Stanford University"
    assert d.document.startswith("Stanford University") and d.score is None


def test_reject_marks_a_candidate_without_deciding(ranked):
    store, batch, ids = ranked
    store.decide(ids[1], "reject", "ana", HARVARD)
    view = store.item(ids[1])
    assert view.decision is None and view.rejected == [HARVARD] and view.status == "undecided"
    store.decide(ids[1], "accept", "ana", MIT)
    assert store.item(ids[1]).rejected == [HARVARD]
    with pytest.raises(StoreError, match="accepted match"):
        store.decide(ids[1], "reject", "ana", MIT)
    assert store.progress(batch)["rejected"] == 1


def test_decide_errors(ranked):
    store, batch, ids = ranked
    with pytest.raises(StoreError, match="unknown action"):
        store.decide(ids[0], "maybe", "ana")
    with pytest.raises(StoreError, match="needs an institution id"):
        store.decide(ids[0], "accept", "ana")
    with pytest.raises(StoreError, match="no item"):
        store.decide(999999, "none", "ana")
    with pytest.raises(StoreError, match="no batch"):
        store.items(424242)
    with pytest.raises(StoreError, match="unknown status"):
        store.items(batch, status="weird")


def test_undo_takes_back_the_last_step_and_restores_the_previous_decision(ranked):
    store, batch, ids = ranked
    store.decide(ids[0], "skip", "ana")
    store.decide(ids[0], "accept", "ana", MIT)
    store.decide(ids[2], "none", "ben")
    undone = store.undo(batch, curator="ana")  # ana's last step, not ben's
    assert undone.kind == "decision" and undone.item_ids == [ids[0]] and "accept MIT" in undone.description
    assert store.item(ids[0]).status == "skipped"  # the previous decision is current again
    assert store.item(ids[2]).status == "none"
    assert store.undo(batch).item_ids == [ids[2]]
    assert store.undo(batch).item_ids == [ids[0]]
    assert store.undo(batch) is None
    assert store.items(batch, status="undecided") and store.batch(batch).undecided == 4


def test_bulk_accept_preview_commit_and_undo_as_one_step(ranked):
    store, batch, ids = ranked
    store.decide(ids[2], "reject", "ben", ETH)  # a rejected top candidate is never bulk-accepted
    preview = store.bulk_accept(batch, 0.5, "ana", preview=True)
    assert [(p.item_id, p.institution_id, p.score) for p in preview] == [(ids[0], MIT, 0.97), (ids[1], HARVARD, 0.55)]
    assert store.batch(batch).decided == 0  # preview changes nothing
    store.decide(ids[1], "none", "ana")
    done = store.bulk_accept(batch, 0.5, "ana")
    assert [p.item_id for p in done] == [ids[0]]  # decided items are left alone
    assert store.item(ids[0]).decision.curator == "ana"
    assert store.bulk_accept(batch, 0.5, "ana") == []
    undone = store.undo(batch)
    assert undone.kind == "bulk_accept" and undone.item_ids == [ids[0]]
    assert store.item(ids[0]).decision is None and store.item(ids[1]).status == "none"


def test_bulk_accept_only_the_previewed_items_that_still_qualify(ranked):
    store, batch, ids = ranked
    preview = store.bulk_accept(batch, 0.5, "ana", preview=True)
    store.decide(ids[0], "none", "ana")  # decided meanwhile (in another tab)
    store.decide(ids[1], "none", "ben")  # another curator's decision is theirs: ana's bulk accept still takes it
    assert [p.item_id for p in preview] == ids[:3]
    previewed = [(p.item_id, p.institution_id) for p in preview if p.item_id != ids[2]] + [(ids[2], MIT)]
    done = store.bulk_accept(batch, 0.5, "ana", only=previewed)
    # ids[0] was decided meanwhile; ids[2]'s top candidate is ETH, not the MIT "previewed"
    assert [(d.item_id, d.institution_id) for d in done] == [(ids[1], HARVARD)]
    assert store.item(ids[0]).status == "none"
    assert store.item(ids[1], curator="ben").status == "none" and store.item(ids[1], curator="ana").status == "accepted"
    assert store.bulk_accept(batch, 0.5, "ana", only=[(ids[3], MIT)]) == []  # below the threshold


def test_bulk_accept_of_many_items_is_one_undo_step(store: Store):
    batch = store.create_batch("many", [f"Univ {i}" for i in range(30)])
    for v in store.items(batch):
        store.save_result(v.id, result(v.affiliation, (f"id{v.position}", f"U{v.position}", 0.6 + v.position / 100)))
    assert len(store.bulk_accept(batch, 0.8, "ana")) == 10
    assert store.batch(batch).decided == 10
    assert store.undo(batch).count == 10
    assert store.batch(batch).decided == 0


def test_uncertain_order_puts_the_least_confident_first(ranked):
    store, batch, ids = ranked
    unranked = store.add_items(batch, ["Not ranked yet"])
    order = [v.affiliation for v in store.items(batch, order="uncertain")]
    # Harvard: margin 0.05; Nowhere: 0.30 is 0.20 from the threshold; ETH: 0.41 from it; MIT: 0.47; unranked last
    assert order == ["Harvard Medical School", "Nowhere Inst", "ETH Zurich", "MIT", "Not ranked yet"]
    assert unranked == 1
    page = store.items(batch, status="undecided", order="uncertain", limit=2, offset=1)
    assert [v.affiliation for v in page] == ["Nowhere Inst", "ETH Zurich"]


def test_progress_counts_and_pace():
    clock = Clock()
    store = Store(clock=clock)
    batch = store.create_batch("pace", [f"U{i}" for i in range(10)])
    ids = [v.id for v in store.items(batch)]
    p = store.progress(batch)
    assert (p["total"], p["decided"], p["undecided"], p["decisions_per_hour"], p["eta_seconds"]) == (10, 0, 10, None, None)
    for item_id in ids[:4]:
        store.decide(item_id, "none", "ana")
        clock.tick(30)
    clock.tick(3600)  # a long break counts as five minutes at most
    store.decide(ids[4], "skip", "ana")
    p = store.progress(batch)
    gaps = [30, 30, 30, min(3630, 300)]
    assert p["decisions_per_hour"] == pytest.approx(3600 * 4 / sum(gaps))
    assert (p["decided"], p["skipped"], p["undecided"]) == (4, 1, 5)
    assert p["by_action"] == {"accept": 0, "none": 4, "skip": 1}
    assert p["eta_seconds"] == pytest.approx(6 / p["decisions_per_hour"] * 3600)


def test_table_rows(ranked):
    store, batch, ids = ranked
    store.decide(ids[0], "accept", "ana", MIT)
    store.decide(ids[3], "none", "ana")
    rows = store.table(batch)
    assert [r["affiliation"] for r in rows] == ["MIT", "Harvard Medical School", "ETH Zurich", "Nowhere Inst"]
    first = rows[0]
    assert (first["decision"], first["institution_id"], first["institution_name"], first["score"], first["curator"]) == (
        "accept", MIT, "MIT", 0.97, "ana")
    assert first["decided_at"] is not None and first["registry_version"] == "v1" and first["model_id"] == "tiny"
    assert (rows[3]["decision"], rows[3]["institution_id"], rows[1]["decision"]) == ("none", "", "")


def test_every_write_survives_a_restart(ranked):
    store, batch, ids = ranked
    store.decide(ids[0], "accept", "ana", MIT)
    url = store.url
    dispose_engines()  # as if the server was killed: a fresh engine, fresh connections
    again = Store(url)
    assert again.engine is not store.engine
    assert again.item(ids[0]).decision.institution_id == MIT
    assert again.item(ids[2]).top.name == "ETH Zürich"
    assert again.batch(batch).decided == 1


def test_delete_and_rename_batch(ranked):
    store, batch, ids = ranked
    store.decide(ids[0], "accept", "ana", MIT)
    other = store.create_batch("other", ["x"])
    with pytest.raises(StoreError, match="exists already"):
        store.rename_batch(other, "ranked")
    assert store.rename_batch(other, "renamed") == "renamed"
    store.delete_batch(batch)
    assert [b.name for b in store.batches()] == ["renamed"]
    with pytest.raises(StoreError):
        store.item(ids[0])


def test_concurrent_writers_do_not_fail(store: Store):
    batch = store.create_batch("busy", [f"U{i}" for i in range(40)])
    ids = [v.id for v in store.items(batch)]
    errors: list[BaseException] = []

    def work(part: list[int], who: str) -> None:
        try:
            other = Store(store.url)
            for item_id in part:
                other.decide(item_id, "none", who)
                other.items(batch, status="undecided", limit=5)
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=work, args=(ids[i::2], f"c{i}")) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert store.batch(batch).decided == 40


# ----------------------------------------------------------------------------- migrations


def test_a_version_1_database_upgrades_and_keeps_its_data(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    assert migrate(engine, target=1) == [1]
    with engine.begin() as conn:
        assert "seconds_spent" not in {c["name"] for c in inspect(conn).get_columns("decisions")}
        conn.execute(text(
            "INSERT INTO batches (id, name, created_at, source, registry_name, registry_version, model_id) "
            "VALUES (1, 'legacy', '2024-05-01 10:00:00.000000', 'old.txt', 'demo', 'v0', 'm0')"))
        conn.execute(text(
            "INSERT INTO items (id, batch_id, position, affiliation, affiliation_hash, count, ranked_at, top_score, second_score, threshold) "
            "VALUES (1, 1, 0, 'Old Univ', 'h', 3, '2024-05-01 10:01:00.000000', 0.8, 0.1, 0.5)"))
        conn.execute(text(
            "INSERT INTO candidates (item_id, rank, institution_id, name, score, document, status) "
            "VALUES (1, 1, 'https://ror.org/042nb2s44', 'MIT', 0.8, 'MIT, Cambridge', 'active')"))
        conn.execute(text(
            "INSERT INTO undo_groups (id, batch_id, kind, description, curator, created_at) "
            "VALUES (1, 1, 'decision', 'accept', 'old', '2024-05-01 10:02:00.000000')"))
        conn.execute(text(
            "INSERT INTO decisions (item_id, action, institution_id, curator, created_at, undo_group) "
            "VALUES (1, 'accept', 'https://ror.org/042nb2s44', 'old', '2024-05-01 10:02:00.000000', 1)"))
    engine.dispose()

    store = Store(url)
    with store.engine.connect() as conn:
        assert current_version(conn) == LATEST_VERSION
        columns = {c["name"] for c in inspect(conn).get_columns("decisions")}
        indexes = {i["name"] for i in inspect(conn).get_indexes("decisions")}
    assert "seconds_spent" in columns and "ix_decisions_item" in indexes
    view = store.items(1)[0]
    assert (view.affiliation, view.count, view.top.document) == ("Old Univ", 3, "MIT, Cambridge")
    assert view.decision.institution_id == MIT and view.decision.curator == "old" and view.decision.seconds is None
    assert view.decision.at == datetime(2024, 5, 1, 10, 2, tzinfo=timezone.utc)
    store.decide(view.id, "none", "new", seconds=2.0)  # the new column is usable
    assert store.item(view.id).decision.seconds == 2.0
    assert store.undo(1).kind == "decision"
    assert store.item(view.id).decision.curator == "old"


def test_migrated_schema_matches_the_models(store: Store):
    with store.engine.connect() as conn:
        inspector = inspect(conn)
        for table in Base.metadata.sorted_tables:
            assert {c["name"] for c in inspector.get_columns(table.name)} == {c.name for c in table.columns}, table.name


def test_migrations_run_once_and_refuse_a_newer_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    Store(url)
    engine = get_engine(url)
    assert migrate(engine) == []
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO schema_version (version, applied_at, description) VALUES (99, '2030-01-01 00:00:00', 'future')"))
    with pytest.raises(StoreError, match="schema version 99"):
        Store(url)


def test_in_memory_database_works():
    store = Store("sqlite://")
    batch = store.create_batch("mem", ["A"])
    assert store.items(batch)[0].affiliation == "A"


def test_bad_database_url():
    from affiliation_curator.errors import CuratorError

    with pytest.raises(CuratorError, match="not a database URL"):
        Store("not a url at all")


PG_URL = os.environ.get("AFFILIATION_CURATOR_TEST_PG_URL")  # e.g. postgresql+psycopg://user@host/db (a scratch db)


@pytest.mark.skipif(not PG_URL, reason="set AFFILIATION_CURATOR_TEST_PG_URL to test PostgreSQL")
def test_postgresql_full_scenario():
    from affiliation_curator.curation.export import ExportOptions, build_mapping, build_pairs

    store = Store(PG_URL)
    batch = store.create_batch("pg test", ["MIT", "Harvard Medical School", "ETH Zurich", "Nowhere"], "demo", "v1", "tiny")
    try:
        ids = [v.id for v in store.items(batch)]
        store.save_result(ids[0], result("MIT", (MIT, "MIT", 0.97), (HARVARD, "Harvard", 0.10)))
        store.save_result(ids[1], result("Harvard Medical School", (HARVARD, "Harvard", 0.55), (MIT, "MIT", 0.50)))
        store.save_result(ids[2], result("ETH Zurich", (ETH, "ETH Zürich", 0.91), (MIT, "MIT", 0.20)))
        assert [v.id for v in store.items(batch, order="uncertain")] == [ids[1], ids[2], ids[0], ids[3]]
        store.decide(ids[0], "accept", "ana", MIT, seconds=3)
        store.decide(ids[1], "reject", "ana", HARVARD)
        store.decide(ids[3], "none", "ben")
        assert [v.id for v in store.items(batch, status="undecided")] == [ids[1], ids[2]]
        assert store.item(ids[1]).rejected == [HARVARD]
        assert [b.item_id for b in store.bulk_accept(batch, 0.5, "ana")] == [ids[2]]
        assert store.batch(batch).decided == 3 and store.progress(batch)["rejected"] == 1
        assert store.undo(batch).kind == "bulk_accept"
        assert [r["decision"] for r in store.table(batch)] == ["accept", "", "", "none"]
        pairs = build_pairs(store, ExportOptions(batches=[batch]))
        assert {(p.query, p.label) for p in pairs.pairs} == {("MIT", 1), ("MIT", 0), ("Harvard Medical School", 0)}  # "Nowhere" has no candidates
        assert len(build_mapping(store, ExportOptions(batches=[batch]))) == 2
        with store.engine.connect() as conn:
            assert current_version(conn) == LATEST_VERSION
    finally:
        store.delete_batch(batch)


def test_limits_apply_to_add_items(store: Store, monkeypatch):
    batch = store.create_batch("small", ["A", "B"])
    monkeypatch.setattr(config, "MAX_BATCH_ROWS", 3)
    with pytest.raises(StoreError, match="at most 3"):
        store.add_items(batch, ["C", "D"])
    assert store.batch(batch).total == 2


def test_a_file_that_is_not_a_database_gives_a_clear_error_and_is_left_alone(curator_home):
    curator_home.mkdir(parents=True, exist_ok=True)
    path = curator_home / "curator.db"
    path.write_bytes(b"garbage garbage garbage garbage garbage")
    with pytest.raises(StoreError, match="cannot open the database .*curator.db: file is not a database"):
        Store()
    assert path.read_bytes().startswith(b"garbage")
    path.unlink()
    assert Store().batches() == []  # once the file is fixed, the store opens


def test_cli_reports_a_broken_database_in_one_line(curator_home, capsys):
    from affiliation_curator.cli import main

    curator_home.mkdir(parents=True, exist_ok=True)
    (curator_home / "curator.db").write_bytes(b"not sqlite at all, really not" * 4)
    assert main(["decisions", "batches"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot open the database") and "Traceback" not in err
