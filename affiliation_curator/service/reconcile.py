"""The W3C Reconciliation Service API (version 0.2, as OpenRefine speaks it) over the engine.

Ids are the bare ROR id (``02kkvpp62``) for ROR records, so ``view`` is ``https://ror.org/{{id}}``
as in ROR's own reconciler; where the registry also holds ids of an own list (kept as they
are), ``view`` is this server's ``/view/{{id}}``, which sends ROR ids on to ror.org and shows
the others' preview card. Two properties are understood: ``country`` (a name
or ISO code) and ``city``; both are added to the string the engine matches (its location
evidence then counts them), and candidates in another country are dropped. ``match`` is true
for the one candidate the engine would accept automatically (its calibrated threshold).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any, TYPE_CHECKING

from affiliation_curator.engine.results import Candidate, MatchResult
from affiliation_curator.institution import Institution
from affiliation_curator.registry import resolve_country
from affiliation_curator.service.errors import ServiceError
from affiliation_curator.service.limits import MAX_BATCH, MAX_LIMIT, MAX_QUERY_CHARS
from affiliation_curator.text import fold

if TYPE_CHECKING:
    from affiliation_curator.registry import Registry

DEFAULT_TYPE = {"id": "Organization", "name": "Organization"}
PROPERTIES = (
    {"id": "country", "name": "Country", "description": "country name or ISO 3166 code; other countries are dropped"},
    {"id": "city", "name": "City", "description": "city; counts as location evidence"},
)
DEFAULT_LIMIT = 5


@dataclass(slots=True)
class Query:
    """One query of a batch, checked."""

    key: str
    text: str
    limit: int = DEFAULT_LIMIT
    type: str | None = None
    country: str | None = None
    city: str | None = None

    def engine_text(self) -> str:
        """The string the engine matches: the query, then city and country (by name: a bare ISO code
        finds no name) where it lacks them."""
        text = self.text
        country = resolve_country(self.country)[1] if self.country else None
        for extra in (self.city, country):
            if extra and fold(extra) not in fold(text):
                text = f"{text}, {extra}"
        return text


def public_id(inst_id: str) -> str:
    """The reconciliation id: the bare ROR id, or an own id as it is."""
    return inst_id.removeprefix("https://ror.org/")


def manifest(base: str, name: str, ror_ids: bool) -> dict[str, Any]:
    """The service manifest; ``base`` is this server's URL ending in ``/``."""
    root = base.rstrip("/")
    return {
        "versions": ["0.2"],
        "name": name,
        "identifierSpace": "https://ror.org/",
        "schemaSpace": "https://ror.org/",
        "defaultTypes": [DEFAULT_TYPE],
        "view": {"url": "https://ror.org/{{id}}" if ror_ids else f"{root}/view/{{{{id}}}}"},
        "preview": {"url": f"{root}/reconcile/preview?id={{{{id}}}}", "width": 420, "height": 160},
        "suggest": {
            "entity": {"service_url": root, "service_path": "/reconcile/suggest/entity",
                       "flyout_service_path": "/reconcile/flyout/entity?id=${id}"},
            "property": {"service_url": root, "service_path": "/reconcile/suggest/property"},
        },
    }


def _text(value: Any) -> str | None:
    """A property value as text: a string, the first of a list, or an entity's name or id."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("name") or value.get("id")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    return value.strip() or None if isinstance(value, str) else None


def parse_queries(raw: str) -> list[Query]:
    """The ``queries`` parameter, checked: ServiceError (422) names the first problem."""
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise ServiceError(422, f"queries is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ServiceError(422, 'queries must be a JSON object such as {"q0": {"query": "..."}}')
    if len(data) > MAX_BATCH:
        raise ServiceError(422, f"{len(data):,} queries in one request; at most {MAX_BATCH} (send smaller batches)")
    return [_parse_query(str(key), value) for key, value in data.items()]


def _parse_query(key: str, value: Any) -> Query:
    if isinstance(value, str):  # a bare string is accepted as the query
        value = {"query": value}
    if not isinstance(value, dict):
        raise ServiceError(422, f"{key}: a query must be an object with a 'query' string")
    text = value.get("query")
    if not isinstance(text, str):
        raise ServiceError(422, f"{key}: 'query' must be a string")
    if len(text) > MAX_QUERY_CHARS:
        raise ServiceError(422, f"{key}: query is {len(text):,} characters; at most {MAX_QUERY_CHARS:,}")
    limit = value.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, str) and limit.strip().isdigit():
        limit = int(limit)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ServiceError(422, f"{key}: 'limit' must be a positive whole number")
    qtype = value.get("type")
    qtype = qtype if isinstance(qtype, str) and qtype.strip() else None
    query = Query(key, text, min(limit, MAX_LIMIT), qtype)
    props = value.get("properties") or []
    if not isinstance(props, list):
        raise ServiceError(422, f"{key}: 'properties' must be a list of {{pid, v}} objects")
    for prop in props:
        if not isinstance(prop, dict):
            raise ServiceError(422, f"{key}: each property must be an object {{pid, v}}")
        pid = str(prop.get("pid") or prop.get("p") or "").strip().casefold()
        if pid not in ("country", "city"):
            known = ", ".join(p["id"] for p in PROPERTIES)
            raise ServiceError(422, f"{key}: unknown property {pid or '(none)'!r}; known: {known}")
        setattr(query, pid, _text(prop.get("v")))
    return query


def _same_country(cand: Candidate, code: str | None, name: str | None) -> bool:
    if code and cand.country_code:
        return cand.country_code == code
    if name and cand.country_name:
        return fold(cand.country_name) == fold(name)
    return True  # nothing to compare: kept


def results(query: Query, result: MatchResult) -> dict[str, Any]:
    """``{"result": [...]}`` for one query: candidates filtered by country and type, best first."""
    cands = result.candidates
    if query.country:
        code, name = resolve_country(query.country)
        cands = [c for c in cands if _same_country(c, code, name)]
    if query.type and query.type != DEFAULT_TYPE["id"]:
        wanted = query.type.casefold()
        cands = [c for c in cands if wanted in (t.casefold() for t in c.types)]
    return {"result": [_candidate(c, result.match == c.id) for c in cands[: query.limit]]}


def _candidate(c: Candidate, match: bool) -> dict[str, Any]:
    types = [{"id": t, "name": t.capitalize()} for t in c.types] or [DEFAULT_TYPE]
    where = ", ".join(p for p in (c.city, c.country_name) if p)
    return {
        "id": public_id(c.id), "name": c.name, "score": round(c.score, 4), "match": match, "type": types,
        "description": where,
        "features": [{"id": "retrieval_score", "value": round(c.retrieval_score, 4)}],
    }


def suggest_entities(registry: Registry, prefix: str, cursor: int = 0, size: int = 10) -> dict[str, Any]:
    """Entity suggestions for OpenRefine's 'search for match' box (name, acronym or id)."""
    found = registry.find(prefix[:MAX_QUERY_CHARS], limit=cursor + size) if prefix.strip() else []
    return {"result": [{"id": public_id(inst.id), "name": inst.name, "description": _describe(inst)}
                       for inst in found[cursor : cursor + size]]}


def suggest_properties(prefix: str) -> dict[str, Any]:
    key = prefix.strip().casefold()
    return {"result": [dict(p) for p in PROPERTIES if not key or p["id"].startswith(key) or key in p["name"].casefold()]}


def _describe(inst: Institution) -> str:
    return " · ".join(p for p in (inst.location(), ", ".join(inst.types), inst.status if inst.status != "active" else "") if p)


def preview_html(inst: Institution) -> str:
    """A small HTML card for OpenRefine's preview; every registry string is escaped."""
    e = html.escape
    link = f'<a href="{e(inst.ror_url)}" target="_blank">{e(inst.ror_url)}</a>' if inst.ror_url else e(inst.id)
    acronyms = ", ".join(inst.acronyms)
    lines = [
        f"<strong>{e(inst.name)}</strong>" + (f" ({e(acronyms)})" if acronyms else ""),
        e(inst.location()),
        e(", ".join(inst.types)) + (f" · {e(inst.status)}" if inst.status != "active" else ""),
        link,
    ]
    body = "<br>".join(line for line in lines if line)
    return ('<html><head><meta charset="utf-8"></head>'
            f'<body style="margin:0;font-family:sans-serif;font-size:13px">{body}</body></html>')
