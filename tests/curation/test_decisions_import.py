"""Importing known answers (gold JSON Lines, CSV affiliation,ror_id) as ranked batches with decisions."""

from __future__ import annotations

import json

import pytest

from affiliation_curator.engine.results import Candidate, MatchResult
from affiliation_curator.cli import main
from affiliation_curator.curation.decisions_import import KnownAnswer, import_decisions, read_known_answers
from affiliation_curator.errors import InputError
from affiliation_curator.curation.export import build_mapping, build_pairs
from affiliation_curator.institution import Institution
from affiliation_curator.curation.store import Store

MIT = "https://ror.org/042nb2s44"
HARVARD = "https://ror.org/03vek6s52"
ETH = "https://ror.org/05a28rw58"
UNKNOWN = "https://ror.org/00zzzzz99"


class FakeRegistry:
    name = "fake"

    class meta:  # noqa: N801
        version = "v9"

    institutions = [
        Institution(MIT, "Massachusetts Institute of Technology", city="Cambridge", country_name="United States"),
        Institution(HARVARD, "Harvard University", city="Cambridge", country_name="United States"),
        Institution(ETH, "ETH Zurich", city="Zurich", country_name="Switzerland"),
    ]

    def get(self, inst_id):
        return next((i for i in self.institutions if i.id == inst_id), None)


class FakeMatcher:
    """Lists MIT then Harvard for every string (ETH never)."""

    class scorer:  # noqa: N801
        model_id = "fake-model"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def match_many(self, affiliations, batch_size=32, progress=None):
        for text in affiliations:
            self.seen.append(text)
            cands = [
                Candidate(MIT, "Massachusetts Institute of Technology", 0.8, document="Massachusetts Institute of Technology, Cambridge, United States"),
                Candidate(HARVARD, "Harvard University", 0.4, document="Harvard University, Cambridge, United States"),
            ]
            yield MatchResult(text, cands, MIT, model="fake-model")


def test_read_gold_jsonl_multi_ids_and_no_match(tmp_path):
    path = tmp_path / "gold.jsonl"
    rows = [
        {"affiliation": "Dept of Physics, MIT", "ror_ids": ["042nb2s44"]},
        {"affiliation": "Harvard and ETH", "ror_ids": [HARVARD, ETH]},
        {"affiliation": "Nowhere Lab", "ror_ids": []},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    answers = read_known_answers(path)
    assert [(a.affiliation, a.ror_id, a.other_ids) for a in answers] == [
        ("Dept of Physics, MIT", MIT, []), ("Harvard and ETH", HARVARD, [ETH]), ("Nowhere Lab", None, []),
    ]


def test_read_csv_affiliation_ror_id(tmp_path):
    path = tmp_path / "sheet.csv"
    path.write_text(
        "Affiliation,ROR_ID,note\n\"Dept X, MIT\",https://ror.org/042nb2s44,a\nNowhere,,b\n\nBoth,03vek6s52; 05a28rw58,c\n",
        encoding="utf-8-sig",
    )
    answers = read_known_answers(path)
    assert [(a.affiliation, a.ror_id, a.other_ids, a.line) for a in answers] == [
        ("Dept X, MIT", MIT, [], 2), ("Nowhere", None, [], 3), ("Both", HARVARD, [ETH], 5),
    ]


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("a.csv", b"text,id\nx,y\n", "needs the columns affiliation and ror_id; columns found: text, id"),
        ("a.csv", b"affiliation,ror_id\n", "no data rows"),
        ("a.csv", b"", "is empty"),
        ("a.csv", b"\xff\xfe\x00\x00garbage\x00\x00\x00", "NUL characters"),
        ("a.jsonl", b'{"affiliation": "x", "ror_ids": []}\n{broken\n', "line 2"),
        ("a.xlsx", b"PK", "use gold JSON Lines"),
    ],
)
def test_unreadable_files(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        read_known_answers(path)
    assert fragment in str(err.value)


def test_import_ranks_and_records_the_answers_as_one_undo_step():
    store = Store()
    answers = [
        KnownAnswer("Dept of Physics, MIT", MIT),
        KnownAnswer("Harvard and ETH", HARVARD, [ETH]),
        KnownAnswer("ETH Zurich, Switzerland", ETH),  # not among the candidates
        KnownAnswer("Nowhere Lab", None),
        KnownAnswer("Mystery Inst", UNKNOWN),
        KnownAnswer("Dept of Physics,  MIT", HARVARD),  # the same string (whitespace) with another answer
        KnownAnswer("   ", MIT),
    ]
    matcher = FakeMatcher()
    seen = []
    report = import_decisions(
        store, answers, "earlier curation", "team", matcher=matcher, registry=FakeRegistry(),
        source="sheet.csv", progress=lambda stage, done, total: seen.append((stage, done, total)),
    )
    assert (report.rows, report.accepted, report.none, report.ranked) == (5, 4, 1, 5)
    assert (report.answer_in_candidates, report.answer_on_top) == (2, 1)
    assert report.not_in_registry == [UNKNOWN] and report.multi_id_rows == 1
    assert report.conflicts == 1 and report.duplicates == 1
    assert any("first answer was kept" in line for line in report.summary())
    assert seen[-1] == ("recording", 5, 5) and ("ranking", 5, 5) in seen

    info = store.batch(report.batch_id)
    assert (info.name, info.registry_name, info.registry_version, info.model_id, info.source) == (
        "earlier curation", "fake", "v9", "fake-model", "sheet.csv")
    views = {v.affiliation: v for v in store.items(report.batch_id)}
    assert views["Dept of Physics, MIT"].count == 2
    assert [c.id for c in views["ETH Zurich, Switzerland"].candidates] == [MIT, HARVARD]  # stored as shown
    eth = views["ETH Zurich, Switzerland"].decision
    assert (eth.action, eth.institution_id, eth.institution_name, eth.curator) == ("accept", ETH, "ETH Zurich", "team")
    assert eth.document and "ETH Zurich" in eth.document
    assert views["Nowhere Lab"].decision.action == "none"
    assert views["Mystery Inst"].decision.institution_id == UNKNOWN

    # the import feeds the exports
    pairs = build_pairs(store)
    assert any(p.query == "ETH Zurich, Switzerland" and p.label == 1 and "ETH Zurich" in p.document for p in pairs.pairs)
    assert {p.label for p in pairs.pairs if p.query == "Nowhere Lab"} == {0}
    assert not any(p.query == "Mystery Inst" for p in pairs.pairs)  # no document text for an unknown id
    assert len(build_mapping(store)) == 5

    undone = store.undo(report.batch_id)
    assert undone.kind == "import" and undone.count == 5
    assert store.batch(report.batch_id).decided == 0


def test_import_without_ranking_and_batch_names():
    store = Store()
    first = import_decisions(store, [KnownAnswer("A Univ", MIT)], "old", "team")
    second = import_decisions(store, [KnownAnswer("A Univ", MIT)], "old", "team")
    assert (first.batch_name, second.batch_name) == ("old", "old (2)")
    view = store.items(first.batch_id)[0]
    assert not view.ranked and view.decision.institution_id == MIT
    with pytest.raises(InputError, match="curator"):
        import_decisions(store, [KnownAnswer("A", MIT)], "x", " ")
    with pytest.raises(InputError, match="every row is blank"):
        import_decisions(store, [KnownAnswer(" ", MIT)], "x", "team")


def test_cli_import_without_ranking_uses_the_demo_registry(tmp_path, capsys):
    path = tmp_path / "known.csv"
    path.write_text("affiliation,ror_id\nHSG St. Gallen,0561a3s31\nNowhere,\n", encoding="utf-8")
    assert main(["decisions", "import", str(path), "--batch", "legacy", "--curator", "team", "--no-rank"]) == 0
    out = capsys.readouterr()
    assert "Batch 'legacy': 2 affiliations, 1 accepted, 1 none of these" in out.out
    assert "read 2 rows" in out.err
    store = Store()
    view = store.items(store.batch_by_name("legacy").id)[0]
    assert view.decision.institution_id == "https://ror.org/0561a3s31"
    assert view.decision.institution_name == "University of St.Gallen"
    assert main(["decisions", "list", "--batch", "legacy"]) == 0
    assert "accept https://ror.org/0561a3s31" in capsys.readouterr().out
    assert main(["decisions", "batches"]) == 0
    assert "legacy" in capsys.readouterr().out
    assert main(["decisions", "undo", "--batch", "legacy"]) == 0
    assert "import of 2 known answers" in capsys.readouterr().out
    assert main(["decisions", "undo", "--batch", "nope"]) == 2
    assert "no batch 'nope'; batches: 'legacy'" in capsys.readouterr().err


def test_cli_import_errors(tmp_path, capsys):
    assert main(["decisions", "import", str(tmp_path / "missing.csv"), "--batch", "b", "--curator", "c"]) == 2
    assert "file not found" in capsys.readouterr().err


def test_cli_import_ranks_with_the_real_matcher(tmp_path, capsys):
    pytest.importorskip("affiliation_curator.engine.matcher", reason="the matcher is not in this checkout yet")
    from affiliation_curator.engine.reranker import LEXICAL_MODEL_ID

    path = tmp_path / "known.jsonl"
    path.write_text(json.dumps({"affiliation": "University of St.Gallen, Switzerland", "ror_ids": ["https://ror.org/0561a3s31"]}) + "\n")
    code = main(["decisions", "import", str(path), "--batch", "ranked", "--curator", "team", "--model", LEXICAL_MODEL_ID])
    assert code == 0, capsys.readouterr().err
    store = Store()
    view = store.items(store.batch_by_name("ranked").id)[0]
    assert view.ranked and view.candidates and view.decision.action == "accept"


@pytest.mark.shared
def test_every_shared_gold_file_reads_as_known_answers(shared_data):
    for path in sorted((shared_data / "gold").glob("*.jsonl")):
        answers = read_known_answers(path)
        assert answers, path.name
        assert all(a.ror_id is None or a.ror_id.startswith("https://ror.org/") for a in answers), path.name
        assert any(a.ror_id for a in answers)


@pytest.mark.shared
def test_import_a_slice_of_a_shared_gold_file(shared_data, tmp_path):
    lines = (shared_data / "gold" / "s2aff-train.jsonl").read_text(encoding="utf-8").splitlines()[:25]
    path = tmp_path / "slice.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = Store()
    report = import_decisions(store, read_known_answers(path), "s2aff slice", "s2aff", matcher=FakeMatcher())
    assert report.rows == 25 and report.accepted + report.none == 25 and report.ranked == 25
    assert store.batch(report.batch_id).decided == 25
