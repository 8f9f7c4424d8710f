"""Decisions flow back: an OpenRefine project reconciled against ``serve``, exported as CSV,
imported with ``decisions import`` as a batch of curated labels."""

from __future__ import annotations

import csv
import json

import pytest

from affiliation_curator.cli import main
from affiliation_curator.curation.decisions_import import read_known_answers
from affiliation_curator.errors import InputError
from affiliation_curator.curation.export import build_mapping
from affiliation_curator.curation.store import Store
from fixtures.service import Server
STRINGS = ["Dept. of Surgery, TU Munich, Germany", "EPFL, Lausanne", "Institut Pasteur, Paris",
           "Bakery of Nowhere Street 12"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    srv = Server(tmp_path_factory.mktemp("serve-home"), "--registry", "demo", "--model", "lexical-fallback")
    yield srv
    srv.stop()


def write_csv(path, header, rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def test_an_identifiers_column_of_bare_ror_ids_is_found(tmp_path):
    path = tmp_path / "openrefine.csv"
    write_csv(path, ["Column 1", "Column 1 ROR"], [["Dept X, MIT", "042nb2s44"], ["Nowhere", ""],
                                                   ["Both", "https://ror.org/03vek6s52"]])
    answers = read_known_answers(path)
    assert [(a.affiliation, a.ror_id) for a in answers] == [
        ("Dept X, MIT", "https://ror.org/042nb2s44"), ("Nowhere", None), ("Both", "https://ror.org/03vek6s52")]


def test_columns_named_on_the_command_line(tmp_path):
    path = tmp_path / "project.csv"
    write_csv(path, ["row", "Raw affiliation text", "matched", "note"],
              [["1", "Dept X, MIT", "042nb2s44", "a"], ["2", "Elsewhere", "", "b"]])
    with pytest.raises(InputError, match="needs the columns affiliation and ror_id"):
        read_known_answers(path)  # three other columns: which holds the strings is not guessed
    answers = read_known_answers(path, affiliation_column="raw affiliation text", id_column="Matched")
    assert [(a.affiliation, a.ror_id) for a in answers] == [("Dept X, MIT", "https://ror.org/042nb2s44"),
                                                            ("Elsewhere", None)]
    with pytest.raises(InputError, match="no column 'ror' \\(--id-column\\); columns found: row, Raw"):
        read_known_answers(path, id_column="ror")


def test_a_reconciled_openrefine_column_imports_as_curated_labels(server, tmp_path, capsys):
    batch = {f"q{n}": {"query": text} for n, text in enumerate(STRINGS)}
    results = server.post_form("/reconcile", queries=json.dumps(batch)).json()
    # OpenRefine: cells the service matched are judged "matched"; the curator picks the answer of
    # one more by hand (EPFL) and marks the bakery "none"; "Add entity identifiers column" then
    # exports the match ids (blank where none) beside the original column.
    chosen = {}
    for n, text in enumerate(STRINGS):
        found = results[f"q{n}"]["result"]
        auto = [r["id"] for r in found if r["match"]]
        chosen[text] = auto[0] if auto else ""
    assert chosen[STRINGS[0]] == "02kkvpp62" and chosen[STRINGS[2]] == "0495fxg12" and chosen[STRINGS[3]] == ""
    chosen[STRINGS[1]] = server.get("/reconcile/suggest/entity", prefix="EPFL").json()["result"][0]["id"]
    path = tmp_path / "affiliations-openrefine.csv"
    write_csv(path, ["Affiliation", "ROR identifiers"], [[t, chosen[t]] for t in STRINGS])

    code = main(["decisions", "import", str(path), "--batch", "OpenRefine 2026", "--curator", "ana",
                 "--registry", "demo", "--model", "lexical-fallback"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "4 affiliations, 3 accepted, 1 none of these; 4 ranked" in out.out
    mapping = {row["affiliation"]: row for row in build_mapping(Store())}
    assert {t: mapping[t]["ror_id"] for t in STRINGS} == {
        STRINGS[0]: "https://ror.org/02kkvpp62", STRINGS[1]: "https://ror.org/02s376052",
        STRINGS[2]: "https://ror.org/0495fxg12", STRINGS[3]: ""}
    batch_info = Store().batch_by_name("OpenRefine 2026")
    assert batch_info is not None and batch_info.by_action["accept"] == 3 and batch_info.by_action["none"] == 1
