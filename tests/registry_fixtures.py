"""Registry test fixtures written by the tests themselves: made-up ROR schema-2 records, files in
every supported format (JSON, gzip, dump zip, the official ROR CSV layout, own CSV)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from pathlib import Path
from typing import Any

# Made-up ids in ROR's shape (0 + 6 characters + 2 digits).
UNI = "https://ror.org/0test0001"
INSTITUTE = "https://ror.org/0test0002"
OLD = "https://ror.org/0test0003"
GONE = "https://ror.org/0test0004"
HOSPITAL = "https://ror.org/0test0005"


def ror_record(
    ror_id: str,
    display: str,
    *,
    names: list[tuple[str, list[str], str | None]] = (),
    city: str = "Springfield",
    country: tuple[str, str] = ("DE", "Germany"),
    types: list[str] = ("education",),
    status: str = "active",
    relationships: list[tuple[str, str, str]] = (),
    external_ids: list[tuple[str, list[str], str | None]] = (),
    links: list[tuple[str, str]] = (),
    established: int | None = 1900,
    modified: str = "2026-01-15",
) -> dict[str, Any]:
    """A ROR schema-2 record of the shape found in a data dump."""
    return {
        "admin": {
            "created": {"date": "2020-01-01", "schema_version": "2.0"},
            "last_modified": {"date": modified, "schema_version": "2.1"},
        },
        "domains": [],
        "established": established,
        "external_ids": [{"type": t, "all": list(a), "preferred": p} for t, a, p in external_ids],
        "id": ror_id,
        "links": [{"type": t, "value": v} for t, v in links],
        "locations": [
            {
                "geonames_id": 1,
                "geonames_details": {
                    "continent_code": "EU",
                    "continent_name": "Europe",
                    "country_code": country[0],
                    "country_name": country[1],
                    "country_subdivision_code": None,
                    "country_subdivision_name": None,
                    "lat": 1.0,
                    "lng": 2.0,
                    "name": city,
                },
            }
        ],
        "names": [{"value": display, "types": ["ror_display", "label"], "lang": "en"}]
        + [{"value": v, "types": list(t), "lang": lang} for v, t, lang in names],
        "relationships": [{"type": t, "id": i, "label": label} for t, i, label in relationships],
        "status": status,
        "types": list(types),
    }


def sample_records() -> list[dict[str, Any]]:
    """Five institutions: a university with a child, an inactive and a withdrawn one, a hospital."""
    return [
        ror_record(
            UNI,
            "Springfield University of Technology",
            names=[
                ("Technische Universität Springfield", ["label"], "de"),
                ("SUT", ["acronym"], None),
                ("Springfield Tech", ["alias"], "en"),
                ("University of Springfield, Technology", ["alias"], "en"),
            ],
            types=["education", "funder"],
            relationships=[("child", INSTITUTE, "Springfield Institute of Optics"), ("related", HOSPITAL, "Springfield Clinic")],
            external_ids=[("grid", ["grid.0000.1"], "grid.0000.1"), ("wikidata", ["Q1", "Q2"], None)],
            links=[("website", "https://sut.example"), ("wikipedia", "https://en.wikipedia.org/wiki/SUT")],
            established=1868,
            modified="2026-05-20",
        ),
        ror_record(
            INSTITUTE,
            "Springfield Institute of Optics",
            names=[("SIO", ["acronym"], None)],
            types=["facility"],
            relationships=[("parent", UNI, "Springfield University of Technology")],
        ),
        ror_record(
            OLD,
            "Old Springfield College",
            status="inactive",
            relationships=[("successor", UNI, "Springfield University of Technology")],
            country=("FR", "France"),
            city="Lyon",
        ),
        ror_record(GONE, "Withdrawn Springfield Record", status="withdrawn", types=["other"], established=None),
        ror_record(
            HOSPITAL,
            "Springfield Clinic",
            names=[("Klinikum Springfield", ["label"], "de")],
            types=["healthcare"],
            relationships=[("related", UNI, "Springfield University of Technology")],
            country=("US", "United States"),
            city="Springfield",
        ),
    ]


def write_json(path: Path, records: Any) -> Path:
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path


def write_json_gz(path: Path, records: Any) -> Path:
    path.write_bytes(gzip.compress(json.dumps(records).encode("utf-8")))
    return path


def write_zip(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


# The official CSV layout (as the ROR data dump's convert_to_csv_v2 writes it).
ROR_CSV_COLUMNS = [
    "id", "admin.created.date", "admin.created.schema_version", "admin.last_modified.date",
    "admin.last_modified.schema_version", "domains", "established", "external_ids.type.fundref.all",
    "external_ids.type.fundref.preferred", "external_ids.type.grid.all", "external_ids.type.grid.preferred",
    "external_ids.type.isni.all", "external_ids.type.isni.preferred", "external_ids.type.wikidata.all",
    "external_ids.type.wikidata.preferred", "links.type.website", "links.type.wikipedia", "locations.geonames_id",
    "locations.geonames_details.continent_code", "locations.geonames_details.continent_name",
    "locations.geonames_details.country_code", "locations.geonames_details.country_name",
    "locations.geonames_details.country_subdivision_code", "locations.geonames_details.country_subdivision_name",
    "locations.geonames_details.lat", "locations.geonames_details.lng", "locations.geonames_details.name",
    "names.types.acronym", "names.types.alias", "names.types.label", "names.types.ror_display", "ror_display_lang",
    "relationships", "status", "types",
]


def _names_cell(names: list[dict], name_type: str) -> str:
    by_lang: dict[str, list[str]] = {}
    for name in names:
        if name_type in name["types"]:
            by_lang.setdefault(name["lang"] or "no_lang_code", []).append(name["value"])
    return "; ".join(f"{lang}: {', '.join(values)}" for lang, values in by_lang.items())


def ror_csv_text(records: list[dict[str, Any]]) -> str:
    """Records in the official ROR CSV layout."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(ROR_CSV_COLUMNS)
    for rec in records:
        ext = {e["type"]: e for e in rec["external_ids"]}
        loc = rec["locations"][0]["geonames_details"]
        display = next(n for n in rec["names"] if "ror_display" in n["types"])
        rels: dict[str, list[str]] = {}
        for rel in rec["relationships"]:
            rels.setdefault(rel["type"], []).append(rel["id"])
        row = [
            rec["id"], rec["admin"]["created"]["date"], rec["admin"]["created"]["schema_version"],
            rec["admin"]["last_modified"]["date"], rec["admin"]["last_modified"]["schema_version"],
            ";".join(rec["domains"]), rec["established"] if rec["established"] is not None else "",
        ]
        for kind in ("fundref", "grid", "isni", "wikidata"):
            row += [";".join(ext[kind]["all"]) if kind in ext else "", (ext[kind]["preferred"] or "") if kind in ext else ""]
        row += [
            ";".join(link["value"] for link in rec["links"] if link["type"] == "website"),
            ";".join(link["value"] for link in rec["links"] if link["type"] == "wikipedia"),
            rec["locations"][0]["geonames_id"], loc.get("continent_code"), loc.get("continent_name"),
            loc.get("country_code"), loc.get("country_name"), loc.get("country_subdivision_code"),
            loc.get("country_subdivision_name"), loc.get("lat"), loc.get("lng"), loc.get("name"),
            _names_cell(rec["names"], "acronym"), _names_cell(rec["names"], "alias"),
            _names_cell(rec["names"], "label"), display["value"], display["lang"] or "no_lang_code",
            "; ".join(f"{t}: {', '.join(ids)}" for t, ids in rels.items()), rec["status"], "; ".join(rec["types"]),
        ]
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


OWN_CSV = (
    "id,name,aliases,acronyms,city,country,notes\n"
    "inst-1,Institute of Local Studies,Local Studies Institute|ILS Institute,ILS,Graz,AT,x\n"
    "inst-2,Coastal Research Centre,,CRC;CoReC,Kiel,Germany,\n"
    "02test099,Registered Lab,,,Boston,USA,\n"
)
