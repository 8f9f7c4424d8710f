"""On-disk form of an imported registry: ``institutions.json`` (orjson) + ``meta.json``.

``institutions.json`` holds ``{"format": 1, "records": [...]}`` where each record is a
positional list (id, name, names, city, country_code, country_name, types, status,
relationships, external_ids, links, established): about 0.5 KB a record, and ~0.3 s to
load 51k records. The cyclic garbage collector is paused while millions of small objects are
created (it would otherwise rescan them over and over: 5-10x slower).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from affiliation_curator.errors import RegistryNotFoundError
from affiliation_curator.institution import Institution, Name, Relationship
from affiliation_curator.registry.parse_ror import intern_str, intern_types

FORMAT = 1
INSTITUTIONS_FILE = "institutions.json"
META_FILE = "meta.json"


FREEZE_FROM = 20_000  # records; below this the GC's later rescans cost nothing worth avoiding


@contextlib.contextmanager
def gc_paused(freeze: bool = False) -> Iterator[None]:
    """Pause the cyclic GC (reference counting still frees memory) while building many objects.

    ``freeze``: move every object alive at the end into the GC's permanent generation
    (``gc.freeze``), so the long-lived registry is not rescanned by later collections (~1 s
    for a full dump). Registry objects hold no reference cycles: dropping a registry still
    frees it through reference counting.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        if freeze:
            gc.freeze()
    finally:
        if was_enabled:
            gc.enable()


def _record(inst: Institution) -> list[Any]:
    return [
        inst.id,
        inst.name,
        [[n.value, n.types, n.lang] for n in inst.names],
        inst.city,
        inst.country_code,
        inst.country_name,
        inst.types,
        inst.status,
        [[r.type, r.id, r.label] for r in inst.relationships],
        inst.external_ids,
        inst.links,
        inst.established,
    ]


def _institution(rec: list[Any]) -> Institution:
    return Institution(
        rec[0],
        rec[1],
        [Name(v, intern_types(tuple(t)), intern_str(lang)) for v, t, lang in rec[2]],
        rec[3],
        intern_str(rec[4]),
        intern_str(rec[5]),
        [intern_str(t) for t in rec[6]],
        intern_str(rec[7]),
        [Relationship(intern_str(t), i, label) for t, i, label in rec[8]],
        rec[9],
        rec[10],
        rec[11],
    )


def dump_institutions(institutions: list[Institution]) -> bytes:
    """Serialise institutions (the bytes written to ``institutions.json``)."""
    with gc_paused():
        return orjson.dumps({"format": FORMAT, "records": [_record(inst) for inst in institutions]})


def load_institutions(path: Path) -> list[Institution]:
    """Read ``institutions.json``; a missing or damaged file raises RegistryNotFoundError."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise RegistryNotFoundError(f"registry file {path} cannot be read ({err.strerror or err}); import it again") from None
    try:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            payload = orjson.loads(data)
            del data
            if not isinstance(payload, dict) or payload.get("format") != FORMAT:
                raise ValueError("unknown format")
            records = payload.pop("records")
            del payload
            institutions = [_institution(rec) for rec in records]
            del records  # the raw lists go now, before a freeze could keep them
            if len(institutions) >= FREEZE_FROM:
                gc.freeze()
        finally:
            if was_enabled:
                gc.enable()
        return institutions
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise RegistryNotFoundError(f"registry file {path} is damaged ({err}); import the registry again") from None


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file + rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    tmp.replace(path)


def read_json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())
