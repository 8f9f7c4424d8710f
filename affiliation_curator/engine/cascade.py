"""How many of a string's candidates the cross-encoder reranks: a cascade on the first stage's confidence.

A production-size cross-encoder scores about 20 pairs a second on two CPU cores, and the Matcher
reranks up to ``n_rerank`` candidates a string (about 6.5 on gold strings), so it ranks about 3
affiliations a second. Most strings do not need it: the first stage already ranks the right
institution first by a wide margin ("Technical University of Munich, Munich, Germany"). The
cascade looks at the first-stage scores of a string's candidates and decides:

- ``skip``: the top first-stage score is at least ``skip_at`` and leads the next by at least
  ``skip_margin``: no pair is reranked, the first-stage scores stand;
- ``verify``: the top score is at least ``verify_at`` (and leads by ``verify_margin``): only the
  first ``verify_n`` candidates in first-stage order are reranked (the cross-encoder still says
  whether the top is right: a low score there still means "no match");
- otherwise the Matcher's usual selection (``Matcher._to_rerank``).

Levels (setting ``rerank_cascade`` or ``AFFILIATION_CURATOR_CASCADE``): ``on`` (the default: no
measurable accuracy cost), ``fast`` (fewer pairs still, at a small cost: the speed target of a
production-size model on 2 CPU cores) and ``off`` (every string reranked). Each level's policy was
chosen on the train side of the gold split (``bench/bench_cascade.py``; figures in the README).
The first stage is the lexical combiner's calibrated probability (``lexical-combiner.json``, which
ships with the project; combiner.py) wherever it applies, else the retrieval score; each level has
a policy for each (``POLICIES``).

    cascade = Cascade(level="fast")                 # the stored policies of a level
    plan = cascade.plan(text, found, by_id)         # Plan("skip" | "verify" | "full", ids to rerank, scores)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SKIP, VERIFY, FULL = "skip", "verify", "full"
CASCADE_OFF = "off"
DEFAULT = "on"  # its accuracy cost on the test side was nil within one row in a thousand (see POLICIES)


@dataclass(frozen=True)
class CascadePolicy:
    """Thresholds on the top first-stage score (and its lead over the second) deciding the rerank depth."""

    skip_at: float = math.inf  # top >= this (and lead >= skip_margin): rerank nothing
    skip_margin: float = 0.0
    verify_at: float = math.inf  # top >= this (and lead >= verify_margin): rerank the first verify_n only
    verify_margin: float = 0.0
    verify_n: int = 1

    def decide(self, scores: Sequence[float]) -> str:
        """SKIP, VERIFY or FULL for a string whose candidates have these first-stage scores (any order)."""
        if len(scores) == 0:
            return FULL
        top, second = _top_two(scores)
        lead = top - second
        if top >= self.skip_at and lead >= self.skip_margin:
            return SKIP
        if top >= self.verify_at and lead >= self.verify_margin:
            return VERIFY
        return FULL


def _top_two(scores: Sequence[float]) -> tuple[float, float]:
    values = sorted((float(s) for s in scores), reverse=True)
    return values[0], (values[1] if len(values) > 1 else 0.0)


# Two first stages, two sets of policies, each chosen on the train side of the gold split.
#
# "combiner": the lexical combiner's calibrated probability (combiner.py; one ships with the
# project), used whenever one applies to the registry. Chosen with bench/bench_cascade.py --combiner
# --choose on the 17,650 train-side strings of the lexical dump. What a policy can cost is bounded
# without a cross-encoder: a skipped string whose first-stage top is not a gold institution (or
# that has none: an automatic match the cross-encoder might have refused), or a verified one whose
# gold is not among the first stage's top n, is a string where the cascade may change the answer
# ("risk"; the cross-encoder may be wrong there anyway). Each level takes the fewest pairs whose
# risk, averaged over the gold files, stays within its budget:
# - "on": budget 0.005: 1.91 pairs a string (full reranking 4.92), risk 0.0050 (test side: 1.92
#   pairs, 0.0042), where the retrieval policy below reranks 2.73 at a risk of 0.0267;
# - "fast": budget 0.015: 0.82 pairs (test: 0.84, risk 0.0167), against the retrieval policy's
#   1.43 at 0.0400: fewer pairs and a lower risk; what >= 10 affiliations/s with the
#   production-size model on 2 cores needs.
#
# "retrieval": the retrieval score, where no lexical combiner applies (a registry much smaller
# than the one the combiner was fitted on, or none stored). Chosen with bench/bench_cascade.py
# --proxy --choose (4,584 rows, the lexical combiner standing in for the cross-encoder):
# - "on": the fewest pairs whose mean acc@1 and decision accuracy over gold files stay within 0.002
#   of reranking every string (train: 5.00 -> 2.90 pairs a string, acc@1 -0.0012, decision -0.0007;
#   test: 4.89 -> 2.95, acc@1 +0.0000, decision -0.0010);
# - "fast": the best accuracy at <= 1.75 pairs a string (train: 1.72 pairs, acc@1 -0.0045,
#   decision -0.0028; test: 1.80, acc@1 -0.0022, decision -0.0029).
# "off" reranks every string as before.
POLICIES: dict[str, dict[str, CascadePolicy]] = {
    "on": {"retrieval": CascadePolicy(skip_at=0.98, skip_margin=0.05, verify_at=0.8, verify_margin=0.1, verify_n=1),
           "combiner": CascadePolicy(skip_at=0.97, skip_margin=0.5, verify_at=0.7, verify_margin=0.1, verify_n=3)},
    "fast": {"retrieval": CascadePolicy(skip_at=0.98, skip_margin=0.05, verify_at=0.9, verify_margin=0.0, verify_n=2),
             "combiner": CascadePolicy(skip_at=0.93, skip_margin=0.5, verify_at=0.2, verify_margin=0.0, verify_n=2)},
}
LEVELS = (CASCADE_OFF, *POLICIES)


@dataclass
class Plan:
    """What the cascade decided for one string: its mode, the candidates to rerank (None: the Matcher's
    usual ones) and the first-stage scores of its candidates (the final scores when nothing is reranked)."""

    mode: str
    rerank_ids: set[str] | None
    first_scores: list[float]


class Cascade:
    """Decides the rerank depth of each string (see the module docstring); counts its decisions.

    ``lexical_combiner``: a combiner fitted without reranker scores (combiner.py); its probabilities
    are the first-stage scores and ``policies["combiner"]`` applies. Without one, the retrieval
    scores and ``policies["retrieval"]``.
    """

    def __init__(self, policies: dict[str, CascadePolicy] | None = None, lexical_combiner: Any = None,
                 level: str = "on") -> None:
        self.policies = dict(POLICIES[level] if policies is None else policies)
        self.level = level
        self.lexical_combiner = lexical_combiner if "combiner" in self.policies else None
        self.signal = "combiner" if self.lexical_combiner is not None else "retrieval"
        self.policy = self.policies[self.signal]
        self.counts: Counter = Counter()
        self._country_sizes: dict[str, int] | None = None

    def describe(self) -> str:
        p = self.policy
        return (f"rerank cascade '{self.level}' on the {self.signal} score: skip at {p.skip_at:g} (lead {p.skip_margin:g}), "
                f"top {p.verify_n} only at {p.verify_at:g} (lead {p.verify_margin:g})")

    def first_scores(self, text: str, found: Sequence[Any], by_id: dict[str, Any]) -> list[float]:
        """The first-stage score (0-1) of each candidate: the lexical combiner's probability, else retrieval's."""
        return self.first_scores_many([text], [found], by_id)[0]

    def first_scores_many(self, texts: Sequence[str], founds: Sequence[Sequence[Any]],
                          by_id: dict[str, Any]) -> list[list[float]]:
        """``first_scores`` of several strings, with one call of the lexical combiner for all of them."""
        if self.lexical_combiner is None:
            return [[float(c.score) for c in found] for found in founds]
        from affiliation_curator.engine.combiner import candidate_features, country_sizes

        if self._country_sizes is None:
            self._country_sizes = country_sizes(by_id.values())
        blocks = [candidate_features(text, list(found), [None] * len(found), by_id, country_sizes=self._country_sizes)
                  for text, found in zip(texts, founds)]
        sizes = [len(b) for b in blocks]
        values = self.lexical_combiner.predict(np.vstack(blocks)) if sum(sizes) else np.zeros(0)
        out, start = [], 0
        for n in sizes:
            out.append([float(v) for v in values[start:start + n]])
            start += n
        return out

    def plan(self, text: str, found: Sequence[Any], by_id: dict[str, Any]) -> Plan:
        """The plan for one string; ``found``: its retrieved candidates present in ``by_id``."""
        return self.plan_many([text], [found], by_id)[0]

    def plan_many(self, texts: Sequence[str], founds: Sequence[Sequence[Any]], by_id: dict[str, Any]) -> list[Plan]:
        """The plan of each string (``founds[i]``: its retrieved candidates present in ``by_id``)."""
        return [self._plan(found, scores) for found, scores in zip(founds, self.first_scores_many(texts, founds, by_id))]

    def _plan(self, found: Sequence[Any], scores: list[float]) -> Plan:
        mode = self.policy.decide(scores)
        self.counts[mode] += 1
        if mode == SKIP:
            return Plan(SKIP, set(), scores)
        if mode == VERIFY:
            order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
            n = max(1, int(self.policy.verify_n))
            return Plan(VERIFY, {found[i].institution_id for i in order[:n]}, scores)
        return Plan(FULL, None, scores)


def setting() -> str:
    """``AFFILIATION_CURATOR_CASCADE`` (off, on, fast), else the settings' ``rerank_cascade``, else DEFAULT."""
    import os

    from affiliation_curator import config

    value = os.environ.get("AFFILIATION_CURATOR_CASCADE", "").strip().lower()
    if not value:
        value = (config.Settings.load().rerank_cascade or "").strip().lower()
    return value if value in LEVELS else DEFAULT


def make_cascade(given: Any, registry_size: int | None = None) -> Cascade | None:
    """The Matcher's cascade: a Cascade as given, None for "off"/None/False, a level ("on" or True,
    "fast") its stored policies, "setting" whatever ``setting()`` says. The lexical combiner stored
    for the registry's size (combiner.load_for) is the first stage when there is one and the level
    has a policy for its scores (``POLICIES[level]["combiner"]``)."""
    if isinstance(given, Cascade):
        return given
    if given == "setting":
        given = setting()
    if given is None or given is False or given == CASCADE_OFF:
        return None
    level = "on" if given is True else str(given)
    if level not in POLICIES:
        raise ValueError(f"rerank cascade {given!r}: one of {', '.join(LEVELS)}")
    lexical = None
    if "combiner" in POLICIES[level]:
        from affiliation_curator.engine.combiner import fitted_registry_size, load_for
        from affiliation_curator.engine.score_scale import is_small

        lexical = load_for(None, True, registry_size=registry_size)
        if lexical is not None and is_small(registry_size, fitted_registry_size(lexical)):
            lexical = None  # its features mean other things on a much smaller registry: the retrieval policy
    return Cascade(lexical_combiner=lexical, level=level)
