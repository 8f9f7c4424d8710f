"""ROR API v2 shapes: a schema-2 record from an ``Institution``, an affiliation-match answer.

The registry keeps the parsed ``Institution`` fields, not the raw dump records, so the record
served here is rebuilt from them. What the registry does not keep is given as ROR's API gives
an absent value (``null`` or ``[]``), never invented:

- ``locations[0].geonames_id`` and the ``geonames_details`` other than city and country
  (continent, subdivision, lat/lng) are ``null``;
- ``domains`` is ``[]``; ``admin`` dates are the registry version's date where it has one;
- ``links`` keep their order (website first); a link on wikipedia.org is typed ``wikipedia``,
  the others ``website``;
- ``external_ids[].preferred`` is the first value (the importer puts the preferred one first;
  where the dump had none it is the first of ``all``).
"""

from __future__ import annotations

import re
from typing import Any

from affiliation_curator.engine.results import Candidate, MatchResult
from affiliation_curator.institution import Institution
from affiliation_curator.text import fold

SCHEMA_VERSION = "2.1"
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")
_SPLIT = re.compile(r"[,;|]")


def registry_date(version: str | None) -> str | None:
    """``YYYY-MM-DD`` out of a registry version such as ``v2.9-2026-06-23``, else None."""
    found = _DATE.search(version or "")
    return found.group(1) if found else None


def ror_record(inst: Institution, date: str | None = None) -> dict[str, Any]:
    """The ROR schema-2 record of one institution (see the module docstring for what is null)."""
    names = [{"value": n.value, "types": list(n.types), "lang": n.lang} for n in inst.names]
    if not names:
        names = [{"value": inst.name, "types": ["ror_display", "label"], "lang": None}]
    locations = []
    if inst.city or inst.country_code or inst.country_name:
        locations.append({
            "geonames_id": None,
            "geonames_details": {
                "continent_code": None, "continent_name": None,
                "country_code": inst.country_code, "country_name": inst.country_name,
                "country_subdivision_code": None, "country_subdivision_name": None,
                "lat": None, "lng": None, "name": inst.city,
            },
        })
    stamp = {"date": date, "schema_version": SCHEMA_VERSION}
    return {
        "id": inst.id,
        "names": names,
        "types": list(inst.types),
        "status": inst.status,
        "established": inst.established,
        "locations": locations,
        "links": [{"type": "wikipedia" if "wikipedia.org" in link else "website", "value": link}
                  for link in inst.links],
        "external_ids": [{"type": kind, "all": list(values), "preferred": values[0] if values else None}
                         for kind, values in inst.external_ids.items()],
        "relationships": [{"type": r.type, "id": r.id, "label": r.label} for r in inst.relationships],
        "domains": [],
        "admin": {"created": dict(stamp), "last_modified": dict(stamp)},
    }


def matching_type(affiliation: str, cand: Candidate) -> tuple[str, str]:
    """ROR's ``(matching_type, substring)`` for a candidate, from the name the retriever matched.

    ACRONYM when an acronym matched; EXACT when the whole string (or one comma-separated part)
    is that name; PHRASE when a part holds it; FUZZY otherwise. ``substring`` is the part of the
    string that names it (the whole string when no part does).
    """
    name = fold(cand.evidence.matched_name or cand.name)
    parts = [p.strip() for p in _SPLIT.split(affiliation) if p.strip()] or [affiliation]
    holding = next((p for p in parts if name and name in fold(p)), None)
    if cand.evidence.name_type == "acronym":
        return "ACRONYM", holding or affiliation
    if fold(affiliation) == name:
        return "EXACT", affiliation
    if holding is not None:
        return ("EXACT" if fold(holding) == name else "PHRASE"), holding
    return "FUZZY", affiliation


def affiliation_answer(result: MatchResult, records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """ROR's ``/v2/organizations?affiliation=`` answer: ``chosen`` is our auto-accept decision."""
    items = []
    for n, cand in enumerate(result.candidates):
        kind, substring = matching_type(result.affiliation, cand)
        items.append({
            "substring": substring,
            "score": round(cand.score, 4),
            "matching_type": kind,
            "chosen": n == 0 and result.match == cand.id,
            "organization": records[cand.id],
        })
    return {"number_of_results": len(items), "items": items}
