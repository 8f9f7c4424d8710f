"""The Registry page through Streamlit's AppTest: active registry, import by upload, switching, finding."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from fixtures.registries import OWN_CSV, ror_record, sample_records, write_json
from streamlit.testing.v1 import AppTest
from fixtures.zenodo import tiny_dump

from affiliation_curator import config
from affiliation_curator.registry import RegistryCatalog

PAGE = str(Path(__file__).resolve().parent.parent.parent / "app_pages" / "registry.py")
TIMEOUT = 60


@pytest.fixture
def demo_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    records = [
        ror_record("https://ror.org/0demo0001", "Demo University", names=[("DU", ["acronym"], None)]),
        ror_record("https://ror.org/0demo0002", "Demo Institute", status="inactive",
                   relationships=[("successor", "https://ror.org/0demo0001", "Demo University")]),
    ]
    path = write_json(tmp_path / "demo_registry.json", records)
    monkeypatch.setattr(config, "DEMO_REGISTRY_PATH", path)
    return path


def plain(text: str) -> str:
    """Markdown-escaped text as it reads on screen."""
    return re.sub(r"\\(.)", r"\1", text)


def page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.subheader] + [e.value for e in at.info]
    parts += [e.value for e in at.success] + [e.value for e in at.error] + [e.value for e in at.warning]
    parts += [e.value for e in at.caption] + [e.value for e in at.text]
    return plain("\n".join(str(p) for p in parts))


def test_shows_the_demo_registry_and_says_so(demo_file: Path) -> None:
    at = page()
    assert any("Active registry: demo" in plain(s.value) for s in at.subheader)
    assert any("built-in demo registry" in plain(i.value) for i in at.info)
    assert any("Version:" in plain(m.value) and "Format:" in plain(m.value) for m in at.markdown)
    counts = {m.label: m.value for m in at.metric}
    assert counts["Institutions"] == "2" and counts["Inactive"] == "1"


def test_find_shows_the_record(demo_file: Path) -> None:
    at = page()
    at.text_input(key="registry_query").input("DU").run()
    assert not at.exception
    assert at.selectbox(key="registry_result").value.endswith("(https://ror.org/0demo0001)")
    body = texts(at)
    assert "Demo University" in body
    names = at.dataframe[-1].value if at.dataframe else None
    assert names is not None
    at.text_input(key="registry_query").input("0demo0002").run()
    assert any("inactive" in plain(w.value) and "Demo University" in plain(w.value) for w in at.warning)


def test_find_in_the_real_demo_registry() -> None:
    if not Path(config.DEMO_REGISTRY_PATH).is_file():
        pytest.skip("data/demo_registry.json is not written yet")
    at = page()
    at.text_input(key="registry_query").input("Technical University of Munich").run()
    assert not at.exception
    assert any("Technical University of Munich" in plain(s.value) for s in at.subheader)
    assert any(getattr(b, "url", None) == "https://ror.org/02kkvpp62" or "ror.org" in str(b.proto) for b in at.get("link_button"))


def test_upload_imports_and_switching_back(demo_file: Path) -> None:
    at = page()
    uploader = at.get("file_uploader")[0]
    uploader.set_value(("our-list.csv", OWN_CSV.encode("utf-8"), "text/csv"))
    at.run()
    at.text_input(key="registry_import_name").input("ours")
    at.button(key="registry_import_button").click().run()
    assert not at.exception, at.exception
    assert any("Imported 3 institutions as registry ours" in plain(s.value) for s in at.success), texts(at)
    assert RegistryCatalog().active_name() == "ours"
    assert any("Active registry: ours" in plain(s.value) for s in at.subheader)
    assert not any("built-in demo registry" in plain(i.value) for i in at.info)
    assert at.text_input(key="registry_import_name").value == ""  # not kept for the next import

    switch = at.selectbox(key="registry_switch")
    switch.select(next(o for o in switch.options if o.startswith("demo — "))).run()
    assert not at.exception
    assert RegistryCatalog().active_name() == "demo"
    assert any("Active registry: demo" in plain(s.value) for s in at.subheader)


def test_bad_upload_gives_one_message_and_keeps_the_active_registry(demo_file: Path) -> None:
    at = page()
    at.get("file_uploader")[0].set_value(("v2.0-2026-01-01-ror-data.zip", b"PK\x03\x04not a zip" * 20, "application/zip"))
    at.run()
    at.button(key="registry_import_button").click().run()
    assert not at.exception
    errors = [plain(e.value) for e in at.error]
    assert len(errors) == 1 and "not a valid zip archive" in errors[0] and "unchanged" in errors[0]
    assert RegistryCatalog().active_name() == "demo"
    assert not list((config.home() / "uploads").iterdir())  # the temporary upload is gone


def test_json_dump_upload(demo_file: Path) -> None:
    at = page()
    data = json.dumps(sample_records()).encode()
    at.get("file_uploader")[0].set_value(("v2.4-2026-04-01-ror-data.json", data, "application/json"))
    at.run()
    at.button(key="registry_import_button").click().run()
    assert not at.exception
    assert RegistryCatalog().active_name() == "ror-v2.4-2026-04-01"
    at.text_input(key="registry_query").input("SUT").run()
    assert any("Springfield University of Technology" in plain(s.value) for s in at.subheader)
    frames = [f.value for f in at.dataframe]
    relations = next(f for f in frames if "Relation" in f.columns)
    assert set(relations["Relation"]) == {"Child", "Related"}
    assert "Springfield Institute of Optics" in set(relations["Name"])


def test_registry_strings_are_not_rendered_as_markdown(demo_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "evil.csv"
    path.write_text('id,name\ne1,"**Bold** [link](javascript:alert(1)) <b>x</b>"\n', encoding="utf-8")
    RegistryCatalog().import_file(path, name="evil")
    at = page()
    at.text_input(key="registry_query").input("e1").run()
    heading = next(s.value for s in at.subheader if "Bold" in s.value)
    assert "\\*\\*Bold\\*\\*" in heading and "\\[link\\]" in heading and "\\<b\\>" in heading


# -- ROR releases: check and one-click download (against a local stand-in for Zenodo) -----------


def _wait_for_check(at: AppTest, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        box = at.session_state["ror_release_check"] if "ror_release_check" in at.session_state else None
        if box and box.get("done"):
            break
        time.sleep(0.05)
    at.run()
    assert not at.exception, at.exception


def test_download_button_imports_the_newest_release(demo_file: Path, zenodo, tmp_path: Path) -> None:
    zenodo.add("v9.1-2026-09-01-ror-data.zip", tiny_dump(tmp_path), version="v9.1", published="2026-09-01")
    zenodo.add("v9.0-2026-08-01-ror-data.zip", b"never fetched", version="v9.0", published="2026-08-01")
    at = page()
    assert not any(path.startswith("/api") for path, _ in zenodo.requests)  # nothing asked before a click
    at.button(key="registry_check_button").click().run()
    _wait_for_check(at)
    assert any("A newer ROR release is available: ROR v9.1 (published 2026-09-01" in plain(i.value)
               and "Get it with: Download, import and use" in plain(i.value) for i in at.info), texts(at)

    at.button(key="registry_download_button").click().run()
    assert not at.exception, at.exception
    assert any("Downloaded ROR v9.1 (2026-09-01), md5 verified" in plain(s.value) and "5 institutions" in plain(s.value)
               for s in at.success), texts(at)
    assert RegistryCatalog().active_name() == "ror-v9.1-2026-09-01"
    assert any("Active registry: ror-v9.1-2026-09-01" in plain(s.value) for s in at.subheader)
    assert not any("/files/v9.0" in path for path, _ in zenodo.requests)

    at.button(key="registry_check_button").click().run()
    _wait_for_check(at)
    assert any("You have the newest release" in plain(i.value) for i in at.info), texts(at)


def test_download_failure_gives_one_message_and_keeps_the_active_registry(demo_file: Path, zenodo, tmp_path: Path) -> None:
    zenodo.add("v9.1-2026-09-01-ror-data.zip", tiny_dump(tmp_path), version="v9.1", published="2026-09-01", md5="0" * 32)
    at = page()
    at.text_input(key="registry_download_version").input("v9.1")
    at.text_input(key="registry_download_name").input("ror-named")
    at.button(key="registry_download_button").click().run()
    assert not at.exception, at.exception
    errors = [plain(e.value) for e in at.error]
    assert len(errors) == 1 and "Download failed" in errors[0] and "md5 checksum" in errors[0]
    assert "unchanged" in errors[0]
    assert RegistryCatalog().active_name() == "demo"
    assert at.text_input(key="registry_download_name").value == "ror-named"  # kept for another try

    zenodo.files[0].md5 = hashlib.md5(zenodo.files[0].data).hexdigest()
    at.button(key="registry_download_button").click().run()
    assert RegistryCatalog().active_name() == "ror-named"
    assert at.text_input(key="registry_download_name").value == ""  # emptied after the import

    zenodo.api_mode = "404"
    at.button(key="registry_check_button").click().run()
    _wait_for_check(at)
    warnings = [plain(w.value) for w in at.warning]
    assert any("Could not check for a newer release" in w and "HTTP 404" in w and "registry import" in w for w in warnings)
