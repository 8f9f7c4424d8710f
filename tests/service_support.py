"""Starting ``python -m affiliation_curator serve`` on a free port and calling it over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Answer:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


class Server:
    """A running ``serve`` subprocess (stopped with ``stop``)."""

    def __init__(self, home: Path, *args: str, ready_timeout: float = 120.0) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "AFFILIATION_CURATOR_HOME": str(home), "PYTHONPATH": str(PROJECT_DIR),
               "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        env.pop("AFFILIATION_CURATOR_DB", None)
        self.log = home / f"serve-{self.port}.log"
        home.mkdir(parents=True, exist_ok=True)
        self._log = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "affiliation_curator", "serve", "--port", str(self.port), *args],
            cwd=PROJECT_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if self.get("/health").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"serve did not answer within {ready_timeout:.0f} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    def request(self, method: str, path: str, data: bytes | None = None,
                headers: dict[str, str] | None = None) -> Answer:
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(req, timeout=60) as resp:
                return Answer(resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as err:
            return Answer(err.code, err.headers, err.read())

    def get(self, path: str, **params: Any) -> Answer:
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        return self.request("GET", path + query)

    def post_form(self, path: str, **fields: Any) -> Answer:
        body = urllib.parse.urlencode(fields).encode("utf-8")
        return self.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        return None
