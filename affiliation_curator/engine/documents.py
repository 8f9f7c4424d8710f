"""The document text of a candidate: what the reranker reads for an institution.

Its one home: the matcher scores with it, and every labelled pair (exports, imports, training,
fine-tuning) is written with it, so a model is trained on exactly the text it scores.
"""

from __future__ import annotations

from collections.abc import Callable

from affiliation_curator.institution import Institution
from affiliation_curator.text import fold

DocumentFn = Callable[[Institution, "str | None"], str]  # (institution, matched name) -> text


def document_text(inst: Institution, matched_name: str | None = None) -> str:
    """The institution text shown to the reranker: ``Name, City, Country``.

    Chosen by measurement (bench/bench_matching.py --documents): adding acronyms, aliases or
    types did not rank the right institution higher; the location parts let the model use a
    city or country named in the string. The name comes first and up to the first comma it is
    the display name (the lexical scorer relies on that).

    With ``matched_name`` (the label, alias or acronym the retriever matched; for models trained
    on it, whose card says ``document_style: matched-name``) it follows the name in brackets
    when the name does not already contain it: ``Korea Advanced ... Technology (KAIST), Daejeon, ...``.
    """
    name = inst.name.replace(",", "")  # keep "the name is before the first comma" true
    if matched_name:
        extra = matched_name.replace(",", " ").strip()
        if extra and fold(extra) not in fold(name):
            name = f"{name} ({extra})"
    return ", ".join(p for p in (name, inst.city, inst.country_name) if p)


DOCUMENT_STYLES = ("matched-name", "plain")


def document_function(style: str = "matched-name") -> DocumentFn:
    """``document_text`` as a model of this ``document_style`` reads it (train on what it scores).

    ``matched-name``: the retriever's matched name (label, alias, acronym) follows the display
    name, so the model can see that "KAIST" names the Korea Advanced Institute...; ``plain``:
    ``Name, City, Country`` only (what models without a ``document_style`` get).
    """
    if style not in DOCUMENT_STYLES:
        raise ValueError(f"unknown document style {style!r}")
    if style == "plain":
        return lambda inst, matched_name=None: document_text(inst)
    return document_text
