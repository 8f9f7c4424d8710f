"""Exports: labelled pairs (rules, negatives, dedupe, split, formats, CSV neutralisation, training) and the mapping."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta, timezone

import pytest

from affiliation_curator.engine.results import Candidate, MatchResult
from affiliation_curator.errors import InputError
from affiliation_curator.curation.export import (
    PAIR_COLUMNS,
    ExportOptions,
    build_mapping,
    build_pairs,
    export_mapping,
    export_pairs,
)
from affiliation_curator.curation.formats import neutralise, read_records, unneutralise, writer_for
from affiliation_curator.curation.gold import is_validation_string
from affiliation_curator.institution import Institution
from affiliation_curator.curation.store import Store

INSTITUTIONS = [
    Institution(id=f"https://ror.org/0{i:06d}{i % 100:02d}", name=f"Institute {i}", city="Town", country_name="Land")
    for i in range(40)
]
A, B, C, D, E = (inst.id for inst in INSTITUTIONS[:5])


def doc(inst_id: str) -> str:
    inst = next(i for i in INSTITUTIONS if i.id == inst_id)
    return f"{inst.name}, Town, Land"


class FakeRegistry:
    def __init__(self) -> None:
        self.institutions = INSTITUTIONS
        self.name = "fake"

    def get(self, inst_id: str) -> Institution | None:
        return next((i for i in self.institutions if i.id == inst_id), None)

    def __iter__(self):
        return iter(self.institutions)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def ranked(store: Store, item_id: int, text: str, ids: list[str], scores: list[float] | None = None) -> None:
    scores = scores or [0.9 - 0.2 * i for i in range(len(ids))]
    cands = [Candidate(id=i, name=i[-9:], score=s, document=doc(i)) for i, s in zip(ids, scores)]
    store.save_result(item_id, MatchResult(text, cands, None, model="tiny"))


@pytest.fixture
def store() -> tuple[Store, int, dict[str, int]]:
    """A batch: accepted (with 3 other candidates), none, a reject only, skipped, undecided, accept of a searched institution."""
    store = Store(clock=Clock())
    texts = ["Dept of Physics, Institute 0, Town", "Nowhere Lab", "Maybe Institute 3", "Skipped Univ", "Open Univ", "=cmd|' /C calc'!A0"]
    batch = store.create_batch("jan", texts, "fake", "v1", "tiny")
    ids = {v.affiliation: v.id for v in store.items(batch)}
    ranked(store, ids[texts[0]], texts[0], [A, B, C, D])
    ranked(store, ids[texts[1]], texts[1], [B, C])
    ranked(store, ids[texts[2]], texts[2], [D, A])
    ranked(store, ids[texts[3]], texts[3], [E])
    ranked(store, ids[texts[4]], texts[4], [A])
    ranked(store, ids[texts[5]], texts[5], [B])
    store.decide(ids[texts[0]], "accept", "ana", A)
    store.decide(ids[texts[1]], "none", "ben")
    store.decide(ids[texts[2]], "reject", "ana", D)
    store.decide(ids[texts[3]], "skip", "ana")
    store.decide(ids[texts[5]], "accept", "ana", E, document=doc(E), institution_name="Institute 4")
    return store, batch, ids


def triples(pair_set) -> set[tuple[str, str, int, str]]:
    return {(p.query, p.document, p.label, p.kind) for p in pair_set.pairs}


def test_labels_follow_the_decisions(store):
    store, batch, ids = store
    got = triples(build_pairs(store, ExportOptions(hard_negatives=2)))
    assert got == {
        ("Dept of Physics, Institute 0, Town", doc(A), 1, "positive"),
        ("Dept of Physics, Institute 0, Town", doc(B), 0, "hard"),
        ("Dept of Physics, Institute 0, Town", doc(C), 0, "hard"),  # K=2: D is left out
        ("Nowhere Lab", doc(B), 0, "none"),
        ("Nowhere Lab", doc(C), 0, "none"),
        ("Maybe Institute 3", doc(D), 0, "rejected"),
        ("=cmd|' /C calc'!A0", doc(E), 1, "positive"),  # a searched institution, not a candidate
        ("=cmd|' /C calc'!A0", doc(B), 0, "hard"),
    }


def test_hard_negative_counts(store):
    store, _, _ = store
    for k, expected in ((0, 0), (1, 2), (None, 4)):
        pairs = build_pairs(store, ExportOptions(hard_negatives=k)).pairs
        assert sum(p.kind == "hard" for p in pairs) == expected


def test_easy_negatives_come_from_the_registry_in_the_chosen_ratio(store):
    store, _, _ = store
    pair_set = build_pairs(store, ExportOptions(hard_negatives=1, easy_negatives=3, seed=1), registry=FakeRegistry())
    easy = [p for p in pair_set.pairs if p.kind == "easy"]
    positives = [p for p in pair_set.pairs if p.kind == "positive"]
    assert len(easy) == 3 * len(positives) == 6
    shown = {"Dept of Physics, Institute 0, Town": {A, B, C, D}, "=cmd|' /C calc'!A0": {B, E}}
    for p in easy:
        assert p.label == 0 and p.document == doc(p.institution_id)
        assert p.institution_id not in shown[p.query]  # never the answer nor a shown candidate of that string
    again = build_pairs(store, ExportOptions(hard_negatives=1, easy_negatives=3, seed=1), registry=FakeRegistry())
    assert [p.document for p in again.pairs] == [p.document for p in pair_set.pairs]  # seeded
    with pytest.raises(InputError, match="give a registry"):
        build_pairs(store, ExportOptions(easy_negatives=1))


def test_accept_without_document_uses_the_registry_or_warns(store):
    store, batch, ids = store
    store.decide(ids["Open Univ"], "accept", "ana", "https://ror.org/00000301")  # not a candidate, no document given
    plain = build_pairs(store)
    assert "no document text" in plain.warnings[0]
    assert not any(p.query == "Open Univ" for p in plain.pairs)
    registry = FakeRegistry()
    registry.institutions = [*INSTITUTIONS, Institution(id="https://ror.org/00000301", name="Open University", city="Milton Keynes", country_name="United Kingdom")]
    with_registry = build_pairs(store, registry=registry)
    positive = next(p for p in with_registry.pairs if p.query == "Open Univ" and p.label == 1)
    assert "Open University" in positive.document


def test_filters_by_batch_curator_and_date(store):
    store, batch, ids = store
    other = store.create_batch("feb", ["Elsewhere"])
    item = store.items(other)[0]
    ranked(store, item.id, "Elsewhere", [C])
    store.decide(item.id, "accept", "cleo", C)
    assert {p.query for p in build_pairs(store, ExportOptions(batches=["feb"])).pairs} == {"Elsewhere"}
    assert {p.query for p in build_pairs(store, ExportOptions(batches=[other])).pairs} == {"Elsewhere"}
    assert {p.curator for p in build_pairs(store, ExportOptions(curators=["ben"])).pairs} == {"ben"}
    assert build_pairs(store, ExportOptions(since=date(2030, 1, 1))).pairs == []
    assert build_pairs(store, ExportOptions(until=date(2025, 3, 1))).pairs  # the whole day counts
    with pytest.raises(InputError, match="no batch 'nope'; batches: 'feb', 'jan'"):
        build_pairs(store, ExportOptions(batches=["nope"]))


def test_dedupe_keeps_one_pair_explicit_labels_win(store):
    store, batch, ids = store
    # the same string in a second batch: B accepted there, so (string, B) is 1 there and a hard negative here
    again = store.create_batch("again", ["Dept of Physics, Institute 0, Town"])
    item = store.items(again)[0]
    ranked(store, item.id, item.affiliation, [B, A])
    store.decide(item.id, "accept", "ben", B)
    pairs = build_pairs(store, ExportOptions(hard_negatives=None))
    key = [p for p in pairs.pairs if p.query == item.affiliation and p.document == doc(B)]
    assert len(key) == 1 and key[0].label == 1
    # (string, A) was accepted first, then implied negative in the later batch: the explicit 1 stays
    key = [p for p in pairs.pairs if p.query == item.affiliation and p.document == doc(A)]
    assert len(key) == 1 and key[0].label == 1
    assert pairs.duplicates_dropped == 2 and pairs.conflicts_resolved == 2
    raw = build_pairs(store, ExportOptions(hard_negatives=None, dedupe=False))
    assert len(raw.pairs) == len(pairs.pairs) + 2


def test_split_never_puts_one_affiliation_on_both_sides():
    store = Store(clock=Clock())
    texts = [f"Department {i}, Institute {i % 7}, Town" for i in range(80)]
    batch = store.create_batch("many", texts)
    for view in store.items(batch):
        ranked(store, view.id, view.affiliation, [A, B, C])
        store.decide(view.id, "accept", "ana", A if view.position % 2 else B)
    pair_set = build_pairs(store, ExportOptions(validation_share=0.25))
    train = {p.query for p in pair_set.pairs if p.split == "train"}
    validation = {p.query for p in pair_set.pairs if p.split == "validation"}
    assert train and validation and not train & validation
    assert all(is_validation_string(q, 0.25) for q in validation)
    result = export_pairs(store, "csv", ExportOptions(validation_share=0.25))
    assert sorted(result.files) == ["export.train.csv", "export.validation.csv"]
    assert result.data_files == {"train": "export.train.csv", "validation": "export.validation.csv"}
    assert result.stats["validation"]["affiliations"] == len(validation)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_each_format_round_trips(store, tmp_path, suffix):
    import pandas as pd

    store, _, _ = store
    out = tmp_path / f"pairs{suffix}"
    result = export_pairs(store, out)
    assert out.exists() and (tmp_path / "pairs.card.md").exists()
    assert out.read_bytes() == result.files[out.name]
    frame = {".csv": pd.read_csv, ".jsonl": lambda p: pd.read_json(p, lines=True), ".parquet": pd.read_parquet}[suffix](out)
    assert list(frame.columns) == PAIR_COLUMNS and len(frame) == result.stats["pairs"]
    expected = build_pairs(store).frame()
    if suffix == ".csv":  # the formula-like affiliation is neutralised in CSV only
        expected["query"] = expected["query"].map(neutralise)
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), expected, check_dtype=False)
    card = (tmp_path / "pairs.card.md").read_text()
    assert f"pairs: {result.stats['pairs']}" in card and "| jan | 6 | 3 | fake | v1 | tiny |" in card
    assert ("one more single quote" in card) == (suffix == ".csv")
    assert ("export JSON Lines or Parquet" in card) == (suffix == ".csv")


def test_csv_neutralises_formula_cells_and_survives_anything(store):
    store, batch, ids = store
    nasty = 'He said "hi",\nthen =1+1 | @x\t-y'
    other = store.create_batch("nasty", [nasty, "+SUM(A1)", "@import", "-minus", "plain"])
    for view in store.items(other):
        ranked(store, view.id, view.affiliation, [A])
        store.decide(view.id, "accept", "=evil()", A)
    data = export_pairs(store, "csv", ExportOptions(batches=["nasty"], hard_negatives=0)).files["export.csv"]
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert [r["query"] for r in rows] == [nasty, "'+SUM(A1)", "'@import", "'-minus", "plain"]
    assert {r["label"] for r in rows} == {"1"} and len(rows) == 5  # quotes, commas, line breaks stay inside cells
    mapping = export_mapping(store, "csv", ExportOptions(batches=["nasty"])).files["export.csv"]
    mapped = list(csv.DictReader(io.StringIO(mapping.decode("utf-8"))))
    assert {r["curator"] for r in mapped} == {"'=evil()"}
    assert len(mapped) == 5
    jsonl = export_mapping(store, "jsonl", ExportOptions(batches=["nasty"])).files["export.jsonl"]
    assert {json.loads(line)["curator"] for line in jsonl.decode().splitlines()} == {"=evil()"}  # JSON keeps text


def test_neutralise():
    assert [neutralise(v) for v in ("=1", "+1", "-1", "@a", "\tx", "\rx", "a=b", "", 5, "'a", "'-1")] == [
        "'=1", "'+1", "'-1", "'@a", "'\tx", "'\rx", "a=b", "", 5, "''a", "''-1"]


TRUE_TEXT = ["'-minus is real", "'quoted'", "''", "'", "=1+1", "-x", "+x", "@x", "\tx", "\rx", "plain", "-", "a'b"]


def test_the_csv_rule_is_undone_exactly():
    for value in [*TRUE_TEXT, "", 5, None]:
        assert unneutralise(neutralise(value)) == value, value


def test_exports_and_the_projects_readers_round_trip_every_string(store, tmp_path):
    from affiliation_curator.curation.decisions_import import read_known_answers
    from affiliation_curator.learning.pairs import read_pairs_file

    store, _, _ = store
    strings = [s for s in TRUE_TEXT if s.strip() and s.strip() == s]  # intake keeps strings trimmed
    other = store.create_batch("true text", strings)
    for view in store.items(other):
        ranked(store, view.id, view.affiliation, [A])
        store.decide(view.id, "accept", "ann", A)
    assert sorted(v.affiliation for v in store.items(other)) == sorted(strings)
    options = ExportOptions(batches=["true text"], hard_negatives=0)
    for fmt in ("csv", "jsonl", "parquet"):
        export_pairs(store, tmp_path / f"pairs.{fmt}", options)
        pairs, _ = read_pairs_file(tmp_path / f"pairs.{fmt}", {}, lambda inst: inst.name)
        assert sorted(p.affiliation for p in pairs) == sorted(strings), fmt
    export_mapping(store, tmp_path / "mapping.csv", ExportOptions(batches=["true text"]))
    assert sorted(a.affiliation for a in read_known_answers(tmp_path / "mapping.csv")) == sorted(strings)


def test_writer_choice():
    assert writer_for("x.CSV").suffix == ".csv" and writer_for("parquet").suffix == ".parquet"
    with pytest.raises(InputError, match="unknown export format"):
        writer_for("out.xlsx")
    with pytest.raises(InputError, match="use .jsonl"):
        writer_for("out.json")


def test_mapping_rows(store, tmp_path):
    store, batch, ids = store
    rows = build_mapping(store)
    assert [(r["affiliation"], r["decision"], r["ror_id"]) for r in rows] == [
        ("Dept of Physics, Institute 0, Town", "accept", A),
        ("Nowhere Lab", "none", ""),
        ("=cmd|' /C calc'!A0", "accept", E),
    ]
    first = rows[0]
    assert first["score"] == pytest.approx(0.9) and first["curator"] == "ana" and first["model_id"] == "tiny"
    assert first["registry_version"] == "v1" and first["batch"] == "jan" and first["decided_at"] is not None
    everything = build_mapping(store, ExportOptions(include_undecided=True))
    assert len(everything) == 6 and {r["decision"] for r in everything} == {"accept", "none", "skip", "undecided"}
    assert [r["affiliation"] for r in build_mapping(store, ExportOptions(curators=["ben"]))] == ["Nowhere Lab"]
    out = tmp_path / "mapping.jsonl"
    result = export_mapping(store, out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["ror_id"] == A and lines[0]["decided_at"].endswith("Z")
    assert (tmp_path / "mapping.card.md").exists() and result.stats["rows"] == 3


def test_export_pairs_returns_bytes_without_writing(store, tmp_path, monkeypatch):
    store, _, _ = store
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    result = export_pairs(store, "parquet")
    assert list(result.files) == ["export.parquet"] and result.files["export.parquet"][:4] == b"PAR1"
    assert not list(work.iterdir())


@pytest.mark.parametrize("suffix, builder", [(".csv", "csv"), (".jsonl", "json"), (".parquet", "parquet")])
def test_exported_files_load_with_datasets_and_train_a_cross_encoder(store, tmp_path, tiny_cross_encoder_dir, suffix, builder):
    from datasets import load_dataset
    from sentence_transformers import CrossEncoder
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    store, _, _ = store
    result = export_pairs(store, tmp_path / f"pairs{suffix}", ExportOptions(validation_share=0.5, hard_negatives=None))
    data_files = {split: str(tmp_path / name) for split, name in result.data_files.items()}
    dataset = load_dataset(builder, data_files=data_files, cache_dir=str(tmp_path / "hf-cache"))
    assert dataset["train"].column_names == PAIR_COLUMNS
    assert sum(len(dataset[s]) for s in dataset) == result.stats["pairs"]
    model = CrossEncoder(str(tiny_cross_encoder_dir), num_labels=1)
    args = CrossEncoderTrainingArguments(
        output_dir=str(tmp_path / "run"), max_steps=2, per_device_train_batch_size=4, report_to=[],
        save_strategy="no", logging_steps=1, use_cpu=True, dataloader_num_workers=0,
    )
    trainer = CrossEncoderTrainer(
        model=model, args=args, train_dataset=dataset["train"], loss=BinaryCrossEntropyLoss(model),
    )
    output = trainer.train()
    assert output.global_step == 2 and output.training_loss > 0


def test_nothing_to_export_is_a_clear_error():
    store = Store()
    store.create_batch("fresh", ["A"])
    with pytest.raises(InputError, match="nothing to export"):
        export_pairs(store, "csv")
    with pytest.raises(InputError, match="nothing to export"):
        export_mapping(store, "csv")


def test_export_result_offers_downloads(store):
    import zipfile

    from affiliation_curator.curation.export import mapping_frame

    store, _, _ = store
    single = export_pairs(store, "jsonl")
    assert single.single[0] == "export.jsonl" and single.mime == "application/jsonl"
    split = export_pairs(store, "csv", ExportOptions(validation_share=0.5))
    assert split.single is None
    with zipfile.ZipFile(io.BytesIO(split.zip_bytes())) as archive:
        assert sorted(archive.namelist()) == ["export.card.md", "export.train.csv", "export.validation.csv"]
    frame = mapping_frame(store)
    assert len(frame) == 3 and frame.iloc[0]["ror_id"] == A


def test_a_snapshot_exports_what_the_store_does_and_knows_when_it_changed(store):
    from affiliation_curator.curation.export_snapshot import StoreSnapshot

    store, batch, ids = store
    snapshot = StoreSnapshot(store, [batch])
    options = ExportOptions(batches=[batch], hard_negatives=2, validation_share=0.3)
    direct = export_pairs(store, "jsonl", options)
    assert export_pairs(snapshot, "jsonl", options).files == direct.files
    assert export_mapping(snapshot, "csv", ExportOptions(batches=[batch])).files == export_mapping(
        store, "csv", ExportOptions(batches=[batch])).files
    assert snapshot.current()
    store.undo(batch)
    assert not snapshot.current() and StoreSnapshot(store, [batch]).current()
    stamp = store.change_stamp([batch])
    store.rename_batch(batch, "renamed")
    assert store.change_stamp([batch]) != stamp


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_each_writer_reads_back_what_it_wrote(suffix):
    """formats.py keeps each writer beside its reader: a written file reads back unchanged."""
    texts = ["=SUM(A1)", "'quoted", "\ttab", "plain, with comma", "Universität \"Zürich\"", "-1", "@x"]
    rows = [{"query": t, "document": f"Doc {i}", "label": i % 2} for i, t in enumerate(texts)]
    data = writer_for(suffix).write(rows, PAIR_COLUMNS)
    back = [row for _, row in read_records(data, f"pairs{suffix}")]
    assert [(r["query"], r["document"], float(r["label"])) for r in back] == [
        (r["query"], r["document"], float(r["label"])) for r in rows]
