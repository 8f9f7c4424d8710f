"""Showing user strings safely: never as HTML, never as live markdown."""

from __future__ import annotations

import re

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=\"'])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# GitHub-flavoured markdown turns bare URLs and e-mail addresses in *text* into links, after
# escapes are resolved; a word joiner (U+2060, invisible) inside "://", "www." and before "@"
# keeps them text. A valid ror.org URL is left as it is (it may become a link: to ror.org and a
# valid id, like the links the app draws), so that a ROR id reads and copies exactly.
_AUTOLINK = re.compile(r"(?i)(?<=:)(?=//)|(?<=www)(?=\.)|(?=@)")
_VALID_ROR_URL = re.compile(r"https://ror\.org/0[a-hj-km-np-tv-z0-9]{6}[0-9]{2}(?=$|[\s,;)]|\.(?:$|\s))")
_WORD_JOINER = "\u2060"


def _no_autolinks(value: str) -> str:
    parts, last = [], 0
    for match in _VALID_ROR_URL.finditer(value):
        parts += [_AUTOLINK.sub(_WORD_JOINER, value[last:match.start()]), match.group(0)]
        last = match.end()
    parts.append(_AUTOLINK.sub(_WORD_JOINER, value[last:]))
    return "".join(parts)


def clean(text: object, limit: int | None = None) -> str:
    """Plain text for display: control characters removed, optionally cut with an ellipsis."""
    value = _CONTROL.sub("", str(text if text is not None else ""))
    if limit is not None and len(value) > limit:
        value = value[: max(0, limit - 1)] + "…"
    return value


def safe_md(text: object, limit: int | None = None) -> str:
    """Escape a user string for ``st.markdown`` / widget labels: every markdown, HTML,
    link, LaTeX and directive character is backslash-escaped, newlines become spaces,
    so the string renders as inert text; bare URLs and e-mail addresses are not auto-linked."""
    value = clean(text, limit).replace("\r", " ").replace("\n", " ")
    value = _no_autolinks(value)
    return _MD_SPECIAL.sub(r"\\\1", value)


def ror_link(institution_id: str) -> str | None:
    """A ror.org URL for a ROR id (any spelling), else None (own lists' ids get no link)."""
    from affiliation_curator.institution import ror_link as valid_ror_link

    return valid_ror_link(institution_id or "")


def threshold_text(value: float) -> str:
    """A threshold with as many digits as it needs (2 to 4): 0.35 next to 0.354, not 0.35 next to 0.35."""
    for digits in (2, 3):
        if abs(round(value, digits) - value) < 5e-5:
            return f"{value:.{digits}f}"
    return f"{value:.4f}"
