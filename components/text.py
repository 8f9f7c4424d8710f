"""Showing user strings safely: never as HTML, never as live markdown."""

from __future__ import annotations

import re

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=\"'])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: object, limit: int | None = None) -> str:
    """Plain text for display: control characters removed, optionally cut with an ellipsis."""
    value = _CONTROL.sub("", str(text if text is not None else ""))
    if limit is not None and len(value) > limit:
        value = value[: max(0, limit - 1)] + "…"
    return value


def safe_md(text: object, limit: int | None = None) -> str:
    """Escape a user string for ``st.markdown`` / widget labels: every markdown, HTML,
    link, LaTeX and directive character is backslash-escaped, newlines become spaces,
    so the string renders as inert text."""
    value = clean(text, limit).replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", value)


def ror_link(institution_id: str) -> str | None:
    """A ror.org URL for a ROR id (any spelling), else None (own lists' ids get no link)."""
    from affiliation_curator.institution import normalize_ror_id

    return normalize_ror_id(institution_id or "")
