"""``Registry``: one imported registry in memory, with look-up by id and a simple finder."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from affiliation_curator.institution import Institution, Relationship, normalize_ror_id

DEMO_NAME = "demo"
DEMO_NOTICE = (
    "Using the built-in demo registry — get the full registry with one command "
    "(python -m affiliation_curator registry download), import a ROR dump you have "
    "(registry import PATH), or use the Registry page."
)

_TYPE_RANK = {"ror_display": 0, "label": 1, "alias": 2, "acronym": 3}


@dataclass
class RegistryMeta:
    """What the catalog knows of an imported registry (kept as ``meta.json`` in its folder)."""

    name: str
    source: str  # the file it was imported from (a path, or an uploaded file's name)
    version: str  # dump version "v2.9-2026-06-23", newest record date, or "" for own lists
    count: int
    imported_at: str  # ISO 8601, UTC
    folder: Path
    source_format: str = ""  # "ror-json", "ror-csv" or "csv"
    version_key: str = ""  # changes whenever the content changes (caches key on it)
    source_sha256: str = ""
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def is_demo(self) -> bool:
        return self.name == DEMO_NAME

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("folder")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: Path) -> "RegistryMeta":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "folder"}
        return cls(folder=folder, **known)


_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
_NON_WORD = re.compile(r"[\W_]+")


def text_key(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form of a name, for exact look-ups."""
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
    return " ".join(_NON_WORD.sub(" ", text.casefold()).split())


def compute_stats(institutions: list[Institution]) -> dict[str, Any]:
    """Counts by type, country and status (most frequent first)."""
    by_type: Counter[str] = Counter()
    by_country: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    for inst in institutions:
        by_type.update(inst.types or ["(none)"])
        by_country[inst.country_name or inst.country_code or "(unknown)"] += 1
        by_status[inst.status] += 1
    return {
        "count": len(institutions),
        "by_type": dict(by_type.most_common()),
        "by_country": dict(by_country.most_common()),
        "by_status": dict(by_status.most_common()),
    }


class Registry:
    """An imported registry: institutions in file order, look-up by id, ``find`` by name/acronym/id."""

    def __init__(self, meta: RegistryMeta, institutions: list[Institution]) -> None:
        self.meta = meta
        self.name = meta.name
        self.institutions = institutions
        self._by_id: dict[str, Institution] = {inst.id: inst for inst in institutions}
        self._lower_ids: dict[str, Institution] | None = None
        self._ext_index: dict[str, list[int]] | None = None  # the rest of the find index is built with it
        self._keys: list[str] = []
        self._positions: dict[str, int] = {}
        self._owners: list[list[tuple[int, int]]] = []
        self._postings: dict[str, list[int]] = {}
        self._vocab: list[str] = []
        self._fuzzy: list[int] = []
        self._fuzzy_keys: list[str] = []

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {len(self)} institutions, version={self.meta.version!r})"

    def __len__(self) -> int:
        return len(self.institutions)

    def __iter__(self) -> Iterator[Institution]:
        return iter(self.institutions)

    def __contains__(self, inst_id: object) -> bool:
        return isinstance(inst_id, str) and self.get(inst_id) is not None

    @property
    def folder(self) -> Path:
        """This registry's folder in the data directory; other modules may cache derived files here."""
        return self.meta.folder

    @property
    def version_key(self) -> str:
        return self.meta.version_key

    @property
    def is_demo(self) -> bool:
        return self.meta.is_demo

    def get(self, inst_id: str) -> Institution | None:
        """The institution with this id: any ROR id spelling (bare, ror.org/..., URL) or an own id."""
        if not isinstance(inst_id, str):
            return None
        found = self._by_id.get(inst_id) or self._by_id.get(inst_id.strip())
        if found is not None:
            return found
        ror_id = normalize_ror_id(inst_id)
        if ror_id is not None:
            found = self._by_id.get(ror_id)
            if found is not None:
                return found
        if self._lower_ids is None:
            self._lower_ids = {key.casefold(): inst for key, inst in self._by_id.items()}
        return self._lower_ids.get(inst_id.strip().casefold())

    def stats(self) -> dict[str, Any]:
        """``{"count", "by_type", "by_country", "by_status"}`` (from the import when stored)."""
        stored = self.meta.stats
        if stored and stored.get("count") == len(self):
            return stored
        return compute_stats(self.institutions)

    def related(self, inst: Institution, rel_type: str) -> list[tuple[Relationship, Institution | None]]:
        """Relationships of one type with the related record where this registry has it."""
        return [(rel, self.get(rel.id)) for rel in inst.relationships if rel.type == rel_type]

    # -- finding -------------------------------------------------------------------------

    def _build_index(self) -> None:
        from affiliation_curator.registry.storage import FREEZE_FROM, gc_paused

        with gc_paused(freeze=len(self.institutions) >= FREEZE_FROM):
            positions: dict[str, int] = {}
            owners: list[list[tuple[int, int]]] = []
            ext: dict[str, list[int]] = {}
            for idx, inst in enumerate(self.institutions):
                entries = [(n.value, min((_TYPE_RANK.get(t, 2) for t in n.types), default=2)) for n in inst.names]
                if not entries:
                    entries = [(inst.name, 0)]
                for value, rank in entries:
                    key = text_key(value)
                    if not key:
                        continue
                    pos = positions.get(key)
                    if pos is None:
                        pos = positions[key] = len(owners)
                        owners.append([])
                    owners[pos].append((idx, rank))
                for values in inst.external_ids.values():
                    for value in values:
                        ext.setdefault(value.strip().casefold(), []).append(idx)
            keys = list(positions)
            postings: dict[str, list[int]] = {}
            for pos, key in enumerate(keys):
                for token in set(key.split()):
                    postings.setdefault(token, []).append(pos)
            self._keys = keys
            self._positions = positions
            self._owners = owners
            self._postings = postings
            self._vocab = sorted(postings)
            # Fuzzy matching runs over full names only (acronyms give noise).
            self._fuzzy = [pos for pos, key in enumerate(keys) if len(key) > 3 and any(r < 3 for _, r in owners[pos])]
            self._fuzzy_keys = [keys[pos] for pos in self._fuzzy]
            self._ext_index = ext

    def _token_matches(self, tokens: list[str]) -> set[int]:
        """Positions of name keys holding every query token (tokens of 3+ characters as prefixes)."""
        import bisect

        result: set[int] | None = None
        for token in sorted(set(tokens), key=len, reverse=True):
            if len(token) >= 3:
                lo = bisect.bisect_left(self._vocab, token)
                hi = bisect.bisect_left(self._vocab, token + "\uffff")
                found: set[int] = set()
                for word in self._vocab[lo:hi]:
                    found.update(self._postings[word])
            else:
                found = set(self._postings.get(token, ()))
            result = found if result is None else result & found
            if not result:
                return set()
        return result or set()

    def _order(self, idx: int, rank: int) -> tuple:
        inst = self.institutions[idx]
        # Active first, then the better name type, then the more connected record (parents of many).
        return (inst.status != "active", rank, -len(inst.relationships), idx)

    def find(self, query: str, limit: int = 20) -> list[Institution]:
        """Institutions for a name, acronym, ROR id or external id (GRID, ISNI, Wikidata...), best first.

        Order: the record with that id; records with exactly that name or acronym; records
        whose names hold every word of the query (shorter names first); then fuzzy matches
        (typos). Case, accents and punctuation are ignored.
        """
        if not isinstance(query, str) or not query.strip() or limit <= 0:
            return []
        query = query.strip()[:500]
        results: list[Institution] = []
        seen: set[str] = set()

        def push(idx_or_inst: int | Institution | None) -> bool:
            inst = self.institutions[idx_or_inst] if isinstance(idx_or_inst, int) else idx_or_inst
            if inst is not None and inst.id not in seen:
                seen.add(inst.id)
                results.append(inst)
            return len(results) >= limit

        if push(self.get(query)):
            return results
        if self._ext_index is None:
            self._build_index()
        assert self._ext_index is not None
        for idx in self._ext_index.get(query.casefold(), []):
            if push(idx):
                return results
        key = text_key(query)
        if not key:
            return results
        pos = self._positions.get(key)
        if pos is not None:
            for idx, rank in sorted(self._owners[pos], key=lambda item: self._order(*item)):
                if push(idx):
                    return results
        tokens = key.split()
        matched = self._token_matches(tokens)
        if matched:
            ranked = sorted(
                ((len(self._keys[p]), self._order(idx, rank), idx) for p in matched for idx, rank in self._owners[p]),
            )
            for _length, _order, idx in ranked:
                if push(idx):
                    return results
        if len(key) < 4 or not self._fuzzy_keys:
            return results
        from rapidfuzz import fuzz, process

        matches = process.extract(
            key, self._fuzzy_keys, scorer=fuzz.token_sort_ratio, limit=limit * 2, score_cutoff=80, processor=None
        )
        scored = []
        for _choice, score, i in matches:
            for idx, rank in self._owners[self._fuzzy[i]]:
                scored.append((-score, self._order(idx, rank), idx))
        for _score, _order, idx in sorted(scored):
            if push(idx):
                break
        return results
