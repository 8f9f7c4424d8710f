"""``python -m affiliation_curator registry ...``: in-process through cli.main, plus one real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.registries import OWN_CSV, UNI, ror_record, sample_records, write_json, write_zip
from affiliation_curator import cli, config

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(autouse=True)
def demo_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_json(tmp_path / "demo_registry.json", [ror_record("https://ror.org/0demo0001", "Demo University")])
    monkeypatch.setattr(config, "DEMO_REGISTRY_PATH", path)
    return path


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    return write_zip(tmp_path / "v2.3-2026-03-04-ror-data.zip", {"v2.3-2026-03-04-ror-data.json": json.dumps(sample_records())})


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_help_lists_commands_subprocess() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "affiliation_curator", "--help"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120, env={**os.environ},
    )
    assert result.returncode == 0, result.stderr
    assert "registry" in result.stdout


@pytest.mark.parametrize("sub", ["import", "list", "use", "show", "find", "remove"])
def test_every_subcommand_has_help(sub: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["registry", sub, "--help"])
    assert info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_registry_without_subcommand_prints_usage(capsys: pytest.CaptureFixture) -> None:
    code, _out, err = run(capsys, "registry")
    assert code == 2 and "SUBCOMMAND" in err


def test_list_shows_the_demo_and_says_so(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(capsys, "registry", "list")
    assert code == 0
    assert "* " in out and "demo" in out
    assert "demo registry" in out


def test_import_list_use_show_find(dump: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run(capsys, "registry", "import", str(dump))
    assert code == 0
    assert "ror-v2.3-2026-03-04" in out and "5 institutions" in out and "active" in out
    assert "100%" in err  # progress on stderr

    code, out, _ = run(capsys, "registry", "list")
    lines = out.splitlines()
    active = [line for line in lines if line.startswith("*")]
    assert len(active) == 1 and "ror-v2.3-2026-03-04" in active[0] and "v2.3-2026-03-04" in active[0]
    assert any("demo" in line for line in lines if not line.startswith("*"))
    assert "demo registry" not in out

    code, out, _ = run(capsys, "registry", "show", "0test0001")
    assert code == 0
    assert out.splitlines()[0] == "Springfield University of Technology"
    assert "Technische Universität Springfield  [label] (de)" in out
    assert "SUT  [acronym]" in out
    assert "Springfield, Germany (DE)" in out
    assert "children (1):" in out and "Springfield Institute of Optics (https://ror.org/0test0002)" in out
    assert "https://ror.org/0test0001" in out

    code, out, _ = run(capsys, "registry", "show", "https://ror.org/0test0003")
    assert "inactive -> successor: Springfield University of Technology" in out

    code, out, _ = run(capsys, "registry", "find", "SIO")
    assert code == 0 and out.startswith("https://ror.org/0test0002  Springfield Institute of Optics")

    code, out, _ = run(capsys, "registry", "use", "demo")
    assert code == 0 and "demo" in out
    code, out, err = run(capsys, "registry", "show", "0demo0001")
    assert code == 0 and "Demo University" in out and "demo registry" in err
    code, out, _ = run(capsys, "registry", "show", "0test0001", "--registry", "ror-v2.3-2026-03-04")
    assert code == 0 and "Springfield University of Technology" in out


def test_import_own_csv_with_name_without_activating(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "list.csv"
    path.write_text(OWN_CSV, encoding="utf-8")
    code, out, err = run(capsys, "registry", "import", str(path), "--name", "ours", "--no-activate")
    assert code == 0 and "'ours'" in out and "not active" in out
    assert "warning: ignored column(s): notes" in err
    code, out, _ = run(capsys, "registry", "find", "Coastal", "--registry", "ours")
    assert "inst-2  Coastal Research Centre  (Kiel, Germany)" in out


@pytest.mark.parametrize(
    ("content", "name", "fragment"),
    [
        (b"PK\x03\x04garbage" * 50, "v2.0-2026-01-01-ror-data.zip", "not a valid zip archive"),
        (b'{"id": "x"}', "obj.json", "wrong JSON shape"),
        ("id,name\n1,Universität\n".encode("latin-1"), "latin.csv", "not UTF-8"),
        (b"foo,bar\n1,2\n", "cols.csv", "missing required column(s): id, name"),
        (b"[]", "zero.json", "zero records"),
    ],
)
def test_bad_files_exit_2_with_one_message(
    content: bytes, name: str, fragment: str, tmp_path: Path, dump: Path, capsys: pytest.CaptureFixture
) -> None:
    assert run(capsys, "registry", "import", str(dump), "--name", "good")[0] == 0
    path = tmp_path / name
    path.write_bytes(content)
    code, out, err = run(capsys, "registry", "import", str(path))
    assert code == 2
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and fragment in error_lines[0] and name in error_lines[0]
    code, out, _ = run(capsys, "registry", "list")
    assert any(line.startswith("*") and "good" in line for line in out.splitlines())


def test_user_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run(capsys, "registry", "import", str(tmp_path / "missing.zip"))
    assert code == 2 and "no such file" in err
    code, _, err = run(capsys, "registry", "use", "nope")
    assert code == 2 and "no registry named 'nope'" in err
    code, _, err = run(capsys, "registry", "show", "0zzzz0000")
    assert code == 2 and "no institution with id" in err
    code, _, err = run(capsys, "registry", "import", str(tmp_path), "--name", "x")
    assert code == 2 and "not a file" in err
    code, _, err = run(capsys, "registry", "import", str(tmp_path / "x.csv"), "--name", "Bad Name!")
    assert code == 2 and "invalid registry name" in err
    code, _, err = run(capsys, "registry", "find", "zzzzzzqqqq")
    assert code == 1 and "nothing found" in err


def test_os_errors_are_reported_without_traceback(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from affiliation_curator.cli import registry as commands_registry

    def broken(args):
        raise PermissionError(13, "Permission denied", "/data/dir")

    monkeypatch.setattr(commands_registry, "cmd_list", broken)
    code, _, err = run(capsys, "registry", "list")
    assert code == 2 and err.strip() == "error: Permission denied: /data/dir"


def test_registry_show_strips_control_characters(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "evil.csv"
    path.write_text('id,name\ne1,"Evil\x1b[31m Institute"\n', encoding="utf-8")
    assert run(capsys, "registry", "import", str(path))[0] == 0
    code, out, _ = run(capsys, "registry", "show", "e1")
    assert code == 0 and "\x1b" not in out and "Evil[31m Institute" in out
    assert UNI not in out
