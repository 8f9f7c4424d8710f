"""What the matching engine hands to the store, the pages and the CLI: scored candidates."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class Evidence:
    """Why a candidate is on the list, in terms a curator can check."""

    matched_name: str = ""  # the registry name that matched the string best
    name_type: str = ""  # ror_display, label, alias or acronym
    city_match: bool | None = None  # None: the string names no city of this candidate to compare
    country_match: bool | None = None  # None: the string names no country
    relations: list[str] = field(default_factory=list)  # e.g. "parent of candidate 2 (X)"
    status_note: str = ""  # e.g. "inactive; successor: Y (https://ror.org/...)"
    scored: bool = True  # False: the engine computed no score for it (not reranked); ``score`` only orders it
    part: str = ""  # the part of the string that names this institution on its own (several.py)

    def summary(self) -> list[str]:
        """Short human-readable lines (the Review page and CLI show these)."""
        lines = []
        if self.matched_name:
            lines.append(f"matched {self.name_type or 'name'}: {self.matched_name}")
        if self.city_match is not None:
            lines.append("city agrees" if self.city_match else "city differs")
        if self.country_match is not None:
            lines.append("country agrees" if self.country_match else "country differs")
        if self.part:
            lines.append(f"named on its own: {self.part}")
        lines.extend(self.relations)
        if self.status_note:
            lines.append(self.status_note)
        return lines


@dataclass(slots=True)
class Candidate:
    """One ranked institution for an affiliation string."""

    id: str
    name: str
    score: float  # 0-1, the reranker's (calibrated) score; what thresholds apply to (see ``scored``)
    retrieval_score: float = 0.0  # first-stage score, for inspection
    document: str = ""  # the institution text exactly as the reranker saw it
    city: str | None = None
    country_code: str | None = None
    country_name: str | None = None
    types: list[str] = field(default_factory=list)
    status: str = "active"
    evidence: Evidence = field(default_factory=Evidence)

    @property
    def scored(self) -> bool:
        """Whether the engine computed this candidate's score (else it is shown as not scored)."""
        return self.evidence is None or self.evidence.scored

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Candidate":
        data = dict(data)
        data["evidence"] = Evidence(**data.get("evidence", {}))
        return cls(**data)


@dataclass(slots=True)
class MatchResult:
    """The engine's answer for one affiliation: candidates best first and the decision."""

    affiliation: str
    candidates: list[Candidate]
    match: str | None  # id of the accepted top candidate, or None for "no match"
    model: str = ""  # id of the scorer that produced the scores
    threshold: float = 0.5
    notes: list[str] = field(default_factory=list)  # e.g. "string cut to 2000 characters"

    @property
    def top(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def several(self) -> list[Candidate]:
        """The candidates that each part of a string naming several institutions names (several.py),
        in the string's order; [] for a string naming one."""
        named = [c for c in self.candidates if c.evidence is not None and c.evidence.part]
        return named if len(named) >= 2 else []

    @property
    def margin(self) -> float:
        """Score gap between the first two candidates (small: the engine is unsure)."""
        if not self.candidates:
            return 0.0
        second = self.candidates[1].score if len(self.candidates) > 1 else 0.0
        return self.candidates[0].score - second

    def to_json(self) -> dict[str, Any]:
        """The batch CLI's output line."""
        return {
            "affiliation": self.affiliation,
            # "scored": false marks a candidate the engine did not score (its score only keeps its place)
            "candidates": [{"id": c.id, "name": c.name, "score": round(c.score, 6), **({} if c.scored else {"scored": False})}
                           for c in self.candidates],
            "match": self.match,
        }
