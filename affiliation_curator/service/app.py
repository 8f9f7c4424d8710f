"""The HTTP application: ROR-compatible matching, OpenRefine reconciliation, health, a home page.

    app = create_app(matcher, RateLimiter(20, 40))      # then: uvicorn.run(app, host=..., port=...)

Every answer is JSON (the preview is HTML); every error is ``{"errors": [message]}`` with its
status (ROR's API uses that shape), never a traceback. The engine is the CLI's ``Matcher``;
one request matches at a time (the matcher's caches are not shared across threads), so
requests queue rather than compete for the two CPU cores a scorer already keeps busy. The
service reads the registry and the model only: it needs no database and writes nothing.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
import time
from typing import Any, TYPE_CHECKING
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from affiliation_curator.engine.results import MatchResult
from affiliation_curator.service import reconcile
from affiliation_curator.service.errors import ServiceError
from affiliation_curator.service.limits import MAX_BODY_BYTES, MAX_QUERY_CHARS, RateLimiter
from affiliation_curator.service.ror import affiliation_answer, registry_date, ror_record

if TYPE_CHECKING:
    from affiliation_curator.engine.matcher import Matcher

log = logging.getLogger("affiliation_curator.service")
_CALLBACK = re.compile(r"^[A-Za-z_$][\w$.]{0,63}$")
_PAGE_SIZE = 20
_SEARCH_LIMIT = 1_000  # ``number_of_results`` of a search counts up to this


class Engine:
    """The matcher behind the service, one call at a time, with the facts /health reports."""

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher
        self.registry = matcher.registry
        self.lock = threading.Lock()
        meta = getattr(self.registry, "meta", None)
        self.version = str(getattr(meta, "version", "") or "")
        self.date = registry_date(self.version)
        self.ror_ids = all(inst.is_ror for inst in self.registry)

    def match(self, texts: list[str]) -> list[MatchResult]:
        with self.lock:
            return list(self.matcher.match_many(texts))

    def record(self, inst_id: str) -> dict[str, Any] | None:
        inst = self.registry.get(inst_id)
        return ror_record(inst, self.date) if inst is not None else None

    def facts(self) -> dict[str, Any]:
        return {
            "registry": self.registry.name, "registry_version": self.version,
            "institutions": len(self.registry), "model": self.matcher.model_id,
            "combiner": self.matcher.combiner is not None, "threshold": round(float(self.matcher.threshold), 6),
            "scores": getattr(getattr(self.matcher, "scale", None), "label", ""),
        }


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errors": [message]}, status_code=status, headers=headers)


class RateLimit:
    """ASGI middleware: a token bucket per client address (``/health`` is not counted)."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app, self.limiter = app, limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.limiter.enabled and scope.get("path") != "/health":
            client = (scope.get("client") or ("unknown", 0))[0]
            wait = self.limiter.take(client)
            if wait > 0:
                response = error(
                    429, f"too many requests from {client}: at most {self.limiter.rate:g} a second "
                         f"(bursts of {self.limiter.burst}); retry in {wait:.1f} s",
                    headers={"Retry-After": str(max(1, round(wait + 0.5)))},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(matcher: Matcher, limiter: RateLimiter | None = None) -> FastAPI:
    """The service over one matcher (registry + scorer + threshold)."""
    engine = Engine(matcher)
    app = FastAPI(title="Affiliation Curator service", docs_url="/docs", redoc_url=None)
    app.state.engine = engine
    _add_error_handlers(app)
    _add_pages(app, engine)
    _add_ror(app, engine)
    _add_reconcile(app, engine)
    # OpenRefine's browser side calls suggest, flyout and preview itself: any origin may read
    # (the service is read-only and takes no credentials).
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST"], allow_headers=["*"])
    if limiter is not None:
        app.add_middleware(RateLimit, limiter=limiter)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, err: ServiceError) -> JSONResponse:
        return error(err.status, str(err))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        if err.status_code == 404:
            message = f"no such endpoint: {request.url.path} (see / for the endpoints)"
        elif err.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        else:
            message = str(err.detail)
        return error(err.status_code, message, headers=getattr(err, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, err: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in err.errors())
        return error(422, f"invalid request: {problems}")

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, err: Exception) -> JSONResponse:
        log.exception("request failed")
        return error(500, f"internal error ({type(err).__name__}); the server log has the details")


def _add_pages(app: FastAPI, engine: Engine) -> None:
    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", **engine.facts()}

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        e = html.escape
        facts = engine.facts()
        base = str(request.base_url).rstrip("/")
        rows = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in facts.items())
        body = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Affiliation Curator service</title></head>"
            "<body style='font-family:sans-serif;max-width:46em'>"
            f"<h1>Affiliation Curator service</h1><p>Registry <b>{e(facts['registry'])}</b> "
            f"({facts['institutions']:,} institutions) and model <b>{e(facts['model'])}</b> answer.</p>"
            f"<table>{rows}</table><h2>Endpoints</h2><ul>"
            f"<li>ROR API v2: <code>{e(base)}/v2/organizations?affiliation=...</code>, "
            f"<code>{e(base)}/v2/organizations/ROR_ID</code></li>"
            f"<li>OpenRefine reconciliation service URL: <code>{e(base)}/reconcile</code></li>"
            f"<li><code>{e(base)}/health</code>, <code>{e(base)}/docs</code></li></ul></body></html>"
        )
        return HTMLResponse(body)


def _text_param(request: Request, name: str, required: bool = False) -> str | None:
    value = request.query_params.get(name)
    if value is None or not value.strip():
        if required:
            raise ServiceError(422, f"give {name}=... (a non-empty string)")
        return None
    if len(value) > MAX_QUERY_CHARS:
        raise ServiceError(422, f"{name} is {len(value):,} characters; at most {MAX_QUERY_CHARS:,}")
    return value


def _add_ror(app: FastAPI, engine: Engine) -> None:
    def organizations(request: Request) -> dict[str, Any]:
        affiliation = _text_param(request, "affiliation")
        if affiliation is not None:
            result = engine.match([affiliation])[0]
            records = {c.id: engine.record(c.id) for c in result.candidates}
            return affiliation_answer(result, records)
        query = _text_param(request, "query")
        if query is None:
            raise ServiceError(422, "give affiliation=STRING (matching) or query=STRING (search by name, acronym or id)")
        page = request.query_params.get("page", "1")
        if not page.isdigit() or not 1 <= int(page) <= 50:
            raise ServiceError(422, "page must be a whole number from 1 to 50")
        return _search(engine, query, int(page))

    def organization(org_id: str) -> JSONResponse:
        record = engine.record(org_id) if len(org_id) <= 300 else None
        if record is None:
            return error(404, f"ROR ID {org_id[:300]!r} does not exist in registry {engine.registry.name!r}")
        return JSONResponse(record)

    for prefix in ("", "/v2"):
        app.add_api_route(f"{prefix}/organizations", organizations, methods=["GET"])
        app.add_api_route(f"{prefix}/organizations/{{org_id:path}}", organization, methods=["GET"])


def _search(engine: Engine, query: str, page: int) -> dict[str, Any]:
    """ROR's ``?query=`` answer: records found by name, acronym or id, 20 a page (1,000 at most in all)."""
    started = time.perf_counter()
    found = engine.registry.find(query, limit=_SEARCH_LIMIT)
    items = [ror_record(inst, engine.date) for inst in found[(page - 1) * _PAGE_SIZE : page * _PAGE_SIZE]]

    def counts(values: list[str]) -> list[dict[str, Any]]:
        tally: dict[str, int] = {}
        for v in values:
            tally[v] = tally.get(v, 0) + 1
        return [{"id": k.lower(), "title": k, "count": n} for k, n in sorted(tally.items(), key=lambda kv: -kv[1])]

    return {
        "number_of_results": len(found),
        "time_taken": round(1000 * (time.perf_counter() - started)),
        "items": items,
        "meta": {
            "types": counts([t for inst in found for t in inst.types]),
            "countries": counts([inst.country_code for inst in found if inst.country_code]),
            "statuses": counts([inst.status for inst in found]),
        },
    }


async def _params(request: Request) -> dict[str, str]:
    """Query-string and (for POST) form parameters; the body is capped at MAX_BODY_BYTES."""
    params = dict(request.query_params)
    if request.method != "POST":
        return params
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ServiceError(413, f"request body of {int(declared):,} bytes; at most {MAX_BODY_BYTES:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ServiceError(413, f"request body over {MAX_BODY_BYTES:,} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        async def replay() -> dict[str, Any]:  # the body was read above; the form parser reads it again
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            form = await Request(request.scope, replay).form(max_files=0)
        except Exception as err:  # noqa: BLE001 - a malformed body is the client's problem, said in one line
            raise ServiceError(422, f"the multipart form cannot be read ({getattr(err, 'detail', err)})") from None
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    elif body:
        try:
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise ServiceError(422, "the request body is not UTF-8 form data") from None
    return params


def _jsonp(data: Any, callback: str | None) -> Response:
    if callback is None:
        return JSONResponse(data)
    if not _CALLBACK.match(callback):
        raise ServiceError(422, "callback must be a JavaScript name (letters, digits, _ $ .)")
    body = f"/**/{callback}({json.dumps(data, ensure_ascii=False)});"
    return Response(body, media_type="application/javascript")


def _add_reconcile(app: FastAPI, engine: Engine) -> None:
    name = f"Affiliation Curator ({engine.registry.name}, {engine.matcher.model_id})"

    @app.api_route("/reconcile", methods=["GET", "POST"])
    async def service(request: Request) -> Response:
        params = await _params(request)
        callback = params.get("callback")
        if "queries" in params:
            queries = reconcile.parse_queries(params["queries"])
            results = await _run(engine, queries)
            return _jsonp(results, callback)
        if "query" in params:  # the 0.1 single-query form
            queries = reconcile.parse_queries(json.dumps({"q0": _single(params["query"])}))
            return _jsonp((await _run(engine, queries))["q0"], callback)
        return _jsonp(reconcile.manifest(str(request.base_url), name, engine.ror_ids), callback)

    @app.get("/reconcile/suggest/entity")
    def suggest_entity(request: Request) -> Response:
        prefix = request.query_params.get("prefix", "")
        cursor = request.query_params.get("cursor", "0")
        cursor_n = int(cursor) if cursor.isdigit() and int(cursor) <= 1000 else 0
        data = reconcile.suggest_entities(engine.registry, prefix, cursor_n)
        return _jsonp(data, request.query_params.get("callback"))

    @app.get("/reconcile/suggest/property")
    def suggest_property(request: Request) -> Response:
        data = reconcile.suggest_properties(request.query_params.get("prefix", "")[:100])
        return _jsonp(data, request.query_params.get("callback"))

    @app.get("/reconcile/flyout/entity")
    def flyout(request: Request) -> Response:
        inst = _institution(engine, request)
        return _jsonp({"id": reconcile.public_id(inst.id), "html": reconcile.preview_html(inst)},
                      request.query_params.get("callback"))

    @app.get("/view/{inst_id:path}")
    def view(inst_id: str) -> Response:
        inst = engine.registry.get(inst_id[:300])
        if inst is None:
            raise ServiceError(404, f"no institution {inst_id[:300]!r} in registry {engine.registry.name!r}")
        if inst.ror_url:
            return RedirectResponse(inst.ror_url)
        return HTMLResponse(reconcile.preview_html(inst))

    @app.get("/reconcile/preview", response_class=HTMLResponse)
    def preview(request: Request) -> HTMLResponse:
        return HTMLResponse(reconcile.preview_html(_institution(engine, request)))


def _single(raw: str) -> Any:
    try:
        value = json.loads(raw)
    except ValueError:
        return raw  # a plain string
    return value if isinstance(value, dict) else raw


def _institution(engine: Engine, request: Request) -> Any:
    inst_id = _text_param(request, "id", required=True)
    inst = engine.registry.get(inst_id)
    if inst is None:
        raise ServiceError(404, f"no institution {inst_id[:300]!r} in registry {engine.registry.name!r}")
    return inst


async def _run(engine: Engine, queries: list[reconcile.Query]) -> dict[str, Any]:
    """Match a batch in one engine call (in a worker thread), then shape each answer."""
    from starlette.concurrency import run_in_threadpool

    texts = [q.engine_text() for q in queries]
    matched = await run_in_threadpool(engine.match, texts) if texts else []
    return {q.key: reconcile.results(q, r) for q, r in zip(queries, matched)}
