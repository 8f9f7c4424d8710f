"""Strings that name several institutions ("Dept X, University Medical Center Utrecht, Utrecht
University"): which parts of a string each name an institution on their own.

    found = detect_many(texts, retriever, by_id, whole=[...])   # one retrieval pass over the parts
    found[0]  -> [PartMatch("University Medical Center Utrecht", UMCU id, ...), PartMatch(..., UU id)]

A string names several institutions when two of its parts (split at ``;``, ``|``, `` and ``
between institutions, then at commas) each match an institution strongly: the part's best
retrieval hit scores at least ``STRONG_SCORE`` and its normalised words and the matched name's
agree (Jaccard at least ``WORD_AGREEMENT``; acronym hits do not count), or when such a part's
institution has its parent among the part's first hits at ``PARENT_SCORE`` or more (a lab and
its parent: "Max-Planck-Institut für Kernphysik" and the Max Planck Society). Tuned on the train
side of the gold sets (bench/bench_several.py); parts of fewer than two words (cities,
countries, acronyms) are not searched, which keeps the extra retrieval cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from affiliation_curator.text import STOPWORDS, institution_groups, normalize, parts

STRONG_SCORE = 0.8
WORD_AGREEMENT = 0.75
PARENT_SCORE = 0.95
MAX_PARTS = 8  # parts searched per string
_STOP = STOPWORDS | {"fur"}  # "für" folds to "fur"


@dataclass(slots=True, frozen=True)
class PartMatch:
    """An institution one part of the string names on its own (``parent_of``: it was found as the
    parent of the institution that part names)."""

    part: str
    institution_id: str
    parent_of: str = ""


def _words(text: str) -> set[str]:
    return {t for t in normalize(text).split() if t not in _STOP and not t.isdigit()}


def string_parts(text: str) -> list[str]:
    """The parts of a string that may each name an institution (two words or more), in order."""
    out: list[str] = []
    for group in institution_groups(text):
        for part in parts(group):
            if len(_words(part)) >= 2 and part not in out:
                out.append(part)
    return out[:MAX_PARTS]


def _strong(part: str, hit: Any) -> bool:
    if hit.score < STRONG_SCORE or hit.name_type == "acronym":
        return False
    a, b = _words(part), _words(hit.matched_name)
    return bool(a and b) and len(a & b) / len(a | b) >= WORD_AGREEMENT


def matches_in(text_parts: Sequence[str], hits: Sequence[Sequence[Any]], by_id: Mapping[str, Any]) -> list[PartMatch]:
    """The institutions the parts name (see the module docstring); [] unless there are two or more."""
    out: list[PartMatch] = []
    seen: set[str] = set()
    strong = [(part, found) for part, found in zip(text_parts, hits) if found and _strong(part, found[0])]
    for part, found in strong:  # each part's own institution first, then parents not named apart
        if found[0].institution_id not in seen:
            seen.add(found[0].institution_id)
            out.append(PartMatch(part, found[0].institution_id))
    for part, found in strong:
        first = found[0].institution_id
        inst = by_id.get(first)
        parents = {r.id for r in getattr(inst, "relationships", ()) if r.type == "parent"}
        for hit in found[1:3]:
            if hit.institution_id in parents and hit.score >= PARENT_SCORE and hit.institution_id not in seen:
                seen.add(hit.institution_id)
                out.append(PartMatch(part, hit.institution_id, parent_of=first))
    return out if len(out) >= 2 else []


def detect_many(
    texts: Sequence[str], retriever: Any, by_id: Mapping[str, Any], whole: Sequence[Sequence[Any]] | None = None
) -> list[list[PartMatch]]:
    """For each string, the institutions its parts name ([] for a string naming one or none).

    ``whole``: the retrieval hits of each whole string, reused for a string of one part (its
    lab-and-parent case) instead of searching it again."""
    plan: list[list[str]] = [string_parts(t) for t in texts]
    queries: list[str] = []
    for text, ps in zip(texts, plan):
        if len(ps) > 1 or whole is None:
            queries.extend(ps)
    found: dict[str, list[Any]] = {}
    if queries:
        unique = list(dict.fromkeys(queries))
        found = dict(zip(unique, retriever.search_many(unique, k=3)))
    out: list[list[PartMatch]] = []
    for n, (text, ps) in enumerate(zip(texts, plan)):
        if len(ps) == 1 and whole is not None:
            hits = [list(whole[n])[:3]]
        else:
            hits = [found.get(p, []) for p in ps]
        out.append(matches_in(ps, hits, by_id))
    return out


def note(matches: Sequence[PartMatch], names: Mapping[str, str]) -> str:
    """The line the card and the CLI show: which part names which institution."""
    shown = []
    for m in matches:
        name = names.get(m.institution_id, m.institution_id)
        shown.append(f"“{m.part}” → {name}" + (" (its parent)" if m.parent_of else ""))
    return "names several institutions: " + "; ".join(shown)
