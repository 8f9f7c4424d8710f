"""Labelled gold sets (JSON Lines: affiliation, ror_ids, source, all_ids_in_registry).

``split`` is the one train/test split every benchmark and training run uses: a row is a test
row when the hash of its affiliation string falls in the test share, so one string never sits
on both sides and the split is the same on every machine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Container
from dataclasses import dataclass, field
from pathlib import Path

from affiliation_curator.errors import InputError
from affiliation_curator.institution import normalize_ror_id


@dataclass(slots=True)
class GoldRow:
    """One labelled affiliation: ``ror_ids`` empty means "no institution is correct"."""

    affiliation: str
    ror_ids: list[str] = field(default_factory=list)
    source: str = ""
    all_ids_in_registry: bool = True

    @property
    def is_no_match(self) -> bool:
        return not self.ror_ids

    def answerable_in(self, ids: Container[str]) -> bool:
        """A non-blank string whose right answer a registry with these institution ids can give:
        every gold id is among them, or the answer is "no match"."""
        return bool(self.affiliation.strip()) and (self.is_no_match or all(i in ids for i in self.ror_ids))

    @property
    def scorable(self) -> bool:
        """Rows to score on a partial registry: every gold id present, or a no-match row."""
        return self.is_no_match or self.all_ids_in_registry


def read_gold(path: Path | str) -> list[GoldRow]:
    """Read a gold JSON Lines file; raises InputError naming the line of a broken row."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"gold file not found: {path}")
    rows: list[GoldRow] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise InputError(f"{path.name} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            affiliation = obj["affiliation"]
            ids = obj.get("ror_ids") or []
            if not isinstance(affiliation, str) or not isinstance(ids, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise InputError(
                f"{path.name} line {number}: expected a JSON object with 'affiliation' (text) and 'ror_ids' (list)"
            ) from None
        norm = [normalize_ror_id(str(i)) or str(i) for i in ids]
        rows.append(GoldRow(affiliation, norm, str(obj.get("source", "")), bool(obj.get("all_ids_in_registry", True))))
    return rows


def in_share(text: str, share: float, salt: str = "") -> bool:
    """The one hash split: True for a stable ``share`` of strings (case and outer spaces aside),
    the same on every machine and run. Each split has its own ``salt``, so the sides of one
    split spread evenly over the sides of another."""
    digest = hashlib.sha1((salt + text.strip().lower()).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def is_test_string(affiliation: str, test_share: float = 0.2) -> bool:
    """True when this string belongs to the held-out test side of the gold split."""
    return in_share(affiliation, test_share)


def is_validation_string(affiliation: str, share: float) -> bool:
    """True when this string goes to the validation side of an export or a fine-tune (salted
    apart from the gold split, so strings that all lie on one side of it still spread)."""
    return in_share(affiliation, share, salt="validation\x00")


def split(rows: list[GoldRow], test_share: float = 0.2) -> tuple[list[GoldRow], list[GoldRow]]:
    """(train, test) by string hash: stable, and one string never on both sides."""
    train = [r for r in rows if not is_test_string(r.affiliation, test_share)]
    test = [r for r in rows if is_test_string(r.affiliation, test_share)]
    return train, test
