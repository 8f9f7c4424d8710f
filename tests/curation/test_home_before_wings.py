"""A data directory made before the core moved into its wings (issue 10) opens unchanged: its
registry, settings, batch and decisions are read by today's code, which exports what the old code
exported from it (``tests/fixtures/data/home-before-wings/README.md`` says how it was made)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from affiliation_curator import config
from affiliation_curator.cli import main
from affiliation_curator.curation.store import Store

BEFORE = Path(__file__).resolve().parent.parent / "fixtures" / "data" / "home-before-wings"


@pytest.fixture
def old_home(curator_home: Path) -> Path:
    shutil.copytree(BEFORE / "home", curator_home, dirs_exist_ok=True)
    return curator_home


def _pairs(path: Path) -> list[tuple[str, str, int]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted((r["query"], r["document"], int(r["label"])) for r in rows)


def test_the_old_home_opens_with_its_settings_registry_and_decisions(old_home):
    assert config.Settings.load().model == "lexical-fallback"
    store = Store()
    [batch] = store.batches()
    assert batch.name == "Before the wings"
    decided = {row["affiliation"]: (row["decision"], row["institution_id"], row["curator"]) for row in store.table(batch.id)}
    assert len(decided) == 6
    assert decided["Faculty of Medicine, LMU Munich"] == ("accept", "https://ror.org/05591te55", "ann")
    assert decided['=HYPERLINK("http://x") Dept. of Nowhere, Atlantis'][0] == "none"


def test_the_old_home_exports_what_the_old_code_exported(old_home, tmp_path):
    assert main(["export", "pairs", "--output", str(tmp_path / "pairs.jsonl"), "--seed", "7"]) == 0
    assert _pairs(tmp_path / "pairs.jsonl") == _pairs(BEFORE / "pairs.jsonl")
    assert main(["export", "mapping", "--output", str(tmp_path / "mapping.csv")]) == 0
    with (BEFORE / "mapping.csv").open(encoding="utf-8") as fh:
        old = list(csv.DictReader(fh))
    with (tmp_path / "mapping.csv").open(encoding="utf-8") as fh:
        new = list(csv.DictReader(fh))
    key = lambda row: row["affiliation"]  # noqa: E731
    for before, now in zip(sorted(old, key=key), sorted(new, key=key), strict=True):
        assert {column: now[column] for column in before} == before  # columns added later may follow


def test_the_old_home_matches_on_its_registry(old_home, tmp_path, capsys):
    strings = tmp_path / "strings.txt"
    strings.write_text("Department of Physics, ETH Zurich, Switzerland\n", encoding="utf-8")
    assert main(["match", str(strings), "--output", str(tmp_path / "out.jsonl")]) == 0
    [result] = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert json.dumps(result).count("https://ror.org/05a28rw58") >= 1
