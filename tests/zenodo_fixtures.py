"""A local stand-in for ROR's Zenodo community: an HTTP server in a thread, on 127.0.0.1 and a free
port, answering like the Zenodo records API and serving the dump files it lists.

    with FakeZenodo() as zenodo:
        zenodo.add("v2.9-2026-06-23-ror-data.zip", data, version="v2.9", published="2026-06-23")
        zenodo.api_url      # for AFFILIATION_CURATOR_ROR_RELEASES_URL
        zenodo.file_mode["v2.9-...zip"] = "cut-once"   # or "cut", "hang", "404", "no-range"
        zenodo.api_mode = "hang"                        # or "404", "garbage"
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest
from registry_fixtures import sample_records, write_zip


@dataclass
class Published:
    name: str
    data: bytes
    version: str
    published: str
    md5: str
    description: str = ""


@dataclass
class FakeZenodo:
    files: list[Published] = field(default_factory=list)  # newest first, as sort=mostrecent
    file_mode: dict[str, str] = field(default_factory=dict)
    api_mode: str = ""
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Range header)
    page_size: int = 10

    def add(self, name: str, data: bytes, *, version: str, published: str, md5: str | None = None,
            description: str = "") -> Published:
        entry = Published(name, data, version, published, md5 or hashlib.md5(data).hexdigest(), description)
        self.files.insert(0, entry)
        return entry

    # -- server ------------------------------------------------------------------------------

    def __enter__(self) -> "FakeZenodo":
        self._stop = threading.Event()
        zenodo = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # noqa: ANN002 - quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                zenodo.requests.append((self.path, self.headers.get("Range", "")))
                if self.path.startswith("/api/records"):
                    zenodo._api(self)
                elif self.path.startswith("/files/"):
                    zenodo._file(self, unquote(self.path[len("/files/"):]))
                else:
                    self.send_error(404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/records?communities=ror-data&sort=mostrecent"

    def _api(self, handler: BaseHTTPRequestHandler) -> None:
        if self.api_mode == "hang":
            self._stop.wait(10)
            return
        if self.api_mode == "404":
            handler.send_error(404, "Not Found")
            return
        if self.api_mode == "garbage":
            body = b"<html>maintenance</html>"
        else:
            page = 2 if "page=2" in handler.path else 1
            chosen = self.files[(page - 1) * self.page_size : page * self.page_size]
            hits = [
                {
                    "id": 1000 + i,
                    "created": f.published + "T10:00:00+00:00",
                    "metadata": {"version": f.version, "publication_date": f.published, "description": f.description},
                    "files": [
                        {
                            "key": f.name,
                            "size": len(f.data),
                            "checksum": "md5:" + f.md5,
                            "links": {"self": f"{self.base}/files/{f.name}"},
                        }
                    ],
                }
                for i, f in enumerate(chosen)
            ]
            links = {"self": self.api_url}
            if page * self.page_size < len(self.files):
                links["next"] = self.base + handler.path.split("&page=")[0] + "&page=2"  # Zenodo keeps the query
            body = json.dumps({"hits": {"hits": hits, "total": len(self.files)}, "links": links}).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _file(self, handler: BaseHTTPRequestHandler, name: str) -> None:
        entry = next((f for f in self.files if f.name == name), None)
        mode = self.file_mode.get(name, "")
        if entry is None or mode == "404":
            handler.send_error(404, "Not Found")
            return
        if mode == "hang":
            self._stop.wait(10)
            return
        data = entry.data
        start = 0
        ranged = handler.headers.get("Range", "")
        if ranged.startswith("bytes=") and mode != "no-range":
            start = int(ranged[len("bytes="):].split("-")[0] or 0)
            if start >= len(data):
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{len(data)}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            handler.send_response(200)
        body = data[start:]
        handler.send_header("Content-Type", "application/zip")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if mode in ("cut", "cut-once"):
            if mode == "cut-once":
                self.file_mode[name] = ""
            handler.wfile.write(body[: len(body) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.wfile.write(body)


def tiny_dump(tmp_path, name: str = "v9.1-2026-09-01-ror-data.zip") -> bytes:
    """A dump zip of our own: five made-up ROR schema-2 records in the official layout."""
    path = write_zip(tmp_path / name, {name.replace(".zip", ".json"): json.dumps(sample_records())})
    return path.read_bytes()


@pytest.fixture
def zenodo(monkeypatch: pytest.MonkeyPatch):
    """A running FakeZenodo; AFFILIATION_CURATOR_ROR_RELEASES_URL points at it."""
    with FakeZenodo() as server:
        monkeypatch.setenv("AFFILIATION_CURATOR_ROR_RELEASES_URL", server.api_url)
        yield server
