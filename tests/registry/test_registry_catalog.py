"""The registry catalog: import, keep, activate, load, find; the demo registry; atomic failed imports."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from fixtures.registries import GONE, HOSPITAL, INSTITUTE, OLD, OWN_CSV, UNI, ror_record, sample_records, write_json, write_json_gz, write_zip
from affiliation_curator import config
from affiliation_curator.errors import RegistryImportError, RegistryNotFoundError
from affiliation_curator.registry import (
    DEMO_NAME,
    Registry,
    RegistryCatalog,
    load_active_registry,
    slugify,
)


@pytest.fixture
def demo_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small demo registry standing in for data/demo_registry.json."""
    records = [
        ror_record("https://ror.org/0demo0001", "Demo University", names=[("DU", ["acronym"], None)]),
        ror_record("https://ror.org/0demo0002", "Demo Institute"),
    ]
    path = write_json(tmp_path / "demo_registry.json", records)
    monkeypatch.setattr(config, "DEMO_REGISTRY_PATH", path)
    return path


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    return write_zip(tmp_path / "v2.3-2026-03-04-ror-data.zip", {"v2.3-2026-03-04-ror-data.json": json.dumps(sample_records())})


def test_demo_is_active_until_another_is_imported(demo_file: Path, dump: Path) -> None:
    catalog = RegistryCatalog()
    assert catalog.active_name() == DEMO_NAME
    demo = catalog.load()
    assert demo.is_demo and len(demo) == 2
    assert demo.meta.source == "demo_registry.json"

    meta = catalog.import_file(dump)
    assert meta.name == "ror-v2.3-2026-03-04"
    assert (meta.version, meta.count, meta.source_format) == ("v2.3-2026-03-04", 5, "ror-json")
    assert meta.source == str(dump.resolve())
    assert meta.imported_at and meta.version_key
    assert catalog.active_name() == meta.name
    assert [m.name for m in catalog.list()] == ["demo", "ror-v2.3-2026-03-04"]
    assert not catalog.load().is_demo

    catalog.use("demo")
    assert catalog.active_name() == "demo"
    catalog.use(meta.name)
    assert load_active_registry().name == meta.name


def test_import_without_activating(demo_file: Path, dump: Path) -> None:
    catalog = RegistryCatalog()
    catalog.import_file(dump, name="later", activate=False)
    assert catalog.active_name() == DEMO_NAME
    assert len(catalog.load("later")) == 5


def test_registry_keeps_everything_and_finds(demo_file: Path, dump: Path) -> None:
    catalog = RegistryCatalog()
    catalog.import_file(dump, name="test")
    registry = catalog.load("test")
    assert isinstance(registry, Registry)
    assert len(registry) == 5 and [i.id for i in registry] == [UNI, INSTITUTE, OLD, GONE, HOSPITAL]
    assert registry.institutions[0].id == UNI
    assert registry.folder == catalog.root / "test" and registry.folder.is_dir()
    # Any spelling of a ROR id.
    for spelling in ("0test0001", "ror.org/0test0001", "https://ror.org/0test0001", "http://www.ror.org/0TEST0001/"):
        assert registry.get(spelling).id == UNI
    assert registry.get("0test0999") is None
    old = registry.get(OLD)
    assert old.status == "inactive" and old.successors[0].id == UNI
    # find: by id, acronym, exact name, words, typo; external ids too.
    assert registry.find("0test0002")[0].id == INSTITUTE
    assert registry.find("SIO")[0].id == INSTITUTE
    assert registry.find("sut")[0].id == UNI
    assert registry.find("technische universitat springfield")[0].id == UNI
    assert registry.find("Springfield Clinic")[0].id == HOSPITAL
    assert registry.find("Institute Optics")[0].id == INSTITUTE
    assert registry.find("Springfeld Institute of Optcs")[0].id == INSTITUTE
    assert registry.find("grid.0000.1")[0].id == UNI
    assert registry.find("") == [] and registry.find("   ") == []
    assert len(registry.find("Springfield", limit=2)) == 2
    # Counts by type, country and status.
    stats = registry.stats()
    assert stats["count"] == 5
    assert stats["by_status"] == {"active": 3, "inactive": 1, "withdrawn": 1}
    assert stats["by_country"]["Germany"] == 3
    assert stats["by_type"]["education"] == 2
    assert [(rel.type, other.id) for rel, other in registry.related(registry.get(UNI), "child")] == [("child", INSTITUTE)]


def test_load_is_cached_and_reimport_changes_version_key(demo_file: Path, tmp_path: Path) -> None:
    catalog = RegistryCatalog()
    first = catalog.import_file(write_json(tmp_path / "a.json", sample_records()), name="reg")
    loaded = catalog.load("reg")
    assert catalog.load("reg") is loaded
    (loaded.folder / "retrieval-cache.bin").write_bytes(b"derived")  # another module's cache
    records = sample_records()
    records[0]["names"][0]["value"] = "Renamed University"
    second = catalog.import_file(write_json(tmp_path / "b.json", records), name="reg")
    assert second.version_key != first.version_key
    reloaded = catalog.load("reg")
    assert reloaded is not loaded and reloaded.get(UNI).name == "Renamed University"
    assert not (reloaded.folder / "retrieval-cache.bin").exists()
    # The same content again gives the same key (caches stay valid).
    third = catalog.import_file(write_json(tmp_path / "c.json", records), name="reg")
    assert third.version_key == second.version_key


def test_own_csv_and_default_names(demo_file: Path, tmp_path: Path) -> None:
    catalog = RegistryCatalog()
    path = tmp_path / "Our Institutions (2026).csv"
    path.write_text(OWN_CSV, encoding="utf-8")
    meta = catalog.import_file(path)
    assert meta.name == "our-institutions-2026"
    assert meta.source_format == "csv" and meta.version == "" and meta.count == 3
    assert catalog.load().find("ILS")[0].id == "inst-1"
    assert slugify("v2.9-2026-06-23-ror-data.zip") == "v2.9-2026-06-23-ror-data"
    assert slugify("###") == "registry"
    gz = write_json_gz(tmp_path / "ror-union.json.gz", sample_records())
    assert catalog.import_file(gz).name == "ror-2026-05-20"  # version: newest record date


@pytest.mark.parametrize("name", ["Bad Name", "../escape", "", "x" * 65, ".hidden", "a/b"])
def test_invalid_names_are_refused(demo_file: Path, dump: Path, name: str) -> None:
    catalog = RegistryCatalog()
    with pytest.raises(RegistryImportError, match="invalid registry name"):
        catalog.import_file(dump, name=name)
    assert [m.name for m in catalog.list()] == ["demo"]


def test_demo_name_is_reserved(demo_file: Path, dump: Path) -> None:
    with pytest.raises(RegistryImportError, match="kept for the built-in demo"):
        RegistryCatalog().import_file(dump, name="demo")


def test_demo_is_reimported_when_its_file_changes(demo_file: Path) -> None:
    catalog = RegistryCatalog()
    first = catalog.ensure_demo()
    assert catalog.ensure_demo().version_key == first.version_key
    records = json.loads(demo_file.read_text())
    records.append(ror_record("https://ror.org/0demo0003", "Third Demo Place"))
    write_json(demo_file, records)
    assert catalog.load().get("0demo0003").name == "Third Demo Place"


def test_demo_missing_gives_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "DEMO_REGISTRY_PATH", tmp_path / "absent.json")
    with pytest.raises(RegistryNotFoundError, match="demo registry .* is missing"):
        RegistryCatalog().active_name()


def test_real_demo_registry_imports() -> None:
    if not Path(config.DEMO_REGISTRY_PATH).is_file():
        pytest.skip("data/demo_registry.json is not written yet")
    catalog = RegistryCatalog()
    registry = catalog.load()
    assert registry.is_demo and len(registry) > 20
    assert registry.find("Technical University of Munich")[0].name == "Technical University of Munich"


def test_remove_and_fallback_to_demo(demo_file: Path, dump: Path) -> None:
    catalog = RegistryCatalog()
    meta = catalog.import_file(dump)
    catalog.remove(meta.name)
    assert catalog.active_name() == DEMO_NAME
    assert [m.name for m in catalog.list()] == ["demo"]
    with pytest.raises(RegistryNotFoundError, match="no registry named"):
        catalog.use(meta.name)


def test_resolve_name_or_path(demo_file: Path, dump: Path) -> None:
    catalog = RegistryCatalog()
    assert catalog.resolve("demo").is_demo
    assert catalog.resolve(None).is_demo
    from_path = catalog.resolve(str(dump))
    assert len(from_path) == 5
    assert catalog.active_name() == DEMO_NAME  # resolved files are not activated
    assert catalog.resolve(dump).name == from_path.name  # reused, not imported twice
    assert len(catalog.list()) == 2
    with pytest.raises(RegistryNotFoundError):
        catalog.resolve("no-such-registry")
    with pytest.raises(RegistryNotFoundError):
        catalog.resolve("/no/such/file.zip")


def test_damaged_registry_file_is_reported(demo_file: Path, dump: Path) -> None:
    catalog = RegistryCatalog()
    meta = catalog.import_file(dump, name="broken")
    (meta.folder / "institutions.json").write_bytes(b"{not json")
    with pytest.raises(RegistryNotFoundError, match="damaged"):
        catalog.load("broken")


# --------------------------------------------------------------------------------------------
# A failed import changes nothing: the active registry stays active and loads.


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    def text(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path

    records = sample_records()
    return {
        "corrupt zip": (text("v2.0-2026-01-01-ror-data.zip", b"PK\x03\x04" + b"\x13junk" * 300), "not a valid zip archive"),
        "zip without json or csv": (write_zip(tmp_path / "other.zip", {"notes.txt": "x"}), "no .json or .csv"),
        "json object": (write_json(tmp_path / "obj.json", {"items": records}), "wrong JSON shape"),
        "records missing fields": (write_json(tmp_path / "nofields.json", [{"status": "active"}] * 3), "missing id"),
        "duplicate ids": (text("dups.csv", "id,name\n1,A\n1,B\n1,C\n1,D\n"), "repeat an id"),
        "non-utf8 csv": (text("latin.csv", "id,name\n1,Universität\n".encode("latin-1")), "not UTF-8"),
        "binary csv": (text("bin.csv", bytes(range(256)) * 8), "binary data"),
        "missing columns": (text("cols.csv", "code,label\n1,A\n"), "missing required column(s)"),
        "zero records": (write_json(tmp_path / "zero.json", []), "zero records"),
        "huge file": (write_json_gz(tmp_path / "huge.json.gz", records * 400), "too large"),
        "truncated gzip": (text("cut.json.gz", gzip.compress(json.dumps(records * 50).encode())[:300]), "cut.json.gz"),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "corrupt zip", "zip without json or csv", "json object", "records missing fields", "duplicate ids",
        "non-utf8 csv", "binary csv", "missing columns", "zero records", "huge file", "truncated gzip",
    ],
)
def test_failed_import_changes_nothing(
    kind: str, demo_file: Path, dump: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = RegistryCatalog()
    good = catalog.import_file(dump, name="good")
    before = sorted(p.name for p in catalog.root.iterdir())
    path, fragment = _bad_files(tmp_path)[kind]
    if kind == "huge file":
        monkeypatch.setattr(config, "MAX_REGISTRY_FILE_BYTES", 1000)
    for name in (None, "good"):  # a new name, and replacing the active registry itself
        with pytest.raises(RegistryImportError) as info:
            catalog.import_file(path, name=name)
        assert fragment in str(info.value)
    assert catalog.active_name() == "good"
    assert sorted(p.name for p in catalog.root.iterdir()) == before  # no half-written folders
    registry = catalog.load()
    assert registry.name == "good" and len(registry) == 5 and registry.version_key == good.version_key


@pytest.mark.shared
def test_shared_sample_zip_import(shared_data: Path, demo_file: Path) -> None:
    catalog = RegistryCatalog()
    meta = catalog.import_file(shared_data / "ror" / "ror-sample-1543-v2.9-2026-06-23.zip")
    assert (meta.name, meta.version, meta.count) == ("ror-v2.9-2026-06-23", "v2.9-2026-06-23", 1543)
    assert meta.stats["by_status"].keys() == {"active", "inactive", "withdrawn"}
    assert len(meta.stats["by_type"]) == 9 and len(meta.stats["by_country"]) == 203
    registry = catalog.load()
    tum = registry.find("TUM")[0]
    assert tum.id == "https://ror.org/02kkvpp62"
    assert registry.find("Technical University of Munich")[0].id == tum.id
    assert registry.find("02kkvpp62")[0].id == tum.id
    lmu = registry.find("Ludwig-Maximilians-Universität München")[0]
    children = [other for _rel, other in registry.related(lmu, "child") if other is not None]
    assert children and all(any(r.id == lmu.id for r in child.related("parent")) for child in children)
