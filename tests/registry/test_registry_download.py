"""`registry download` / `registry check` against a local server answering like Zenodo's records API."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from fixtures.registries import OWN_CSV, write_zip
from fixtures.zenodo import tiny_dump

from affiliation_curator import config
from affiliation_curator.cli import main
from affiliation_curator.errors import RegistryDownloadError
from affiliation_curator.registry import RegistryCatalog
from affiliation_curator.registry.download import (
    check_for_newer_release,
    download_registry,
    find_release,
    list_releases,
)

TINY = "v9.1-2026-09-01-ror-data.zip"


def downloads() -> list[str]:
    folder = config.home() / "downloads"
    return sorted(p.name for p in folder.iterdir() if p.name != ".lock") if folder.is_dir() else []


def assert_untouched(before: str = "demo") -> None:
    catalog = RegistryCatalog()
    assert catalog.active_name() == before
    assert [m.name for m in catalog.list()] == [before]


def failure(**kwargs) -> str:
    with pytest.raises(RegistryDownloadError) as err:
        download_registry(**kwargs)
    return str(err.value)


def test_lists_releases_newest_first(zenodo, tmp_path: Path) -> None:
    zenodo.add("v9.0-2026-08-01-ror-data.zip", b"x", version="v9.0", published="2026-08-01")
    zenodo.add(TINY, tiny_dump(tmp_path), version="v9.1", published="2026-09-01",
               description="<p>This release holds 121,345 records.</p>")
    releases = list_releases()
    assert [r.version for r in releases] == ["v9.1", "v9.0"]
    newest = releases[0]
    assert newest.file_name == TINY and newest.label == "v9.1-2026-09-01"
    assert newest.record_count == 121345 and newest.size > 0 and len(newest.md5) == 32
    assert find_release("9.0").version == "v9.0"
    with pytest.raises(RegistryDownloadError, match=r"no ROR release 'v7.7'.*newest: v9.1, v9.0"):
        find_release("v7.7")


def test_download_verifies_imports_and_activates(zenodo, tmp_path: Path) -> None:
    zenodo.add(TINY, tiny_dump(tmp_path), version="v9.1", published="2026-09-01")
    seen: list[tuple[float, str]] = []
    meta, release = download_registry(progress=lambda f, m: seen.append((f, m)))
    assert meta.name == "ror-v9.1-2026-09-01" and meta.count == 5 and meta.version == "v9.1-2026-09-01"
    assert RegistryCatalog().active_name() == meta.name
    assert RegistryCatalog().load().get("0test0001").name == "Springfield University of Technology"
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    byte_lines = [m for _, m in seen if m.startswith("downloading")]
    assert byte_lines and " of " in byte_lines[-1] and "/s" in byte_lines[-1]
    assert downloads() == []  # the zip is gone once imported; no part left
    assert meta.source == release.url


def test_named_version_and_name_on_a_later_page(zenodo, tmp_path: Path) -> None:
    zenodo.page_size = 1
    zenodo.add("v8.0-2026-01-01-ror-data.zip", tiny_dump(tmp_path, "v8.0-2026-01-01-ror-data.zip"),
               version="v8.0", published="2026-01-01")
    zenodo.add(TINY, b"not fetched", version="v9.1", published="2026-09-01")
    meta, release = download_registry("v8.0", name="ror-old", activate=False)
    assert release.version == "v8.0" and meta.name == "ror-old"
    assert RegistryCatalog().active_name() == "demo"
    assert any("page=2" in path for path, _ in zenodo.requests)
    assert all("all_versions=true" in path for path, _ in zenodo.requests if path.startswith("/api"))


def test_the_shared_sample_dump(zenodo, shared_data: Path) -> None:
    sample = shared_data / "ror" / "ror-sample-1543-v2.9-2026-06-23.zip"
    if not sample.is_file():
        pytest.skip(f"{sample} is absent")
    zenodo.add("v2.9-2026-06-23-ror-data.zip", sample.read_bytes(), version="v2.9", published="2026-06-23")
    meta, _ = download_registry()
    assert (meta.name, meta.count, meta.source_format) == ("ror-v2.9-2026-06-23", 1543, "ror-json")
    registry = RegistryCatalog().load()
    assert registry.get("02kkvpp62").name == "Technical University of Munich"
    status = check_for_newer_release()
    assert not status.newer and status.message.startswith("You have the newest release")
    assert "1,543 records" in status.message


def test_checksum_mismatch(zenodo, tmp_path: Path) -> None:
    zenodo.add(TINY, tiny_dump(tmp_path), version="v9.1", published="2026-09-01", md5="0" * 32)
    message = failure()
    assert "does not match the md5 checksum" in message and "0" * 32 in message and "deleted" in message
    assert_untouched()
    assert downloads() == []


def test_api_404_and_file_404(zenodo, tmp_path: Path) -> None:
    zenodo.api_mode = "404"
    message = failure()
    assert "answered HTTP 404" in message and zenodo.base in message and "registry import" in message
    zenodo.api_mode = ""
    zenodo.add(TINY, tiny_dump(tmp_path), version="v9.1", published="2026-09-01")
    zenodo.file_mode[TINY] = "404"
    assert f"{zenodo.base}/files/{TINY} answered HTTP 404" in failure()
    assert_untouched()


def test_api_that_is_not_the_records_api(zenodo) -> None:
    zenodo.api_mode = "garbage"
    assert "did not answer with JSON like the Zenodo records API" in failure()
    assert_untouched()


def test_cut_mid_file_keeps_the_part_and_resumes(zenodo, tmp_path: Path) -> None:
    data = tiny_dump(tmp_path)
    zenodo.add(TINY, data, version="v9.1", published="2026-09-01")
    zenodo.file_mode[TINY] = "cut-once"
    message = failure()
    assert "ended at" in message and "run it again to resume" in message
    assert_untouched()
    parts = downloads()
    assert len(parts) == 1 and parts[0].endswith(".part")
    kept = (config.home() / "downloads" / parts[0]).stat().st_size
    assert 0 < kept < len(data)

    meta, _ = download_registry()
    assert meta.count == 5 and RegistryCatalog().active_name() == meta.name
    assert zenodo.requests[-1][1] == f"bytes={kept}-"  # resumed, not restarted
    assert downloads() == []


def test_a_complete_part_is_verified_without_asking_again(zenodo, tmp_path: Path) -> None:
    data = tiny_dump(tmp_path)
    entry = zenodo.add(TINY, data, version="v9.1", published="2026-09-01")
    folder = config.home() / "downloads"
    folder.mkdir(parents=True)
    (folder / f"{TINY}.{entry.md5[:12]}.part").write_bytes(data)
    meta, _ = download_registry()
    assert meta.count == 5 and not any(path.startswith("/files/") for path, _ in zenodo.requests)


def test_a_server_that_ignores_the_range_restarts_cleanly(zenodo, tmp_path: Path) -> None:
    zenodo.add(TINY, tiny_dump(tmp_path), version="v9.1", published="2026-09-01")
    zenodo.file_mode[TINY] = "cut-once"
    failure()
    zenodo.file_mode[TINY] = "no-range"
    meta, _ = download_registry()
    assert meta.count == 5


def test_a_server_that_never_answers(zenodo, tmp_path: Path) -> None:
    zenodo.api_mode = "hang"
    message = failure(timeout=0.5)
    assert "no answer in time" in message and zenodo.base in message and "registry import" in message
    zenodo.api_mode = ""
    zenodo.add(TINY, tiny_dump(tmp_path), version="v9.1", published="2026-09-01")
    zenodo.file_mode[TINY] = "hang"
    assert "no answer in time" in failure(timeout=0.5)
    assert_untouched()


def test_zips_that_are_not_ror_dumps(zenodo, tmp_path: Path) -> None:
    readme = write_zip(tmp_path / "a.zip", {"README.txt": "hello"}).read_bytes()
    zenodo.add("v9.2-2026-10-01-ror-data.zip", readme, version="v9.2", published="2026-10-01")
    message = failure()
    assert "could not be imported" in message and "no .json or .csv" in message and "unchanged" in message
    own = write_zip(tmp_path / "b.zip", {"list.csv": OWN_CSV}).read_bytes()
    zenodo.add("v9.3-2026-11-01-ror-data.zip", own, version="v9.3", published="2026-11-01")
    assert "not a ROR data dump" in failure()
    assert_untouched()
    assert downloads() == []


def test_no_network_names_the_url_and_the_way_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/records?communities=ror-data"
    monkeypatch.setenv("AFFILIATION_CURATOR_ROR_RELEASES_URL", url)
    message = failure()
    assert message.startswith(f"could not reach {url}")
    assert "zenodo.org/communities/ror-data" in message and "registry import FILE" in message
    assert_untouched()


def test_full_disk_and_unwritable_downloads_folder(zenodo, tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    zenodo.add(TINY, tiny_dump(tmp_path), version="v9.1", published="2026-09-01")
    folder = config.home() / "downloads"
    folder.mkdir(parents=True)
    release = find_release()
    (folder / f"{TINY}.{release.md5[:12]}.part").symlink_to("/dev/full")  # every write: no space left
    message = failure()
    assert "No space left on device" in message and str(folder) in message and "AFFILIATION_CURATOR_HOME" in message
    assert_untouched()

    for entry in folder.iterdir():
        entry.unlink()
    folder.rmdir()
    folder.write_text("a file where the downloads folder should be")
    message = failure()
    assert f"cannot write {folder}" in message and "AFFILIATION_CURATOR_HOME" in message
    assert_untouched()


def test_check_says_whether_a_newer_release_exists(zenodo, tmp_path: Path) -> None:
    zenodo.add(TINY, tiny_dump(tmp_path), version="v9.1", published="2026-09-01")
    status = check_for_newer_release()
    assert status.newer and status.imported_as is None
    assert status.message.startswith("A newer ROR release is available: ROR v9.1 (published 2026-09-01")
    assert "record count known once downloaded" in status.message and "active registry is demo" in status.message
    download_registry(activate=False)
    status = check_for_newer_release()
    assert "imported as ror-v9.1-2026-09-01 but not active" in status.message and status.record_count == 5


def test_cli_download_and_check(zenodo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    zenodo.add(TINY, tiny_dump(tmp_path), version="v9.1", published="2026-09-01")
    assert main(["registry", "check"]) == 0
    assert "A newer ROR release is available" in capsys.readouterr().out
    assert main(["registry", "download", "--name", "ror-latest"]) == 0
    out = capsys.readouterr()
    assert "downloaded ROR v9.1" in out.out and "md5 verified" in out.out and "'ror-latest'" in out.out
    assert "100%" in out.err
    assert RegistryCatalog().active_name() == "ror-latest"

    zenodo.file_mode[TINY] = "404"
    zenodo.add("v9.2-2026-10-01-ror-data.zip", b"PK", version="v9.2", published="2026-10-01", md5="1" * 32)
    zenodo.file_mode["v9.2-2026-10-01-ror-data.zip"] = "404"
    assert main(["registry", "download"]) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "HTTP 404" in last and "Traceback" not in err
    assert RegistryCatalog().active_name() == "ror-latest"


def test_full_disk_while_importing_the_download(zenodo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    from affiliation_curator.registry import catalog as catalog_module

    RegistryCatalog().ensure_demo()
    zenodo.add(TINY, tiny_dump(tmp_path), version="v9.1", published="2026-09-01")
    # The records file of the new registry lands on a device that is always full (an absolute
    # name wins over the temporary folder it is joined to).
    with monkeypatch.context() as patch:
        patch.setattr(catalog_module, "INSTITUTIONS_FILE", "/dev/full")
        message = failure()
    assert "No space left on device" in message and str(config.registries_dir()) in message
    assert "AFFILIATION_CURATOR_HOME" in message and "unchanged" in message
    assert_untouched()
    assert not [p for p in config.registries_dir().iterdir() if p.name.startswith(".import-")]
