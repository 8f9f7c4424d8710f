"""``RegistryCatalog``: the imported registries in the data directory, and which one is active.

Layout under ``config.registries_dir()``::

    catalog.json            {"active": "<name>"}
    <name>/meta.json        RegistryMeta (source, version, count, import time, stats, ...)
    <name>/institutions.json
    <name>/...              caches other modules keep beside it (e.g. the retrieval index)

An import is written to a hidden temporary folder and renamed into place only when complete,
so a failed import changes nothing. The built-in demo registry (``data/demo_registry.json``)
is imported as ``demo`` on first use and stays active until another registry is imported or
chosen.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
import uuid
from collections import OrderedDict
from datetime import datetime, timezone
from pathlib import Path

from affiliation_curator import config
from affiliation_curator.errors import RegistryImportError, RegistryNotFoundError
from affiliation_curator.registry.parse import parse_registry_file
from affiliation_curator.registry.registry import DEMO_NAME, Registry, RegistryMeta, compute_stats
from affiliation_curator.registry.sources import ProgressFn
from affiliation_curator.registry.storage import (
    INSTITUTIONS_FILE,
    gc_paused,
    META_FILE,
    dump_institutions,
    load_institutions,
    read_json,
    write_json,
)

CATALOG_FILE = "catalog.json"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
NAME_RULE = "1-64 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"

# Loaded registries shared by everything in this process: (root, name, version_key) -> Registry.
_CACHE: OrderedDict[tuple[str, str, str], Registry] = OrderedDict()
_CACHE_SIZE = 2
_LOCK = threading.RLock()


def slugify(text: str) -> str:
    """A registry name made from any text (a file name): ``My List (2024).csv`` -> ``my-list-2024``."""
    text = text.lower()
    for suffix in (".gz", ".zip", ".json", ".csv"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    text = re.sub(r"[^a-z0-9._-]+", "-", text).strip("-._")
    text = re.sub(r"-{2,}", "-", text)[:64].strip("-._")
    return text or "registry"


def validate_name(name: str) -> str:
    """``name`` if it is a valid registry name, else RegistryImportError saying the rule."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or name in (".", ".."):
        raise RegistryImportError(f"invalid registry name {name!r}: use {NAME_RULE}")
    return name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class RegistryCatalog:
    """The registries imported into the data directory (``config.registries_dir()``)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else config.registries_dir()
        self.root.mkdir(parents=True, exist_ok=True)

    # -- catalog ---------------------------------------------------------------------------

    def _catalog(self) -> dict:
        try:
            data = read_json(self.root / CATALOG_FILE)
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _set_active(self, name: str) -> None:
        data = self._catalog()
        data["active"] = name
        write_json(self.root / CATALOG_FILE, data)

    def _meta_path(self, name: str) -> Path:
        return self.root / name / META_FILE

    def exists(self, name: str) -> bool:
        return bool(NAME_PATTERN.match(name or "")) and self._meta_path(name).is_file()

    def get_meta(self, name: str) -> RegistryMeta:
        """The stored description of a registry; RegistryNotFoundError if there is none."""
        if name == DEMO_NAME and not self.exists(name):
            return self.ensure_demo()
        if not self.exists(name):
            known = ", ".join(self._stored()) or "none yet"
            raise RegistryNotFoundError(f"no registry named {name!r} (imported: {known})")
        try:
            data = read_json(self._meta_path(name))
            if not isinstance(data, dict):
                raise ValueError("not an object")
            return RegistryMeta.from_json(data, self.root / name)
        except (OSError, ValueError, TypeError) as err:
            raise RegistryNotFoundError(f"registry {name!r} is damaged ({err}); import it again") from None

    def list(self) -> list[RegistryMeta]:
        """Every imported registry, by name (the demo registry among them where its file exists)."""
        try:
            self.ensure_demo()
        except RegistryNotFoundError:
            pass
        metas = []
        for name in self._stored():
            try:
                metas.append(self.get_meta(name))
            except RegistryNotFoundError:
                continue
        return metas

    def _stored(self) -> list[str]:
        return [
            folder.name
            for folder in sorted(self.root.iterdir())
            if folder.is_dir() and NAME_PATTERN.match(folder.name) and (folder / META_FILE).is_file()
        ]

    def active_name(self) -> str:
        """The active registry's name; the demo registry (imported on first use) until another is chosen."""
        active = self._catalog().get("active")
        if isinstance(active, str) and self.exists(active):
            if active == DEMO_NAME:
                self.ensure_demo()
            return active
        self.ensure_demo()
        self._set_active(DEMO_NAME)
        return DEMO_NAME

    def active_meta(self) -> RegistryMeta:
        return self.get_meta(self.active_name())

    def use(self, name: str) -> RegistryMeta:
        """Make ``name`` the active registry."""
        if name == DEMO_NAME:
            self.ensure_demo()
        meta = self.get_meta(name)
        self._set_active(name)
        return meta

    def remove(self, name: str) -> None:
        """Delete an imported registry (the demo comes back when it was the active one)."""
        meta = self.get_meta(name)
        was_active = self._catalog().get("active") == name
        trash = self.root / f".trash-{name}-{uuid.uuid4().hex[:8]}"
        meta.folder.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
        if was_active:
            data = self._catalog()
            data.pop("active", None)
            write_json(self.root / CATALOG_FILE, data)

    # -- import ----------------------------------------------------------------------------

    def import_file(
        self,
        path: Path | str,
        name: str | None = None,
        progress: ProgressFn | None = None,
        *,
        activate: bool = True,
        source_name: str | None = None,
        formats: tuple[str, ...] | None = None,
    ) -> RegistryMeta:
        """Import a registry file (see ``parse_registry_file``) as ``name`` and (by default) activate it.

        ``name`` defaults to ``ror-<version>`` for ROR dumps, else a slug of the file name;
        an existing registry of that name is replaced. Atomic: a failure leaves every
        registry, and which one is active, as it was. ``source_name`` is what the catalog
        records as the source (default: the path), e.g. an uploaded file's name. ``formats``:
        the source formats accepted (e.g. only ROR dumps for a downloaded release).
        """
        return self._import(Path(path), name, progress, activate=activate, source_name=source_name, formats=formats)

    def _import(self, path: Path, name: str | None, progress: ProgressFn | None, **options) -> RegistryMeta:
        # The parsed records are many small objects that live only until the import returns:
        # keep the cyclic GC from rescanning them meanwhile.
        with gc_paused():
            return self._import_paused(path, name, progress, **options)

    def _import_paused(
        self,
        path: Path,
        name: str | None,
        progress: ProgressFn | None,
        *,
        activate: bool,
        source_name: str | None,
        allow_demo: bool = False,
        unique: bool = False,
        formats: tuple[str, ...] | None = None,
    ) -> RegistryMeta:
        if name is not None:
            validate_name(name)
            if name == DEMO_NAME and not allow_demo:
                raise RegistryImportError(f"the name {DEMO_NAME!r} is kept for the built-in demo registry; choose another")

        def parse_progress(fraction: float, message: str) -> None:
            if progress:
                progress(0.9 * fraction, message)

        parsed = parse_registry_file(path, parse_progress)
        if formats and parsed.source_format not in formats:
            raise RegistryImportError(
                f"{path.name}: not a ROR data dump (it reads as {parsed.source_format or 'something else'}: "
                f"{len(parsed.institutions):,} records; a ROR dump holds ROR schema-2 JSON or the ROR CSV)"
            )
        if name is None:
            base = source_name or path.name
            if parsed.source_format != "csv" and parsed.version:
                name = slugify(f"ror-{parsed.version}")
            else:
                name = slugify(Path(base).name)
            if name == DEMO_NAME and not allow_demo:
                name = "demo-import"
            if unique and self.exists(name):
                stem = name[:60]
                name = next(f"{stem}-{n}" for n in range(2, 10_000) if not self.exists(f"{stem}-{n}"))
        if progress:
            progress(0.92, f"saving {len(parsed.institutions):,} institutions")
        try:
            sha = _sha256(path)
        except OSError as err:
            raise RegistryImportError(f"{path.name}: cannot be read ({err.strerror or err})") from None

        tmp = self.root / f".import-{name}-{uuid.uuid4().hex[:8]}"
        old = self.root / f".old-{name}-{uuid.uuid4().hex[:8]}"
        final = self.root / name
        try:
            tmp.mkdir(parents=True)
            payload = dump_institutions(parsed.institutions)
            (tmp / INSTITUTIONS_FILE).write_bytes(payload)
            version_key = hashlib.sha256(payload).hexdigest()[:16]
            del payload
            meta = RegistryMeta(
                name=name,
                source=source_name or str(path.resolve()),
                version=parsed.version,
                count=len(parsed.institutions),
                imported_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                folder=final,
                source_format=parsed.source_format,
                version_key=version_key,
                source_sha256=sha,
                warnings=parsed.warnings,
                stats=compute_stats(parsed.institutions),
            )
            del parsed  # freed by reference counting while the GC is still paused
            write_json(tmp / META_FILE, meta.to_json())
            with _LOCK:
                if final.exists():
                    final.rename(old)
                try:
                    tmp.rename(final)
                except OSError:
                    if old.exists() and not final.exists():
                        old.rename(final)
                    raise
                if activate:
                    self._set_active(name)
        except OSError as err:
            raise RegistryImportError(
                f"could not save registry {name!r} in {self.root} ({err.strerror or err}): free some space "
                "there or set AFFILIATION_CURATOR_HOME to a writable folder with room; the registries "
                "already imported are as they were"
            ) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
        if progress:
            progress(1.0, f"imported {meta.count:,} institutions as {name!r}")
        return meta

    def ensure_demo(self) -> RegistryMeta:
        """Import the built-in demo registry as ``demo`` if it is missing or its file changed."""
        path = Path(config.DEMO_REGISTRY_PATH)
        if not path.is_file():
            if self.exists(DEMO_NAME):
                return self.get_meta(DEMO_NAME)
            raise RegistryNotFoundError(
                f"the built-in demo registry {path} is missing; import a registry "
                "(python -m affiliation_curator registry import PATH)"
            )
        if self.exists(DEMO_NAME):
            meta = self.get_meta(DEMO_NAME)
            if meta.source_sha256 and meta.source_sha256 == _sha256(path):
                return meta
        active = self._catalog().get("active")
        activate = not (isinstance(active, str) and active != DEMO_NAME and self.exists(active))
        return self._import(path, DEMO_NAME, None, activate=activate, source_name=path.name, allow_demo=True)

    # -- loading ---------------------------------------------------------------------------

    def load(self, name: str | None = None) -> Registry:
        """The registry ``name`` (default: the active one), cached in this process by name and content."""
        name = name or self.active_name()
        if name == DEMO_NAME:
            self.ensure_demo()
        meta = self.get_meta(name)
        key = (str(self.root.resolve()), name, meta.version_key)
        with _LOCK:
            cached = _CACHE.get(key)
            if cached is not None:
                _CACHE.move_to_end(key)
                return cached
        registry = Registry(meta, load_institutions(meta.folder / INSTITUTIONS_FILE))
        with _LOCK:
            _CACHE[key] = registry
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        return registry

    def resolve(self, name_or_path: str | Path | None) -> Registry:
        """A registry by name, or a registry file (imported on the fly, not activated; reused when unchanged)."""
        if name_or_path is None or str(name_or_path) == "":
            return self.load()
        text = str(name_or_path)
        if isinstance(name_or_path, str) and (text == DEMO_NAME or self.exists(text)):
            return self.load(text)
        path = Path(text).expanduser()
        if path.is_file():
            sha = _sha256(path)
            for meta in self.list():
                if meta.source_sha256 == sha and meta.name != DEMO_NAME:
                    return self.load(meta.name)
            meta = self._import(path, None, None, activate=False, source_name=None, unique=True)
            return self.load(meta.name)
        if NAME_PATTERN.match(text) and "/" not in text:
            self.get_meta(text)  # raises with the list of names
        raise RegistryNotFoundError(f"{text}: neither an imported registry nor a file")


def load_active_registry() -> Registry:
    """The active registry of the data directory (the demo until another is imported)."""
    return RegistryCatalog().load()
