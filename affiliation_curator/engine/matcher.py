"""The matching engine: retrieve candidates, rerank them with a scorer, decide.

    matcher = Matcher(registry)                 # the configured scorer (see reranker.load_scorer)
    result = matcher.match("Dept. of Surgery, TU Munich, Germany")
    result.candidates[0].name, result.candidates[0].score, result.match

For each affiliation the retriever finds ``n_retrieve`` institutions; the scorer scores the
pair (affiliation, ``document_text(institution)``) for those within ``rerank_margin`` of the
best retrieval score (at most ``n_rerank``), unless the rerank cascade (cascade.py, on by
default) decides the string needs fewer: none when the retrieval score is sure of it (its
scores then stand), or only its first one or two; candidates are ranked by that score (0-1; the
ones not reranked follow at half the lowest reranked score) and the top ``top_k`` returned
with their evidence (a candidate not reranked is marked not scored, ``Evidence.scored``; a
string naming several institutions gets each part's institution marked, see several.py). The
top candidate is accepted
as the match when its score clears the threshold (the scorer's calibrated one unless given),
else the answer is "no match" (``match`` None).

When a second-stage combiner is stored for the scorer (``combiner.json`` in the model folder;
for the lexical fallback ``lexical-combiner.json`` in the models folder, else the one that ships in
``affiliation_curator/artifacts``; see combiner.py) the
final score is its probability that the candidate is right, learned from the reranker and
retrieval scores and the evidence (name type, coverage, location, relations, status), and its
own calibrated threshold decides; without one (a fresh install) the scores below apply.

With the lexical fallback scorer (no model loaded) the score is the first-stage retrieval score
(0-1, with its name, acronym and location evidence): blending in the lexical scorer's score
lowered accuracy@1 on the train side of the gold sets (0.829 at half weight, 0.842 at a
quarter, 0.873 without; bench/bench_matching.py --calibrate --model lexical-fallback).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from affiliation_curator.engine.documents import document_text
from affiliation_curator.engine.reranker import LEXICAL_MODEL_ID, Scorer
from affiliation_curator.engine.results import Candidate, Evidence, MatchResult
from affiliation_curator.errors import ScoringError
from affiliation_curator.institution import Institution
from affiliation_curator.registry import Registry
from affiliation_curator.engine.retrieval import RetrievedCandidate, Retriever
from affiliation_curator.engine.several import PartMatch, detect_many
from affiliation_curator.engine.several import note as several_note
from affiliation_curator.text import sanitize

# Decision threshold when the lexical fallback scores, calibrated (best decision accuracy, each
# gold set weighted equally) on the train side: bench/bench_matching.py --calibrate --side train.
LEXICAL_BLEND_THRESHOLD = 0.765
LEXICAL_WEIGHT = 0.0  # share of the lexical score in the fallback blend (the rest: retrieval score)

ProgressFn = Callable[[int, int], None]


class Matcher:
    """Retrieval + reranking + decision over one registry (see module docstring)."""

    def __init__(
        self,
        registry: Registry | Sequence[Institution],
        scorer: Scorer | None = None,
        top_k: int = 10,
        n_retrieve: int = 20,
        threshold: float | None = None,
        retriever: Retriever | None = None,
        n_rerank: int = 8,
        rerank_margin: float = 0.25,
        combiner: Any = True,
        detect_several: bool = True,
        cascade: Any = "setting",
    ) -> None:
        if scorer is None:
            from affiliation_curator.engine.reranker import load_scorer

            scorer = load_scorer()
        self.registry = registry
        self.top_k = max(1, int(top_k))
        self.n_retrieve = max(self.top_k, int(n_retrieve))
        self.n_rerank = max(1, int(n_rerank))
        self.rerank_margin = float(rerank_margin)
        self.retriever = retriever or Retriever.for_registry(registry)
        self.detect_several = bool(detect_several)  # mark the parts of strings naming several institutions
        self._by_id = {inst.id: inst for inst in self.retriever.institutions}
        self._threshold_given = threshold
        self._combiner_given = combiner
        self.notices: list[str] = []  # what changed while matching (a model that failed and was replaced)
        self.pairs_reranked = 0  # (string, candidate) pairs sent to the scorer so far (cached ones included)
        self._cascade_given = cascade
        self._use_scorer(scorer)
        self._documents: dict[tuple[str, str | None], str] = {}

    def _use_scorer(self, scorer: Scorer) -> None:
        """Take ``scorer`` and everything that follows from it: blend, documents, combiner, threshold."""
        self.scorer = scorer
        self.lexical = getattr(scorer, "model_id", "") == LEXICAL_MODEL_ID
        # Set by the model card (reranker.ModelCard): documents with the matched name, and the share
        # of the retrieval score blended into the reranker's score (both calibrated in training).
        self.matched_names = getattr(scorer, "document_style", "") == "matched-name"
        # (the lexical fallback's score is the retrieval score, blended with LEXICAL_WEIGHT of its own)
        self.retrieval_weight = (1.0 - LEXICAL_WEIGHT) if self.lexical else float(getattr(scorer, "retrieval_weight", 0.0) or 0.0)
        # The learned second stage (combiner.py): True loads the one stored for this scorer, if any.
        combiner = self._combiner_given
        if combiner is True:
            from affiliation_curator.engine.combiner import load_for

            combiner = load_for(scorer, self.lexical, registry_size=len(self.retriever.institutions))
        self.combiner = combiner or None
        self._scale_scores()
        if self._threshold_given is not None:
            self.threshold = float(self._threshold_given)
        elif self.combiner is not None:
            self.threshold = float(self.combiner.threshold)  # a probability, as are the scores (also after the small-registry curve)
        elif self.lexical:
            self.threshold = self._curve_threshold(LEXICAL_BLEND_THRESHOLD)
        else:
            self.threshold = self._curve_threshold(float(getattr(scorer, "threshold", 0.5)))
        # Which strings the scorer reranks and how deep (cascade.py); none for the lexical scorer (free).
        from affiliation_curator.engine.cascade import make_cascade

        self.cascade = None if self.lexical else make_cascade(self._cascade_given, len(self.retriever.institutions))
        self._threads = threading.local()  # per thread: strings the cascade skipped -> their first-stage scores

    def _scale_scores(self) -> None:
        """Choose the curve that puts this engine's scores on the calibrated scale (score_scale.py) and
        say which scale that is (``self.scale``)."""
        from affiliation_curator.engine import score_scale as ss

        n = len(self.retriever.institutions)
        self._country_sizes = None
        self._fitted_size = 0
        self._post_curve: ss.ScoreCurve | None = None  # after the combiner (small registries)
        self._raw_curve: ss.ScoreCurve | None = None  # on the blended score, without a combiner
        self._first_curve = ss.load_lexical_curves()  # the retrieval score's (lexical alone, cascade skips)
        comb = self.combiner
        if comb is not None:
            from affiliation_curator.engine.combiner import fitted_registry_size

            self._fitted_size = fitted_registry_size(comb)
            meta = getattr(comb, "meta", None) or {}
            on = f"the train side of the gold split ({meta.get('scorer', self.model_id)} + learned combiner"
            if ss.is_small(n, self._fitted_size):
                self._post_curve = ss.load_small_registry_curve(comb)
                if self._post_curve is not None:
                    on += f", then a curve for registries under {int(ss.SMALL_REGISTRY_SHARE * self._fitted_size):,} institutions"
            self.scale = ss.ScoreScale(True, on + ")")
            if ss.is_small(n, self._fitted_size) and self._post_curve is None:  # a combiner given by hand
                self.scale = ss.ScoreScale(False, f"combiner fitted on {self._fitted_size:,} institutions, "
                                                  f"this registry has {n:,}")
            return
        if self.lexical:
            self.scale = (ss.ScoreScale(True, "the train side of the gold split (lexical score curves)")
                          if self._first_curve is not None else ss.ScoreScale(False, "the lexical retrieval score"))
            return
        self._raw_curve = ss.card_curve(getattr(self.scorer, "card", None))
        if self._raw_curve is not None:
            self.scale = ss.ScoreScale(True, str(self._raw_curve.meta.get("fitted_on") or "this model's held-out labelled strings"))
        else:
            self.scale = ss.ScoreScale(False, "the model's own score; no calibration curve in its card: "
                                              "`python -m affiliation_curator model calibrate DIR --gold FILE` "
                                              "fits one for our own models on labelled strings")

    def _curve_threshold(self, raw: float) -> float:
        """A threshold on the scorer's own scale, put on the calibrated one (the same decisions: the
        curve is monotone; for the lexical score, the curve of a string's best candidate)."""
        if self._raw_curve is not None:
            return round(self._raw_curve.map_one(raw), 4)
        if self.lexical and self._first_curve is not None:
            return round(self._first_curve.pair_for(len(self.retriever.institutions))[0].map_one(raw), 4)
        return raw

    def _lexical_curve(self, scores: list[float]) -> list[float]:
        return self._first_curve.map_list(scores, len(self.retriever.institutions)) if self._first_curve is not None else scores

    def _fall_back(self, reason: str) -> None:
        """The scorer failed while scoring: the best local scorer (the lexical one, if a stand-in
        failed too) takes over for the rest of this engine's life, and a notice says so once."""
        from affiliation_curator.engine.reranker import LexicalScorer, fallback_scorer

        failed = self.model_id
        if getattr(self.scorer, "stands_in_for", ""):
            stand_in: Any = LexicalScorer()
            stand_in.fallback_reason, stand_in.stands_in_for = reason, failed
        else:
            stand_in = fallback_scorer(failed, reason, persist_cache=False)
            if stand_in.model_id == failed:  # the best local model is the one that failed
                stand_in = LexicalScorer()
                stand_in.fallback_reason, stand_in.stands_in_for = reason, failed
        self._documents.clear()
        self._use_scorer(stand_in)
        self.notices.append(f"{reason}; {stand_in.model_id} scores from here on")

    @property
    def model_id(self) -> str:
        return str(getattr(self.scorer, "model_id", "unknown"))

    def combiner_note(self) -> str:
        """One line saying which second-stage combiner ranks (its file and threshold), if any."""
        from affiliation_curator.engine.combiner import old_pickle

        old = old_pickle(self.scorer, self.lexical)
        stale = (f"{old} was saved by an earlier version and is not read any more (a pickle runs code when loaded): "
                 "refit it with `python -m affiliation_curator model fit-combiner`") if old is not None else ""
        if self.combiner is None:
            return f"second-stage combiner: none; {stale}" if stale else "second-stage combiner: none (reranker/retrieval blend)"
        line = f"second-stage combiner: {self.combiner.path or 'given'} (threshold {self.combiner.threshold:.3f})"
        if self._post_curve is not None:
            from affiliation_curator.engine.score_scale import small_curve_path

            line += f", then the small-registry curve {small_curve_path().name}"
        return line + (f"; {stale}" if stale else "")

    def document(self, inst: Institution, found: RetrievedCandidate | None = None) -> str:
        matched = found.matched_name if self.matched_names and found is not None else None
        key = (inst.id, matched)
        doc = self._documents.get(key)
        if doc is None:
            doc = self._documents[key] = document_text(inst, matched)
        return doc

    # -- matching ------------------------------------------------------------------------

    def match(self, affiliation: str) -> MatchResult:
        return next(iter(self.match_many([affiliation])))

    def match_many(
        self, affiliations: Iterable[str], batch_size: int = 32, progress: ProgressFn | None = None
    ) -> Iterator[MatchResult]:
        """Results in input order; identical strings are retrieved and scored once."""
        items = affiliations if isinstance(affiliations, Sequence) else list(affiliations)
        total = len(items)
        done = 0
        for start in range(0, total, max(1, batch_size)):
            batch = items[start : start + batch_size]
            yield from self._match_batch(batch)
            done += len(batch)
            if progress is not None:
                progress(done, total)

    def examine(self, texts: Sequence[str]) -> list[tuple[list[RetrievedCandidate], list[float | None], list[bool]]]:
        """For each (sanitised, non-empty) string: the retrieved candidates and, aligned with
        them, the scorer's score (None where not scored: not reranked, or the lexical fallback)
        and whether each was examined (reranked). The raw material of the final scores and of fitting
        the combiner."""
        unique = list(dict.fromkeys(texts))
        self._first_stage.clear()  # this thread's, from a previous call
        found = dict(zip(unique, self.retriever.search_many(unique, k=self.n_retrieve)))
        chosen = dict(zip(unique, self._chosen_many(unique, [found[t] for t in unique])))
        scored = not (self.lexical and LEXICAL_WEIGHT == 0.0)
        pairs = [(text, self.document(self._by_id[c.institution_id], c))
                 for text in unique for c in found[text]
                 if scored and c.institution_id in chosen[text] and c.institution_id in self._by_id]
        self.pairs_reranked += len(pairs)
        try:
            values = self.scorer.score(pairs) if pairs else []
        except ScoringError as err:
            self._fall_back(str(err))
            return self.examine(texts)
        scores = dict(zip(pairs, (float(v) for v in values)))
        out = {}
        for text in unique:
            cands = [c for c in found[text] if c.institution_id in self._by_id]
            examined = [c.institution_id in chosen[text] for c in cands]
            rerank = [scores.get((text, self.document(self._by_id[c.institution_id], c))) if e else None
                      for c, e in zip(cands, examined)]
            out[text] = (cands, rerank, examined)
        return [out[t] for t in texts]

    @property
    def _first_stage(self) -> dict[str, list[float]]:
        """This thread's strings the cascade did not rerank (one engine serves the app's threads)."""
        found = getattr(self._threads, "first_stage", None)
        if found is None:
            found = self._threads.first_stage = {}
        return found

    def _chosen_many(self, texts: Sequence[str], founds: Sequence[list[RetrievedCandidate]]) -> list[set[str]]:
        """Ids of the candidates the scorer reranks, per string: the cascade's choice (planned for
        the whole batch at once), else ``_to_rerank``'s."""
        if self.cascade is None:
            return [{c.institution_id for c in self._to_rerank(found)} for found in founds]
        cands = [[c for c in found if c.institution_id in self._by_id] for found in founds]
        out = []
        for text, found, plan in zip(texts, founds, self.cascade.plan_many(texts, cands, self._by_id)):
            if plan.rerank_ids is None:
                out.append({c.institution_id for c in self._to_rerank(found)})
                continue
            if not plan.rerank_ids:
                self._first_stage[text] = plan.first_scores
            out.append(plan.rerank_ids)
        return out

    def _match_batch(self, batch: Sequence[Any]) -> list[MatchResult]:
        prepared: list[tuple[str, list[str]]] = []
        for raw in batch:
            safe, notes = sanitize(raw)
            prepared.append((safe, notes))
        unique = list(dict.fromkeys(s for s, _ in prepared if s))
        examined = self.examine(unique)
        if self.combiner is not None:
            scores = self._combined_scores(unique, examined)
        else:
            scores = {text: self._blended_scores(*ex) for text, ex in zip(unique, examined)}
        skipped = set()
        for text in unique:  # strings the cascade did not rerank: the first stage's scores stand (scores of their own)
            first = self._first_stage.pop(text, None)
            if first is not None:  # retrieval scores go on the calibrated scale through the lexical curves
                retrieval = getattr(self.cascade, "signal", "retrieval") == "retrieval"  # else the combiner's probability
                scores[text] = self._lexical_curve(first) if retrieval else first
                skipped.add(text)
        # without a combiner, a candidate not reranked has no score of its own (it only keeps its place)
        ranked = {text: self._rank(ex[0], scores[text], None if self.combiner is not None or text in skipped else ex[2])
                  for text, ex in zip(unique, examined)}
        notes_for: dict[str, list[str]] = {}
        if self.detect_several and unique:
            found = detect_many(unique, self.retriever, self._by_id, whole=[ex[0] for ex in examined])
            for text, matches in zip(unique, found):
                if matches:
                    notes_for[text] = [self._mark_parts(ranked[text], matches)]
        results = []
        for raw, (safe, notes) in zip(batch, prepared):
            original = raw if isinstance(raw, str) else safe
            if not safe:
                results.append(MatchResult(original, [], None, self.model_id, self.threshold, list(notes)))
                continue
            cands = [self._copy(c) for c in ranked[safe]]
            notes = list(notes) + notes_for.get(safe, [])
            if not cands:
                notes.append("no institution of the registry resembles this string")
            match = cands[0].id if cands and cands[0].score >= self.threshold else None
            results.append(MatchResult(original, cands, match, self.model_id, self.threshold, notes))
        return results

    @staticmethod
    def _copy(c: Candidate) -> Candidate:
        return Candidate.from_dict(c.to_dict())

    def _to_rerank(self, found: list[RetrievedCandidate]) -> list[RetrievedCandidate]:
        """The candidates worth the scorer's time: those within ``rerank_margin`` of the best
        retrieval score, at most ``n_rerank`` and at least two. A cross-encoder scores some 50-150
        pairs a second on two CPU cores, so reranking all ``n_retrieve`` would cap throughput at a
        few affiliations a second; the retrieval scores past the margin rarely hold the answer."""
        if not found:
            return []
        floor = found[0].score - self.rerank_margin
        keep = [c for c in found[: self.n_rerank] if c.score >= floor]
        return found[: max(len(keep), min(2, len(found)))]

    def _blend(self, rerank: float, retrieval: float) -> float:
        w = self.retrieval_weight
        return rerank if w <= 0.0 else (1.0 - w) * rerank + w * retrieval

    def _combined_scores(self, texts: Sequence[str], examined: Sequence[tuple]) -> dict[str, list[float]]:
        """The combiner's probabilities for the candidates of each string (one model call a batch)."""
        from affiliation_curator.engine.combiner import candidate_features, country_sizes

        if self._country_sizes is None:
            from affiliation_curator.engine.score_scale import rescaled_country_sizes

            sizes = country_sizes(self.retriever.institutions)
            if self._post_curve is not None:  # a small registry: counted as the registry fitted on would count
                sizes = rescaled_country_sizes(sizes, len(self.retriever.institutions), self._fitted_size)  # type: ignore[assignment]
            self._country_sizes = sizes
        use_rerank = self.combiner.uses_reranker
        blocks = [candidate_features(text, found, rerank if use_rerank else [None] * len(found), self._by_id,
                                     country_sizes=self._country_sizes)
                  for text, (found, rerank, _e) in zip(texts, examined)]
        sizes = [len(b) for b in blocks]
        values = self.combiner.predict(np.vstack(blocks)) if sum(sizes) else np.zeros(0)
        if self._post_curve is not None and len(values):
            values = self._post_curve.map(values)
        out, start = {}, 0
        for text, n in zip(texts, sizes):
            out[text] = [float(v) for v in values[start : start + n]]
            start += n
        return out

    def _blended_scores(self, found: list[RetrievedCandidate], rerank: list[float | None],
                        examined: list[bool]) -> list[float]:
        """The final score (0-1) of each retrieved candidate without a combiner: the blend of
        reranker and retrieval scores (candidates not reranked follow at half the lowest
        reranked score, in retrieval order)."""
        blended = [self._blend(r or 0.0, rc.score) for rc, r in zip(found, rerank)]
        done = [v for v, e in zip(blended, examined) if e]
        floor = min(done) if done else None
        out = [v if e else 0.5 * min(floor if floor is not None else rc.score, rc.score)
               for rc, v, e in zip(found, blended, examined)]
        if self._raw_curve is not None and out:
            return [float(v) for v in self._raw_curve.map(out)]
        if self.lexical and out:
            return self._lexical_curve(out)
        return out

    def _mark_parts(self, cands: list[Candidate], matches: list[PartMatch]) -> str:
        """Mark the candidates that parts of the string name on their own (appending, unscored,
        those not listed) and return the note saying so."""
        listed = {c.id: c for c in cands}
        for m in matches:
            cand = listed.get(m.institution_id)
            if cand is None:
                inst = self._by_id[m.institution_id]
                cand = Candidate(
                    id=inst.id, name=inst.name, score=0.0, document=self.document(inst), city=inst.city,
                    country_code=inst.country_code, country_name=inst.country_name, types=list(inst.types),
                    status=inst.status, evidence=Evidence(matched_name=inst.name, name_type="ror_display", scored=False),
                )
                cands.append(cand)
                listed[cand.id] = cand
            if not cand.evidence.part:
                cand.evidence.part = m.part + (" (parent)" if m.parent_of else "")
        return several_note(matches, {c.id: c.name for c in cands})

    def _rank(self, found: list[RetrievedCandidate], scores: list[float],
              examined: list[bool] | None = None) -> list[Candidate]:
        cands: list[Candidate] = []
        for n, (rc, score) in enumerate(zip(found, scores)):
            inst = self._by_id[rc.institution_id]
            cands.append(
                Candidate(
                    id=inst.id,
                    name=inst.name,
                    score=float(min(1.0, max(0.0, score))),
                    retrieval_score=float(rc.score),
                    document=self.document(inst, rc),
                    city=inst.city,
                    country_code=inst.country_code,
                    country_name=inst.country_name,
                    types=list(inst.types),
                    status=inst.status,
                    evidence=Evidence(
                        matched_name=rc.matched_name,
                        name_type=rc.name_type,
                        city_match=rc.city_match,
                        country_match=rc.country_match,
                        scored=examined is None or bool(examined[n]),
                    ),
                )
            )
        # Ties (same score) keep the retrieval order, which already holds the location evidence.
        cands.sort(key=lambda c: -c.score)
        cands = cands[: self.top_k]
        self._add_relations(cands)
        return cands

    def _add_relations(self, cands: list[Candidate]) -> None:
        """Parent/child and predecessor/successor links between the listed candidates (either
        record may carry the link, so both directions are read)."""
        position = {c.id: n for n, c in enumerate(cands, 1)}
        links: dict[str, dict[str, str]] = {c.id: {} for c in cands}  # id -> other id -> relation
        inverse = {"parent": "child", "child": "parent", "successor": "predecessor", "predecessor": "successor"}
        for c in cands:
            for rel in self._by_id[c.id].relationships:
                if rel.id in position and rel.id != c.id and rel.type in inverse:
                    links[c.id].setdefault(rel.id, rel.type)
                    links[rel.id].setdefault(c.id, inverse[rel.type])
        words = {"parent": "part of", "child": "parent of", "successor": "succeeded by", "predecessor": "successor of"}
        for c in cands:
            inst = self._by_id[c.id]
            for other_id, rel_type in sorted(links[c.id].items(), key=lambda kv: position[kv[0]]):
                n = position[other_id]
                c.evidence.relations.append(f"{words[rel_type]} candidate {n} ({cands[n - 1].name})")
            if inst.status != "active":
                succ = [r for r in inst.relationships if r.type == "successor"]
                if succ:
                    names = "; ".join(f"{r.label or r.id} ({r.id})" for r in succ)
                    c.evidence.status_note = f"{inst.status}; successor: {names}"
                else:
                    c.evidence.status_note = f"{inst.status}; no successor recorded"
