"""Fetching an official ROR data dump from ROR's Zenodo community, and importing it.

    releases = list_releases()                       # newest first, from the Zenodo records API
    meta, release = download_registry(version=None)  # the newest: download, verify, import, activate

The records API (``https://zenodo.org/api/records?communities=ror-data&sort=mostrecent``, or
``AFFILIATION_CURATOR_ROR_RELEASES_URL``) answers ``{"hits": {"hits": [record, ...]}, "links":
{"next": ...}}``; each record has ``metadata.version`` and ``metadata.publication_date`` and
``files`` with ``key``, ``size``, ``checksum`` (``md5:...``) and ``links.self`` (or
``links.download``). Only the standard library's urllib is used.

The file is written to ``<data directory>/downloads/<file>.<md5>.part`` and resumed with an HTTP
Range request when a run is interrupted (a server that ignores the range makes it start over);
it is renamed only once its size and md5 match the API's, and imported through
``RegistryCatalog.import_file`` (atomic: a failure leaves every registry, and which is active,
as it was). Every failure is a ``RegistryDownloadError`` naming the URL or path and what to do.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any

from affiliation_curator import config
from affiliation_curator.errors import CuratorError, RegistryDownloadError
from affiliation_curator.registry.catalog import RegistryCatalog
from affiliation_curator.registry.registry import RegistryMeta
from affiliation_curator.registry.sources import ProgressFn, human_bytes, version_from_name

RELEASES_URL_ENV = "AFFILIATION_CURATOR_ROR_RELEASES_URL"
DEFAULT_RELEASES_URL = "https://zenodo.org/api/records?communities=ror-data&sort=mostrecent"
COMMUNITY_PAGE = "https://zenodo.org/communities/ror-data"
API_TIMEOUT_S = 15.0  # the records API: a few KB
READ_TIMEOUT_S = 60.0  # the longest silence tolerated while the file comes in
MAX_PAGES = 20  # pages of the records API searched for a named version
CHUNK = 1 << 16
DOWNLOAD_SHARE = 0.6  # of the overall progress bar; the import takes the rest
ROR_FORMATS = ("ror-json", "ror-csv")


def releases_url() -> str:
    """The records API address: ``AFFILIATION_CURATOR_ROR_RELEASES_URL`` or Zenodo's."""
    return os.environ.get(RELEASES_URL_ENV, "").strip() or DEFAULT_RELEASES_URL


def manual_hint() -> str:
    return (
        f"download the dump by hand from {COMMUNITY_PAGE} (vX.Y-YYYY-MM-DD-ror-data.zip), then "
        "import it: python -m affiliation_curator registry import FILE (or the Import box on the Registry page)"
    )


@dataclass(frozen=True)
class RorRelease:
    """One published ROR data dump."""

    version: str  # "v2.9"
    published: str  # "2026-06-23"
    file_name: str  # "v2.9-2026-06-23-ror-data.zip"
    size: int  # bytes (0 when the API does not say)
    md5: str  # hex digest, "" when the API gives none
    url: str  # the file's download link
    record_count: int | None = None  # when the record's description says it

    @property
    def label(self) -> str:
        """``v2.9-2026-06-23``: how an imported dump's version reads."""
        return version_from_name(self.file_name) or f"{self.version}-{self.published}".strip("-")


# -- HTTP ---------------------------------------------------------------------------------------


def _reason(err: BaseException) -> str:
    reason = getattr(err, "reason", None) or err
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "no answer in time"
    text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return str(text)


def _open(url: str, timeout: float, headers: dict[str, str] | None = None):  # noqa: ANN202 - http response
    """urlopen with one clear RegistryDownloadError for every way it can fail."""
    request = urllib.request.Request(url, headers={"User-Agent": "affiliation-curator", **(headers or {})})
    try:
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - http(s) URLs only, checked below
    except urllib.error.HTTPError as err:
        if err.code == 416 and headers and "Range" in headers:
            raise
        raise RegistryDownloadError(
            f"{url} answered HTTP {err.code} {err.reason}; {manual_hint()}"
        ) from None
    except (urllib.error.URLError, OSError, HTTPException, ValueError) as err:
        raise RegistryDownloadError(f"could not reach {url} ({_reason(err)}); {manual_hint()}") from None


def _check_scheme(url: str) -> None:
    if not re.match(r"^https?://", url, re.IGNORECASE):
        raise RegistryDownloadError(f"{url!r} is not an http(s) URL; set {RELEASES_URL_ENV} to the records API address")


def _get_json(url: str, timeout: float) -> dict[str, Any]:
    _check_scheme(url)
    try:
        with _open(url, timeout, {"Accept": "application/json"}) as response:
            body = response.read(20 * 1024**2)
    except (OSError, HTTPException) as err:
        raise RegistryDownloadError(f"could not read the answer of {url} ({_reason(err)}); {manual_hint()}") from None
    try:
        data = json.loads(body)
    except ValueError:
        raise RegistryDownloadError(f"{url} did not answer with JSON like the Zenodo records API; {manual_hint()}") from None
    if not isinstance(data, dict):
        raise RegistryDownloadError(f"{url} did not answer like the Zenodo records API (no 'hits'); {manual_hint()}")
    return data


# -- the records API ----------------------------------------------------------------------------

_COUNT = re.compile(r"(\d{1,3}(?:[,\s]\d{3})+|\d{4,})\s+(?:records|organi[sz]ations)", re.IGNORECASE)


def _release_from(hit: Any) -> RorRelease | None:
    """A release from one records-API hit; None for a record without a dump zip."""
    if not isinstance(hit, dict):
        return None
    metadata = hit.get("metadata") if isinstance(hit.get("metadata"), dict) else {}
    files = hit.get("files") if isinstance(hit.get("files"), list) else []
    zips = [f for f in files if isinstance(f, dict) and str(f.get("key", "")).lower().endswith(".zip")]
    if not zips:
        return None
    chosen = next((f for f in zips if "ror-data" in str(f.get("key"))), zips[0])
    links = chosen.get("links") if isinstance(chosen.get("links"), dict) else {}
    url = str(links.get("self") or links.get("download") or links.get("content") or "")
    if not url:
        return None
    checksum = str(chosen.get("checksum") or "")
    md5 = checksum.split(":", 1)[1].lower() if checksum.lower().startswith("md5:") else ""
    try:
        size = max(int(chosen.get("size") or 0), 0)
    except (TypeError, ValueError):
        size = 0
    count = None
    match = _COUNT.search(re.sub(r"<[^>]+>", " ", str(metadata.get("description") or "")))
    if match:
        count = int(re.sub(r"\D", "", match.group(1)))
    key = Path(str(chosen.get("key"))).name
    return RorRelease(
        version=str(metadata.get("version") or (version_from_name(key) or "").split("-")[0]),
        published=str(metadata.get("publication_date") or hit.get("created", ""))[:10],
        file_name=key,
        size=size,
        md5=md5,
        url=url,
        record_count=count,
    )


def _pages(url: str, timeout: float, max_pages: int) -> Iterator[list[RorRelease]]:
    seen: set[str] = set()
    for _ in range(max_pages):
        data = _get_json(url, timeout)
        hits = data.get("hits")
        hits = hits.get("hits") if isinstance(hits, dict) else None
        if not isinstance(hits, list):
            raise RegistryDownloadError(f"{url} did not answer like the Zenodo records API (no hits.hits); {manual_hint()}")
        yield [release for release in map(_release_from, hits) if release is not None]
        links = data.get("links") if isinstance(data.get("links"), dict) else {}
        url = str(links.get("next") or "")
        if not hits or not url or url in seen:
            return
        seen.add(url)
        _check_scheme(url)


def list_releases(url: str | None = None, timeout: float = API_TIMEOUT_S) -> list[RorRelease]:
    """The ROR data dumps on the first page of the records API, newest first."""
    url = url or releases_url()
    releases = next(_pages(url, timeout, 1), [])
    return sorted(releases, key=lambda r: r.published, reverse=True)


def _same_version(wanted: str, release: RorRelease) -> bool:
    want = wanted.strip().lower().lstrip("v")
    return want in (release.version.lower().lstrip("v"), release.label.lower().lstrip("v"))


def find_release(version: str | None = None, url: str | None = None, timeout: float = API_TIMEOUT_S) -> RorRelease:
    """The newest release, or the one named ``vX.Y`` (or ``vX.Y-YYYY-MM-DD``)."""
    url = url or releases_url()
    newest: list[RorRelease] = []
    search = url
    if version and "all_versions" not in url:
        # Zenodo lists only a record's latest version unless asked: ROR's dumps are versions of one record.
        search = url + ("&" if "?" in url else "?") + "all_versions=true"
    for page in _pages(search, timeout, MAX_PAGES if version else 1):
        if not version:
            if page:
                return max(page, key=lambda r: r.published)
            break
        newest = newest or page
        for release in page:
            if _same_version(version, release):
                return release
    if version:
        known = ", ".join(r.version for r in newest[:5]) or "none"
        raise RegistryDownloadError(f"no ROR release {version!r} at {url} (the newest: {known})")
    raise RegistryDownloadError(f"{url} lists no ROR data dump (no record with a .zip file); {manual_hint()}")


# -- downloading --------------------------------------------------------------------------------


def downloads_dir() -> Path:
    path = config.home() / "downloads"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _disk_error(path, err) from None
    return path


def _disk_error(path: Path, err: OSError) -> RegistryDownloadError:
    return RegistryDownloadError(
        f"cannot write {path} ({err.strerror or err}): free some space on that disk, or set "
        "AFFILIATION_CURATOR_HOME to a writable folder with room, and run it again"
    )


def _eta(done: int, total: int, started: float, start_bytes: int) -> str:
    elapsed = max(time.monotonic() - started, 1e-6)
    speed = (done - start_bytes) / elapsed
    text = f"{human_bytes(done)} of {human_bytes(total) if total else '?'} · {human_bytes(int(speed))}/s"
    if total and speed > 0:
        text += f" · {max(total - done, 0) / speed:.0f} s left"
    return text


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """One download at a time per data directory (two app sessions, or the app and the CLI)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux/macOS
        yield
        return
    try:
        handle = open(folder / ".lock", "a+b")  # noqa: SIM115 - closed below
    except OSError as err:
        raise _disk_error(folder, err) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RegistryDownloadError(
                f"another download is running into {folder}; wait for it to finish, then try again"
            ) from None
        yield
    finally:
        handle.close()


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _safe_file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".") or "ror-data.zip"


def download_release(
    release: RorRelease,
    folder: Path | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    timeout: float = READ_TIMEOUT_S,
) -> Path:
    """The release's file in ``folder`` (default: the downloads folder), verified against the API's md5.

    An unfinished ``.part`` of the same file is resumed with a Range request. ``progress(done,
    total, message)`` is told the bytes so far, with speed and time left in the message.
    """
    _check_scheme(release.url)
    folder = folder or downloads_dir()
    name = _safe_file_name(release.file_name)
    final = folder / name
    part = folder / f"{name}.{(release.md5 or 'nomd5')[:12]}.part"
    with _exclusive(folder):
        if final.is_file() and release.md5 and final.stat().st_size == release.size and _md5(final) == release.md5:
            if progress:
                progress(release.size, release.size, f"{name} is already downloaded and verified")
            return final
        for attempt in range(2):
            have = part.stat().st_size if part.is_file() else 0
            if release.size and have > release.size:
                part.unlink()
                have = 0
            if release.size and have == release.size:
                break  # complete already (stopped before its check): verify it below
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                response = _open(release.url, timeout, headers)
            except urllib.error.HTTPError:  # 416: the part does not fit this file; start over once
                part.unlink(missing_ok=True)
                if attempt:
                    raise RegistryDownloadError(f"{release.url} refuses to send {name}; {manual_hint()}") from None
                continue
            with response:
                resumed = have and response.status == 206
                _receive(response, part, resumed, have if resumed else 0, release, progress)
            break
        size = part.stat().st_size
        if release.size and size != release.size:
            raise RegistryDownloadError(
                f"the download of {name} from {release.url} ended at {human_bytes(size)} of "
                f"{human_bytes(release.size)}; run it again to resume (the part is kept in {part})"
            )
        if release.md5:
            got = _md5(part)
            if got != release.md5:
                part.unlink(missing_ok=True)
                raise RegistryDownloadError(
                    f"{name} from {release.url} does not match the md5 checksum the records API gives "
                    f"(got {got}, expected {release.md5}): the download is corrupt and was deleted; run it again"
                )
        try:
            part.replace(final)
        except OSError as err:
            raise _disk_error(final, err) from None
    return final


def _receive(response: Any, part: Path, resumed: bool, start: int, release: RorRelease,
             progress: Callable[[int, int, str], None] | None) -> None:
    total = release.size or (start + int(response.headers.get("Content-Length") or 0))
    done = start
    started = time.monotonic()
    last = 0.0
    try:
        with open(part, "ab" if resumed else "wb") as handle:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (OSError, HTTPException) as err:
                    raise RegistryDownloadError(
                        f"the download of {release.file_name} from {release.url} was cut off at {human_bytes(done)} "
                        f"of {human_bytes(total) if total else '?'} ({_reason(err)}); run it again to resume "
                        f"(the part is kept in {part})"
                    ) from None
                if not chunk:
                    break
                handle.write(chunk)
                done += len(chunk)
                now = time.monotonic()
                if progress and (now - last > 0.25 or done == total):
                    last = now
                    progress(done, total, _eta(done, total, started, start))
    except OSError as err:  # writing: disk full, read-only, gone
        raise _disk_error(part, err) from None
    if progress:
        progress(done, total, _eta(done, total, started, start))


# -- download + import --------------------------------------------------------------------------


def download_registry(
    version: str | None = None,
    name: str | None = None,
    progress: ProgressFn | None = None,
    *,
    activate: bool = True,
    url: str | None = None,
    timeout: float = READ_TIMEOUT_S,
    catalog: RegistryCatalog | None = None,
) -> tuple[RegistryMeta, RorRelease]:
    """Find the newest (or named) ROR release, download and verify it, import it and make it active.

    Any failure raises ``RegistryDownloadError`` (or ``RegistryImportError`` for a bad name) and
    leaves every imported registry, and which one is active, as it was.
    """
    catalog = catalog or RegistryCatalog()
    if name is not None:
        from affiliation_curator.registry.catalog import validate_name

        validate_name(name)
    if progress:
        progress(0.0, f"asking {url or releases_url()} for the ROR releases")
    release = find_release(version, url=url, timeout=min(timeout, API_TIMEOUT_S))

    def on_bytes(done: int, total: int, message: str) -> None:
        if progress:
            progress(DOWNLOAD_SHARE * (done / total if total else 0.0), f"downloading {release.file_name}: {message}")

    path = download_release(release, progress=on_bytes, timeout=timeout)

    def on_import(fraction: float, message: str) -> None:
        if progress:
            progress(DOWNLOAD_SHARE + (1 - DOWNLOAD_SHARE) * fraction, message)

    try:
        meta = catalog.import_file(
            path, name=name, progress=on_import, activate=activate, source_name=release.url,
            formats=ROR_FORMATS,
        )
    except CuratorError as err:
        raise RegistryDownloadError(
            f"{release.file_name} from {release.url} could not be imported: {err}. The active registry is unchanged"
        ) from None
    finally:
        path.unlink(missing_ok=True)  # the registry keeps what it needs; the zip would only take room
    return meta, release


def imported_release(release: RorRelease, catalog: RegistryCatalog | None = None) -> RegistryMeta | None:
    """The imported registry holding this release, if any."""
    catalog = catalog or RegistryCatalog()
    return next((m for m in catalog.list() if m.version and m.version == release.label), None)


@dataclass(frozen=True)
class ReleaseStatus:
    """The newest ROR release compared with what is imported (``registry check``, the Registry page)."""

    newest: RorRelease
    active: RegistryMeta | None
    imported_as: RegistryMeta | None  # the registry holding the newest release, if imported
    newer: bool  # the newest release is newer than the active registry (or that is no ROR dump)

    @property
    def record_count(self) -> int | None:
        return self.imported_as.count if self.imported_as else self.newest.record_count

    @property
    def message(self) -> str:
        """What ``registry check`` prints: the comparison and the command that acts on it."""
        return self.summary(cli=True)

    def summary(self, cli: bool = False) -> str:
        """The comparison in a sentence; with ``cli`` the command to run next, else the page's button."""
        release = self.newest
        count = self.record_count
        facts = f"published {release.published or '?'}, " + (
            f"{count:,} records" if count is not None else "record count known once downloaded"
        )
        if release.size:
            facts += f", {human_bytes(release.size)} to download"
        head = f"ROR {release.version} ({facts})"
        if self.imported_as is not None and self.active is not None and self.imported_as.name == self.active.name:
            return f"You have the newest release: {head} is the active registry {self.active.name}."
        if self.imported_as is not None:
            how = (f"python -m affiliation_curator registry use {self.imported_as.name}" if cli
                   else "choose it under Switch registry")
            return f"The newest release, {head}, is imported as {self.imported_as.name} but not active: {how}."
        active = (
            f"the active registry is {self.active.name} (version {self.active.version or '-'})"
            if self.active is not None else "no registry is active"
        )
        if self.newer:
            how = "python -m affiliation_curator registry download" if cli else "Download, import and use"
            return f"A newer ROR release is available: {head}; {active}. Get it with: {how}"
        return f"The newest ROR release is {head}; {active}, which is as new."


def _dump_date(meta: RegistryMeta | None) -> str:
    """The release date of an imported ROR dump (``v2.9-2026-06-23`` -> ``2026-06-23``), else ""."""
    if meta is None or meta.source_format not in ROR_FORMATS or meta.is_demo:
        return ""
    match = re.search(r"(\d{4}-\d{2}-\d{2})", meta.version or "")
    return match.group(1) if match else ""


def check_for_newer_release(
    url: str | None = None, timeout: float = API_TIMEOUT_S, catalog: RegistryCatalog | None = None
) -> ReleaseStatus:
    """Ask the records API for the newest release and compare it with the active registry."""
    catalog = catalog or RegistryCatalog()
    newest = find_release(None, url=url, timeout=timeout)
    try:
        active: RegistryMeta | None = catalog.active_meta()
    except CuratorError:
        active = None
    imported_as = imported_release(newest, catalog)
    active_date = _dump_date(active)
    newer = not active_date or newest.published > active_date
    return ReleaseStatus(newest=newest, active=active, imported_as=imported_as, newer=newer)
