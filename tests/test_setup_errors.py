"""Bad set-ups get one message naming the path and the fix: an unwritable data directory (CLI, app,
scripts/start) and a .venv made by another Python (scripts/venv.sh, before anything is installed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.apptest import PROJECT_DIR

from affiliation_curator.cli import main


@pytest.fixture
def unwritable_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory that cannot be created, even by root: its parent is a file."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    home = blocker / "curator-home"
    monkeypatch.setenv("AFFILIATION_CURATOR_HOME", str(home))
    return home


def test_cli_names_the_data_directory_and_the_fix(unwritable_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "list"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: the data directory {unwritable_home} cannot be written")
    assert "AFFILIATION_CURATOR_HOME" in err and "Traceback" not in err


def test_app_says_so_instead_of_a_traceback(unwritable_home: Path, navigation_apptest) -> None:  # noqa: F811
    at = navigation_apptest().run()
    assert not at.exception, at.exception
    errors = [e.value.replace("\\", "") for e in at.error]
    assert len(errors) == 1 and str(unwritable_home) in errors[0] and "AFFILIATION_CURATOR_HOME" in errors[0]


def _bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], cwd=PROJECT_DIR, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_start_refuses_an_unwritable_data_directory_before_installing(unwritable_home: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv-never-made"
    done = _bash("bash scripts/start", {"AFFILIATION_CURATOR_VENV": str(venv)})
    assert done.returncode == 1
    assert f"the data directory {unwritable_home} cannot be written" in done.stderr
    assert "AFFILIATION_CURATOR_HOME" in done.stderr and not venv.exists()


def _fake_venv(folder: Path, version: str, python: str | None) -> Path:
    (folder / "bin").mkdir(parents=True)
    (folder / "pyvenv.cfg").write_text(f"home = /nowhere\ninclude-system-site-packages = false\nversion = {version}\n")
    (folder / "bin" / "python").symlink_to(python or folder / "gone" / "python3")
    return folder


def test_a_venv_whose_python_is_gone(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path / ".venv", "3.11.2", None)
    done = _bash("source scripts/venv.sh && ensure_venv", {"AFFILIATION_CURATOR_VENV": str(venv)})
    assert done.returncode == 1
    assert f"{venv} was made by Python 3.11 whose interpreter is gone or broken" in done.stderr
    assert f"rm -rf '{venv}'" in done.stderr and "Traceback" not in done.stderr


def test_a_venv_made_by_another_python_version(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path / ".venv", "3.10.13", sys.executable)
    done = _bash("source scripts/venv.sh && ensure_venv", {"AFFILIATION_CURATOR_VENV": str(venv), "PYTHON": sys.executable})
    assert done.returncode == 1
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert f"{venv} was made by Python 3.10, not {sys.executable} (Python {mine})" in done.stderr
    assert "leave PYTHON unset" in done.stderr and (venv / "pyvenv.cfg").is_file()  # nothing removed


def test_a_python_that_is_too_old_or_missing(tmp_path: Path) -> None:
    done = _bash("source scripts/venv.sh && ensure_venv", {"PYTHON": str(tmp_path / "python9"),
                                                         "AFFILIATION_CURATOR_VENV": str(tmp_path / "v")})
    assert done.returncode == 1 and "no Python interpreter" in done.stderr and "PYTHON=" in done.stderr
