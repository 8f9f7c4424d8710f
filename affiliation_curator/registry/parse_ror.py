"""ROR schema-2 records (JSON objects or rows of the official dump CSV) -> :class:`Institution`.

Each converter returns ``(institution, None)`` or ``(None, problem)`` where ``problem`` is a
short reason the record was skipped ("missing id", ...); the caller counts them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from affiliation_curator.errors import RegistryImportError
from affiliation_curator.institution import (
    RELATIONSHIP_TYPES,
    Institution,
    Name,
    Relationship,
    normalize_ror_id,
)
from affiliation_curator.registry.countries import country_name

NAME_TYPE_ORDER = ("ror_display", "label", "alias", "acronym")

# Small tuples shared by every record (a full dump has ~350k names: interning saves memory).
_TYPE_TUPLES: dict[tuple[str, ...], tuple[str, ...]] = {}
_STRINGS: dict[str, str] = {}


def intern_types(types: tuple[str, ...]) -> tuple[str, ...]:
    return _TYPE_TUPLES.setdefault(types, types)


def intern_str(value: str | None) -> str | None:
    return None if value is None else _STRINGS.setdefault(value, value)


# --------------------------------------------------------------------------------------------
# Streaming a JSON array


def iter_json_array(texts: Iterator[str], label: str) -> Iterator[Any]:
    """Yield the items of one top-level JSON array read from text chunks, one at a time.

    The decoder is the C scanner of :mod:`json` (``raw_decode``) run on a sliding buffer, so a
    1 GB dump is parsed with about one chunk plus one record in memory.
    """
    decoder = json.JSONDecoder()
    buf = ""
    pos = 0
    base = 0  # characters dropped from the front of buf so far
    eof = False
    ws = re.compile(r"[ \t\n\r]*")

    def more() -> bool:
        nonlocal buf, pos, base, eof
        if eof:
            return False
        try:
            chunk = next(texts)
        except StopIteration:
            eof = True
            return False
        if pos > 0:
            base += pos
            buf = buf[pos:]
            pos = 0
        buf += chunk
        return True

    def skip_ws() -> bool:
        """Move past whitespace; False at the end of the input."""
        nonlocal pos
        while True:
            pos = ws.match(buf, pos).end()
            if pos < len(buf):
                return True
            if not more():
                return False

    def where() -> str:
        return f"character {base + pos}"

    if not skip_ws():
        raise RegistryImportError(f"{label}: the file holds no JSON (only whitespace); no records to import")
    first = buf[pos]
    if first == "{":
        raise RegistryImportError(
            f"{label}: wrong JSON shape: the file holds one JSON object; expected an array "
            "[...] of ROR schema-2 records (the .json file of a ROR data dump)"
        )
    if first != "[":
        raise RegistryImportError(
            f"{label}: not a JSON array of ROR records (expected '[' at {where()}, found {buf[pos:pos + 20]!r})"
        )
    pos += 1
    expect_value = True
    count = 0
    while True:
        if not skip_ws():
            raise RegistryImportError(f"{label}: the JSON ends early (truncated after {count} records)")
        ch = buf[pos]
        if ch == "]" and (count == 0 or not expect_value):
            pos += 1
            break
        if not expect_value:
            if ch != ",":
                raise RegistryImportError(f"{label}: not valid JSON (expected ',' or ']' at {where()}, found {ch!r})")
            pos += 1
            expect_value = True
            continue
        while True:
            try:
                value, end = decoder.raw_decode(buf, pos)
                break
            except json.JSONDecodeError as err:
                # An object cut by the chunk boundary fails near the end of the buffer: read on.
                if err.pos >= len(buf) - 65536 and more():
                    continue
                if eof and err.pos >= len(buf) - 1:
                    raise RegistryImportError(f"{label}: the JSON ends early (truncated after {count} records)") from None
                raise RegistryImportError(
                    f"{label}: not valid JSON at character {base + err.pos} (record {count + 1}): {err.msg}"
                ) from None
        pos = end
        count += 1
        expect_value = False
        yield value
    if skip_ws():
        raise RegistryImportError(f"{label}: not valid JSON (extra data after the array at {where()})")


# --------------------------------------------------------------------------------------------
# JSON records


def _str(value: Any) -> str | None:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None


def _display_name(names: list[Name]) -> str | None:
    for wanted in NAME_TYPE_ORDER[:3]:
        for name in names:
            if wanted in name.types:
                return name.value
    return names[0].value if names else None


def _fill_country(code: str | None, name: str | None) -> tuple[str | None, str | None]:
    code = code.strip().upper() if isinstance(code, str) and code.strip() else None
    if name is None and code:
        name = country_name(code)
    return intern_str(code), intern_str(name)


def record_to_institution(rec: Any) -> tuple[Institution | None, str | None]:
    """Convert one ROR schema-2 JSON record; tolerant of missing or odd optional fields."""
    if not isinstance(rec, dict):
        return None, "not a JSON object"
    raw_id = rec.get("id")
    if not isinstance(raw_id, str) or not raw_id.strip():
        return None, "missing id"
    # ROR ids in any spelling become https://ror.org/...; other ids (own records) are kept as given.
    ror_id = normalize_ror_id(raw_id) or raw_id.strip()
    raw_names = rec.get("names")
    if raw_names is None and isinstance(rec.get("name"), str):
        return None, "ROR schema 1 record"
    names: list[Name] = []
    if isinstance(raw_names, list):
        for item in raw_names:
            if not isinstance(item, dict):
                continue
            value = _str(item.get("value"))
            if value is None:
                continue
            types = item.get("types")
            if isinstance(types, str):
                types = [types]
            if not isinstance(types, list):
                types = []
            clean = tuple(t for t in NAME_TYPE_ORDER if t in types) or ("label",)
            names.append(Name(value, intern_types(clean), intern_str(_str(item.get("lang")))))
    display = _display_name(names)
    if display is None:
        return None, "missing name"

    city = code = cname = None
    locations = rec.get("locations")
    if isinstance(locations, list) and locations and isinstance(locations[0], dict):
        details = locations[0].get("geonames_details")
        if isinstance(details, dict):
            city = _str(details.get("name"))
            code, cname = _fill_country(_str(details.get("country_code")), _str(details.get("country_name")))

    types = rec.get("types")
    types = [intern_str(t.strip().lower()) for t in types if isinstance(t, str) and t.strip()] if isinstance(types, list) else []

    status = _str(rec.get("status"))
    status = intern_str(status.lower()) if status else "active"

    relationships: list[Relationship] = []
    rels = rec.get("relationships")
    if isinstance(rels, list):
        for rel in rels:
            if not isinstance(rel, dict):
                continue
            rtype = _str(rel.get("type"))
            rid = _str(rel.get("id"))
            if not rtype or not rid:
                continue
            rtype = rtype.lower()
            if rtype not in RELATIONSHIP_TYPES:
                continue
            relationships.append(
                Relationship(intern_str(rtype), normalize_ror_id(rid) or rid, _str(rel.get("label")) or "")
            )

    external_ids: dict[str, list[str]] = {}
    ext = rec.get("external_ids")
    if isinstance(ext, list):
        for item in ext:
            if not isinstance(item, dict):
                continue
            etype = _str(item.get("type"))
            if not etype:
                continue
            values = [v.strip() for v in item.get("all") or [] if isinstance(v, str) and v.strip()]
            preferred = _str(item.get("preferred"))
            if preferred:
                values = [preferred] + [v for v in values if v != preferred]
            if values:
                external_ids.setdefault(intern_str(etype.lower()), []).extend(values)

    links: list[str] = []
    raw_links = rec.get("links")
    if isinstance(raw_links, list):
        ordered = sorted(
            (item for item in raw_links if isinstance(item, dict)),
            key=lambda item: 0 if item.get("type") == "website" else 1,
        )
        links = [v for v in (_str(item.get("value")) for item in ordered) if v]

    established = rec.get("established")
    if not isinstance(established, int) or isinstance(established, bool):
        established = None

    return (
        Institution(
            id=ror_id,
            name=display,
            names=names,
            city=city,
            country_code=code,
            country_name=cname,
            types=types,
            status=status,
            relationships=relationships,
            external_ids=external_ids,
            links=links,
            established=established,
        ),
        None,
    )


def record_modified(rec: Any) -> str | None:
    """``admin.last_modified.date`` of a JSON record (``YYYY-MM-DD``), if any."""
    try:
        value = rec["admin"]["last_modified"]["date"]
    except (KeyError, TypeError):
        return None
    return value if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else None


# --------------------------------------------------------------------------------------------
# Rows of the official ROR CSV (schema 2)

ROR_CSV_MARKERS = ("names.types.ror_display", "names.types.label")

_LANG_PREFIX = re.compile(r"^\s*(no_lang_code|[a-z]{2,3}(?:[-_][A-Za-z]{2,4})?)\s*:\s+(.*)$", re.S)


def _split_multi(value: str | None) -> list[str]:
    if not value:
        return []
    return [v.strip() for v in value.split(";") if v.strip()]


_COMPANY_SUFFIXES = {
    "inc", "ltd", "llc", "llp", "lp", "sl", "sa", "sas", "sarl", "gmbh", "ag", "co", "corp", "plc", "bv", "nv",
    "srl", "spa", "kg", "ab", "as", "asa", "oy", "pty", "ptyltd", "coltd", "kk", "sro", "spzoo", "limited",
}
_CONJUNCTIONS = {"and", "y", "e", "et", "und", "i", "&", "och", "og", "en", "ve", "és", "a", "и"}


def _continues(piece: str) -> bool:
    """Whether a ", "-separated piece reads as the rest of the name before it, not a name of its own."""
    if piece[:1].islower():  # "Institut des Sciences, des Technologies ..."
        return True
    if re.sub(r"[\W_]+", "", piece).lower() in _COMPANY_SUFFIXES:  # "Mizushima Ferroalloy Co., Ltd."
        return True
    words = piece.split()
    if len(words) == 1:  # "University of California, Berkeley"; but "Staffs Police, StaffsPol" are two
        return piece.replace("-", "").isalpha() and piece.istitle()
    # The tail of a list: "Institute of Education, Science and Technology"
    return len(words) <= 5 and any(w.lower() in _CONJUNCTIONS for w in words[1:-1])


def _split_names(cell: str | None, kind: str, known: tuple[str, ...] = ()) -> list[tuple[str, str | None]]:
    """Names of one CSV name column: ``en: A, B; fr: C`` -> [(A, en), (B, en), (C, fr)].

    The official CSV joins the names of one language with ", ", which also occurs inside
    names ("University of California, Berkeley"). Acronyms are split on every comma; for
    labels and aliases, names already known (the display name) are kept whole, and a piece
    that reads as a continuation (lower-case start, one title-case word, the tail of a list
    "X, Y and Z") is joined to the name before it. The JSON of a dump has no such ambiguity.
    """
    out: list[tuple[str, str | None]] = []
    for segment in _split_multi(cell):
        lang: str | None = None
        match = _LANG_PREFIX.match(segment)
        if match:
            lang = None if match.group(1) == "no_lang_code" else match.group(1).lower()
            segment = match.group(2)
        pieces = [p.strip() for p in segment.split(", ") if p.strip()]
        if kind == "acronym":
            out.extend((p, lang) for p in pieces)
            continue
        merged: list[str] = []
        protected: set[int] = set()
        i = 0
        while i < len(pieces):
            unit = None
            for name in known:
                n_parts = name.count(", ") + 1
                if n_parts > 1 and ", ".join(pieces[i : i + n_parts]) == name:
                    unit = (name, n_parts)
                    break
            if unit:
                protected.add(len(merged))
                merged.append(unit[0])
                i += unit[1]
                continue
            piece = pieces[i]
            if merged and (len(merged) - 1) not in protected and _continues(piece):
                merged[-1] = f"{merged[-1]}, {piece}"
            else:
                merged.append(piece)
            i += 1
        out.extend((p, lang) for p in merged)
    return out


def _parse_relationships(cell: str | None) -> list[Relationship]:
    """``child: https://ror.org/a, https://ror.org/b; parent: https://ror.org/c``."""
    rels: list[Relationship] = []
    current: str | None = None
    for segment in re.split(r"[;\n]", cell or ""):
        segment = segment.strip()
        if not segment:
            continue
        match = re.match(r"^([A-Za-z]+)\s*:\s*(.*)$", segment)
        if match and match.group(1).lower() in RELATIONSHIP_TYPES:
            current = match.group(1).lower()
            segment = match.group(2)
        if current is None:
            continue
        for token in re.split(r"[,\s]+", segment):
            rid = normalize_ror_id(token) if token else None
            if rid:
                rels.append(Relationship(intern_str(current), rid, ""))
    return rels


def csv_row_to_institution(row: dict[str, str]) -> tuple[Institution | None, str | None]:
    """Convert one row of the official ROR CSV (columns as in the dump: ``names.types.label``...)."""
    raw_id = (row.get("id") or "").strip()
    if not raw_id:
        return None, "missing id"
    ror_id = normalize_ror_id(raw_id)
    if ror_id is None:
        return None, "id is not a ROR id"

    by_key: dict[tuple[str, str | None], set[str]] = {}
    order: list[tuple[str, str | None]] = []

    def add(value: str, lang: str | None, name_type: str) -> None:
        key = (value, lang)
        if key not in by_key:
            by_key[key] = set()
            order.append(key)
        by_key[key].add(name_type)

    display = (row.get("names.types.ror_display") or "").strip()
    display_lang = (row.get("ror_display_lang") or "").strip() or None
    if display_lang == "no_lang_code":
        display_lang = None
    known = (display,) if display else ()
    labels = _split_names(row.get("names.types.label"), "label", known)
    if display:
        # The label entry of the display name carries the language the CSV may not give for it.
        display_lang = display_lang or next((lang for value, lang in labels if value == display), None)
        add(display, display_lang, "ror_display")
    for value, lang in labels:
        add(value, lang, "label")
    for value, lang in _split_names(row.get("names.types.alias"), "alias", known):
        add(value, lang, "alias")
    for value, lang in _split_names(row.get("names.types.acronym"), "acronym"):
        add(value, lang, "acronym")
    names = [
        Name(value, intern_types(tuple(t for t in NAME_TYPE_ORDER if t in by_key[(value, lang)])), intern_str(lang))
        for value, lang in order
    ]
    name = _display_name(names)
    if name is None:
        return None, "missing name"

    code, cname = _fill_country(
        (row.get("locations.geonames_details.country_code") or "").strip() or None,
        (row.get("locations.geonames_details.country_name") or "").strip() or None,
    )
    types = [intern_str(t.strip().lower()) for t in re.split(r"[;,]", row.get("types") or "") if t.strip()]
    status = (row.get("status") or "").strip().lower() or "active"

    external_ids: dict[str, list[str]] = {}
    for key, value in row.items():
        match = re.fullmatch(r"external_ids\.type\.([a-z_]+)\.all", key or "")
        if match and value:
            values = _split_multi(value)
            preferred = (row.get(f"external_ids.type.{match.group(1)}.preferred") or "").strip()
            if preferred:
                values = [preferred] + [v for v in values if v != preferred]
            if values:
                external_ids[intern_str(match.group(1))] = values
    links = _split_multi(row.get("links.type.website")) + _split_multi(row.get("links.type.wikipedia"))
    established_text = (row.get("established") or "").strip()
    established = int(established_text) if re.fullmatch(r"-?\d{1,4}", established_text) else None

    return (
        Institution(
            id=ror_id,
            name=name,
            names=names,
            city=(row.get("locations.geonames_details.name") or "").strip() or None,
            country_code=code,
            country_name=cname,
            types=types,
            status=intern_str(status),
            relationships=_parse_relationships(row.get("relationships")),
            external_ids=external_ids,
            links=links,
            established=established,
        ),
        None,
    )


def csv_row_modified(row: dict[str, str]) -> str | None:
    value = (row.get("admin.last_modified.date") or "").strip()
    return value if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else None
