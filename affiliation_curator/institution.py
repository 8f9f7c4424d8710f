"""The institution record every part of the core works with (a slim ROR schema-2 record)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

NAME_TYPES = ("ror_display", "label", "alias", "acronym")
STATUSES = ("active", "inactive", "withdrawn")
RELATIONSHIP_TYPES = ("parent", "child", "related", "predecessor", "successor")

_ROR_ID = re.compile(r"^(?:https?://)?(?:www\.)?(?:ror\.org/)?(0[a-z0-9]{6}[0-9]{2})/?$", re.I)
# The ROR id pattern proper (Crockford base32: no i, l, o, u), for links shown to a browser.
_ROR_LINK_ID = re.compile(r"^https://ror\.org/(0[a-hj-km-np-tv-z0-9]{6}[0-9]{2})$")


def normalize_ror_id(value: str) -> str | None:
    """``https://ror.org/02kkvpp62`` for any spelling of a ROR id (bare, ror.org/, http), else None."""
    match = _ROR_ID.match(value.strip())
    return f"https://ror.org/{match.group(1).lower()}" if match else None


def ror_link(value: str) -> str | None:
    """A link to ror.org built only from a valid ROR id (any spelling), else None.

    Links shown to a browser come from here and nowhere else: ``https://ror.org/`` and the
    nine-character id, nothing of the record's own text, so a hostile record cannot smuggle a
    URL, markdown or markup into a page.
    """
    url = normalize_ror_id(value) if isinstance(value, str) else None
    return url if url and _ROR_LINK_ID.match(url) else None


@dataclass(frozen=True, slots=True)
class Name:
    """One name of an institution with its ROR name types and language."""

    value: str
    types: tuple[str, ...] = ("label",)
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class Relationship:
    """A link to another institution: parent, child, related, predecessor or successor."""

    type: str
    id: str
    label: str = ""


@dataclass(slots=True)
class Institution:
    """An institution of a registry: ROR ids look like ``https://ror.org/...``, own lists may use any id."""

    id: str
    name: str
    names: list[Name] = field(default_factory=list)
    city: str | None = None
    country_code: str | None = None
    country_name: str | None = None
    types: list[str] = field(default_factory=list)
    status: str = "active"
    relationships: list[Relationship] = field(default_factory=list)
    external_ids: dict[str, list[str]] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)
    established: int | None = None

    @property
    def is_ror(self) -> bool:
        return self.id.startswith("https://ror.org/")

    @property
    def ror_url(self) -> str | None:
        """Link to the record on ror.org (None for ids of one's own lists and invalid ROR ids)."""
        return ror_link(self.id) if self.is_ror else None

    def names_of_type(self, name_type: str) -> list[str]:
        return [n.value for n in self.names if name_type in n.types]

    @property
    def acronyms(self) -> list[str]:
        return self.names_of_type("acronym")

    def related(self, rel_type: str) -> list[Relationship]:
        return [r for r in self.relationships if r.type == rel_type]

    @property
    def successors(self) -> list[Relationship]:
        return self.related("successor")

    def location(self) -> str:
        """``City, Country`` (or whichever part is known)."""
        return ", ".join(p for p in (self.city, self.country_name) if p)

    def to_dict(self) -> dict[str, Any]:
        """Compact, JSON-ready form (the on-disk form of an imported registry)."""
        data = asdict(self)
        data["names"] = [[n.value, list(n.types), n.lang] for n in self.names]
        data["relationships"] = [[r.type, r.id, r.label] for r in self.relationships]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Institution":
        return cls(
            id=data["id"],
            name=data["name"],
            names=[Name(v, tuple(t), lang) for v, t, lang in data.get("names", [])],
            city=data.get("city"),
            country_code=data.get("country_code"),
            country_name=data.get("country_name"),
            types=list(data.get("types", [])),
            status=data.get("status", "active"),
            relationships=[Relationship(t, i, lab) for t, i, lab in data.get("relationships", [])],
            external_ids={k: list(v) for k, v in data.get("external_ids", {}).items()},
            links=list(data.get("links", [])),
            established=data.get("established"),
        )
