"""The engine on strings naming several institutions (several.py) and on candidates it did not
score (issue 12), on the demo registry with the lexical scorer."""

from __future__ import annotations

import pytest

from affiliation_curator.engine.several import PartMatch, detect_many, note, string_parts

MIT = "https://ror.org/042nb2s44"
HARVARD = "https://ror.org/03vek6s52"
MPI_BIOCHEM = "https://ror.org/04py35477"
MPG = "https://ror.org/01hhn8329"
TUM = "https://ror.org/02kkvpp62"


@pytest.fixture(scope="module")
def matcher(demo_institutions):  # noqa: F811
    from affiliation_curator.engine.matcher import Matcher
    from affiliation_curator.engine.reranker import LexicalScorer

    return Matcher(demo_institutions, LexicalScorer(), combiner=False)  # without a combiner some candidates stay unscored


def test_parts_leave_out_places_numbers_and_acronyms():
    assert string_parts("Dept X, University Medical Center Utrecht; Utrecht University, 3584 Utrecht, NL, 12") == [
        "Dept X", "University Medical Center Utrecht", "Utrecht University"]


def test_two_parts_each_naming_an_institution_are_marked(matcher):
    result = matcher.match("Dept of Physics, Massachusetts Institute of Technology; Harvard University, Cambridge, MA")
    assert [c.id for c in result.several] == [MIT, HARVARD]
    assert result.candidates[0].evidence.part == "Massachusetts Institute of Technology"
    assert any(n.startswith("names several institutions: “Massachusetts Institute of Technology” → "
                            "Massachusetts Institute of Technology") for n in result.notes)
    assert "named on its own: Harvard University" in result.candidates[1].evidence.summary()


def test_a_lab_and_its_parent_are_marked(matcher):
    result = matcher.match("Max Planck Institute of Biochemistry, Max Planck Society, Martinsried, Germany")
    assert {c.id for c in result.several} == {MPI_BIOCHEM, MPG}


def test_a_string_naming_one_institution_is_not_marked(matcher):
    result = matcher.match("Department of Surgery, Technical University of Munich, Munich, Germany")
    assert result.candidates[0].id == TUM and result.several == [] and not any("several" in n for n in result.notes)
    off = type(matcher)(matcher.registry, matcher.scorer, detect_several=False)
    assert off.match("Dept of Physics, Massachusetts Institute of Technology; Harvard University").several == []


def test_a_named_institution_outside_the_list_is_appended_unscored(matcher):
    cands = [c for c in matcher.match("Technical University of Munich").candidates if c.id != HARVARD]
    text = matcher._mark_parts(cands, [PartMatch("Technical University of Munich", TUM), PartMatch("Harvard University", HARVARD)])
    added = cands[-1]
    assert added.id == HARVARD and not added.scored and added.evidence.part == "Harvard University"
    assert text == note([PartMatch("Technical University of Munich", TUM), PartMatch("Harvard University", HARVARD)],
                        {c.id: c.name for c in cands})


def test_candidates_not_reranked_are_marked_not_scored(matcher):
    result = matcher.match("Technical University of Munich, Germany")
    flags = [c.scored for c in result.candidates]
    assert flags[0] and flags[1] and not all(flags)  # the reranked ones first, then the rest unscored
    assert flags == sorted(flags, reverse=True)


def test_detect_many_searches_each_part_once_and_reuses_whole_string_hits():
    class Hit:
        def __init__(self, inst, score, name, kind="ror_display"):
            self.institution_id, self.score, self.matched_name, self.name_type = inst, score, name, kind

    class Retriever:
        def __init__(self):
            self.asked = []

        def search_many(self, texts, k):
            self.asked.append(list(texts))
            table = {"Utrecht University": [Hit("uu", 1.0, "Utrecht University")],
                     "University Medical Center Utrecht": [Hit("umcu", 0.95, "University Medical Center Utrecht")],
                     "Some Lab Name": [Hit("lab", 0.9, "Some Lab Name"), Hit("parent", 0.97, "Some Lab Name")]}
            return [table.get(t, []) for t in texts]

    class Rel:
        type, id = "parent", "parent"

    class Inst:
        relationships = [Rel()]

    r = Retriever()
    texts = ["University Medical Center Utrecht, Utrecht University", "Utrecht University; University Medical Center Utrecht",
             "Some Lab Name, Berlin"]
    found = detect_many(texts, r, {"lab": Inst()}, whole=[[], [], [Hit("lab", 0.9, "Some Lab Name"), Hit("parent", 0.97, "x")]])
    assert [[m.institution_id for m in f] for f in found] == [["umcu", "uu"], ["uu", "umcu"], ["lab", "parent"]]
    assert found[2][1].parent_of == "lab"
    assert len(r.asked) == 1 and sorted(r.asked[0]) == ["University Medical Center Utrecht", "Utrecht University"]


def test_the_match_output_marks_unscored_candidates(matcher):
    line = matcher.match("Technical University of Munich, Germany").to_json()
    flags = [c.get("scored", True) for c in line["candidates"]]
    assert flags[0] is True and False in flags and "scored" not in line["candidates"][0]
