"""Is a model being evaluated on what it was trained on? A warning for the Evaluate page and CLI.

A model trained here records its data in its card (``curator.json``, ``training``): the curated
batches it learned from (``curated.batches``; the training side of them, the validation side by
``gold.is_validation_string`` held back) and the gold files whose train side it used
(``gold_files``). Evaluating it on those rows measures memory, not matching, so its figures run
high; ``overlap_warning`` says how many of the rows are such.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from affiliation_curator.curation.gold import GoldRow, is_test_string, is_validation_string


def model_card(matcher: Any) -> Mapping[str, Any]:
    """The card of the matcher's scorer ({} for a model without one: a hub model, the lexical scorer)."""
    card = getattr(getattr(matcher, "scorer", None), "card", None)
    return card if isinstance(card, Mapping) else {}


def overlap_warning(
    card: Mapping[str, Any],
    rows: Sequence[GoldRow],
    *,
    batches: Sequence[str] = (),
    gold_file: str | None = None,
    test_side_only: bool = False,
) -> str:
    """One sentence when some of ``rows`` trained the model (empty string otherwise).

    ``batches``: names of the curated batches the rows come from (their ``source``);
    ``gold_file``: the gold file they come from; ``test_side_only``: only its held-out side.
    """
    training = card.get("training") if isinstance(card, Mapping) else None
    if not isinstance(training, Mapping) or not rows:
        return ""
    curated = training.get("curated") if isinstance(training.get("curated"), Mapping) else {}
    trained_batches = {str(b) for b in curated.get("batches") or []}
    if batches and trained_batches:
        try:
            share = float(curated.get("validation_share", 0.2) or 0.0)
        except (TypeError, ValueError):
            share = 0.2
        overlap = sorted(set(batches) & trained_batches)
        seen = [r for r in rows if r.source in trained_batches
                and not (share > 0 and is_validation_string(r.affiliation, share))]
        if overlap and seen:
            return (f"This model was trained on decisions of {', '.join(overlap[:3])}"
                    f"{' and more' if len(overlap) > 3 else ''}: {len(seen):,} of {len(rows):,} rows evaluated here "
                    "were in its training data, so its figures run high. Evaluate it on batches it was not trained "
                    "on, or on a gold file's held-out side.")
    gold_files = {Path(str(g)).name for g in training.get("gold_files") or []}
    if gold_file and not test_side_only and Path(gold_file).name in gold_files:
        seen = [r for r in rows if not is_test_string(r.affiliation)]
        if seen:
            return (f"This model was trained on the train side of {Path(gold_file).name}: {len(seen):,} of "
                    f"{len(rows):,} rows evaluated here were in its training data, so its figures run high. "
                    "Evaluate only the held-out test side.")
    return ""
