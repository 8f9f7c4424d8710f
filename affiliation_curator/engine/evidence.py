"""Evidence a curator weighs that plain word overlap misses (issue #15): features for the combiner.

- **Abbreviations and truncations**: "Pennsylvania State Univ." names Pennsylvania State
  University, not the University of Pennsylvania; "Natl Inst. of Tech." is a National Institute
  of Technology. Words are compared by stem (``stem``: known abbreviations expanded, then the
  first five letters), so "Univ." = "University" = "Universität", "Tech." = "Technical" =
  "Technology", and "of the" is dropped on both sides.
- **Every name counts**: a string may use a former name or an alias; the candidate's names (display,
  labels, aliases) are all compared, not only the one retrieval matched.
- **Whole part, not just overlap**: the F1 of a comma part's stems against a name's stems:
  "Technical University of Wrocław" covers all of "University of Wrocław", but has a word
  ("technical") that name lacks, which the F1 sees.
- **Places that contradict**: a country-prefixed postcode ("D-7800 Freiburg": Germany) and a city of
  the registry named in the string that lies only in other countries than the candidate's.
- **What kind of string it is** ("no match" evidence): whether it names an organisation at all
  (university, institute, hospital ... in several languages), only a unit (department,
  division), a person's role (professor, student), or a company (Inc., GmbH, Ltd).

``extra_features`` gives one row of ``EXTRA_FEATURES`` per candidate; combiner.py appends them to its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from affiliation_curator.institution import Institution
from affiliation_curator.text import clean, institution_groups, normalize, parts

MISSING = -1.0

EXTRA_FEATURES: tuple[str, ...] = (
    "abbr_name_covered",  # best share of one name's stems found in the string (any name of the candidate)
    "abbr_part_f1",  # best F1 of one comma part's stems against one name's stems
    "abbr_part_exact",  # some comma part has exactly the stems of one of its names
    "abbr_display_f1",  # best F1 of one part against the display name
    "abbr_name_written",  # one of its names is written in the string, word after word (abbreviations allowed)
    "part_extra_words",  # stems of the best-matching part that the best name lacks (organisation words count)
    "postcode_country",  # 1 a country-prefixed postcode names its country, 0 another country, MISSING none
    "city_elsewhere",  # 1 the places named (outside its name) lie only in other countries, 0 its city/country named, MISSING none
    "string_org_word",  # the string names an organisation word (university, institute, hospital ...)
    "string_unit_only",  # unit words (department, division ...) and no organisation word
    "string_person_word",  # professor, student, researcher ...
    "string_company_word",  # Inc., Ltd, GmbH ...
    "string_parts",  # comma parts of the string
    "parts_unexplained",  # share of the string's non-place parts sharing no stem with any of its names
)

# Abbreviations and truncations as written in affiliations (normalised: lower case, no dots).
ABBREVIATIONS: dict[str, str] = {
    "univ": "university", "uni": "university", "universitat": "university", "universite": "university",
    "universita": "university", "universidad": "university", "universidade": "university",
    "universiteit": "university", "uniwersytet": "university", "universitet": "university",
    "inst": "institute", "institut": "institute", "instituto": "institute", "istituto": "institute",
    "tech": "technology", "technol": "technology", "techn": "technology", "tecnologia": "technology",
    "technische": "technology", "technical": "technology", "technological": "technology",
    "technischen": "technology", "polytech": "polytechnic",
    "natl": "national", "nat": "national", "nac": "national", "naz": "national", "natn": "national",
    "dept": "department", "dep": "department", "depto": "department", "departamento": "department",
    "dipartimento": "department", "departement": "department", "div": "division",
    "ctr": "center", "cntr": "center", "cent": "center", "centre": "center", "centro": "center",
    "zentrum": "center", "lab": "laboratory", "labs": "laboratory", "lab.": "laboratory",
    "hosp": "hospital", "coll": "college", "sch": "school", "acad": "academy", "sci": "science",
    "sciences": "science", "med": "medical", "medicine": "medical", "res": "research",
    "fac": "faculty", "eng": "engineering", "engn": "engineering", "engg": "engineering",
    "intl": "international", "int": "international", "assoc": "association", "soc": "society",
    "fdn": "foundation", "found": "foundation", "govt": "government", "gov": "government",
    "agric": "agriculture", "agricultural": "agriculture", "mem": "memorial", "reg": "regional",
    "ist": "institute",
}
STOP = frozenset("of the and for de la le les des du di del della dello der die das und in at et y e da do dos "
                 "das van von zu a an fur".split())

ORG_STEMS = frozenset(s[:5] for s in (
    "university college institute hospital academy school center laboratory observatory museum library "
    "ministry council agency foundation society association organization organisation clinic klinikum "
    "hochschule fachhochschule politecnico polytechnic conservatory seminary consortium survey service "
    "authority company corporation infirmary sanatorium trust observatoire agence fondazione fundacion "
    "fundacao stiftung gesellschaft akademie academia akademia ecole escuela escola scuola "
    "universitat universite universita universidad universidade universiteit uniwersytet universitet "
    "institut instituto istituto centre centro zentrum klinik clinica hopital ospedale hospital "
    "politechnika polytechnique kolej college daigaku gakuin").split())
UNIT_STEMS = frozenset(s[:5] for s in (
    "department division faculty section unit group program programme laboratory lab chair "
    "graduate discipline major track department subdepartment service ward course specialty "
    "departamento dipartimento departement lehrstuhl abteilung fachbereich fakultat facultad "
    "faculdade facolta").split()) - {"labor"}
PERSON_WORDS = frozenset(
    "professor prof emeritus student phd postdoc postdoctoral researcher scientist lecturer fellow "
    "independent retired consultant dr md msc bsc mba candidate scholar visiting assistant associate "
    "author private practice practitioner freelance engineer physician nurse teacher".split())
COMPANY_WORDS = frozenset(
    "inc llc ltd limited gmbh corp corporation plc ag sa srl sas bv nv pty kk co spa oy ab as kft "
    "sro zao ooo".split())

# Country-prefixed postcodes of the old European style ("D-7800", "CH-1700", "F-75005").
_POSTCODE_PREFIX = re.compile(r"\b(D|DE|F|FR|CH|A|AT|I|IT|NL|B|BE|DK|S|SE|N|NO|FIN|FI|SF|E|ES|P|PT|PL|CZ|CS|H|HU|"
                              r"GR|L|LU|IRL|IE|J|SK|SLO|SI|HR|RO|BG|LT|LV|EE|IS|RUS|UA|TR|IL|GB|UK|CY|M|MT)"
                              r"\s?-\s?\d{3,6}\b")
_PREFIX_COUNTRY = {
    "D": "DE", "DE": "DE", "F": "FR", "FR": "FR", "CH": "CH", "A": "AT", "AT": "AT", "I": "IT", "IT": "IT",
    "NL": "NL", "B": "BE", "BE": "BE", "DK": "DK", "S": "SE", "SE": "SE", "N": "NO", "NO": "NO", "FIN": "FI",
    "FI": "FI", "SF": "FI", "E": "ES", "ES": "ES", "P": "PT", "PT": "PT", "PL": "PL", "CZ": "CZ", "CS": "CZ",
    "H": "HU", "HU": "HU", "GR": "GR", "L": "LU", "LU": "LU", "IRL": "IE", "IE": "IE", "J": "JP", "SK": "SK",
    "SLO": "SI", "SI": "SI", "HR": "HR", "RO": "RO", "BG": "BG", "LT": "LT", "LV": "LV", "EE": "EE",
    "IS": "IS", "RUS": "RU", "UA": "UA", "TR": "TR", "IL": "IL", "GB": "GB", "UK": "GB", "CY": "CY",
    "M": "MT", "MT": "MT",
}


@lru_cache(maxsize=400_000)
def stem(word: str) -> str:
    """A normalised word's comparison form: abbreviation expanded, first five letters."""
    return ABBREVIATIONS.get(word, word)[:5]


@lru_cache(maxsize=200_000)
def stems(text: str) -> tuple[str, ...]:
    """The stems of a text's content words, in order (stop words dropped)."""
    return tuple(stem(w) for w in normalize(text).split() if w not in STOP)


def _f1(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    common = len(a & b)
    return 2.0 * common / (len(a) + len(b))


def postcode_countries(text: str) -> set[str]:
    """ISO codes of the countries that country-prefixed postcodes in the raw string name."""
    return {_PREFIX_COUNTRY[m.group(1)] for m in _POSTCODE_PREFIX.finditer(text)}


@dataclass
class CityTable:
    """Registry cities and country names (normal form) -> the countries they lie in; built once per registry."""

    countries: dict[str, frozenset[str]]
    max_words: int = 3

    @classmethod
    def of(cls, institutions: Iterable[Institution]) -> "CityTable":
        table: dict[str, set[str]] = {}
        for inst in institutions:
            if inst.city and inst.country_code:
                form = normalize(inst.city)
                if form and len(form) >= 4 and not (set(stems(form)) & (ORG_STEMS | UNIT_STEMS)):
                    table.setdefault(form, set()).add(inst.country_code.upper())
                country = normalize(inst.country_name or "")
                if country:
                    table.setdefault(country, set()).add(inst.country_code.upper())
        return cls({k: frozenset(v) for k, v in table.items()})

    def find(self, normal: str) -> dict[str, frozenset[str]]:
        words = normal.split()
        out: dict[str, frozenset[str]] = {}
        for n in range(1, self.max_words + 1):
            for i in range(len(words) - n + 1):
                gram = " ".join(words[i:i + n])
                hit = self.countries.get(gram)
                if hit:
                    out[gram] = hit
        return out


@dataclass
class StringEvidence:
    """What the features need of one string, computed once."""

    part_stems: list[frozenset[str]]
    part_text: list[str]  # each part's stems in order, space-separated and space-padded
    part_cities: list[dict[str, frozenset[str]]]  # registry cities named in each part
    all_stems: frozenset[str]
    postcode: set[str]
    cities: dict[str, frozenset[str]]
    org_word: bool
    unit_only: bool
    person_word: bool
    company_word: bool
    n_parts: int
    place_parts: list[bool] = field(default_factory=list)

    @classmethod
    def of(cls, text: str, cities: CityTable | None = None) -> "StringEvidence":
        cleaned = clean(text) or text
        raw_parts = [p for g in institution_groups(cleaned) for p in parts(g)]
        kept = [(p, stems(p)) for p in raw_parts]
        kept = [(p, q) for p, q in kept if q]
        part_stems = [frozenset(q) for _p, q in kept]
        part_text = [" " + " ".join(q) + " " for _p, q in kept]
        part_cities = [cities.find(normalize(p)) if cities is not None else {} for p, _q in kept]
        normal = normalize(cleaned)
        words = set(normal.split())
        all_stems = frozenset(s for p in part_stems for s in p)
        found = {c: v for pc in part_cities for c, v in pc.items()}
        place_parts = [bool(p) and bool(pc) and p <= {stem(w) for c in pc for w in c.split()}
                       for p, pc in zip(part_stems, part_cities)]
        org = bool(all_stems & ORG_STEMS)
        unit = bool(all_stems & UNIT_STEMS)
        return cls(part_stems, part_text, part_cities, all_stems, postcode_countries(text), found, org, unit and not org,
                   bool(words & PERSON_WORDS), bool(words & COMPANY_WORDS), len(part_stems), place_parts)


def _name_stems(inst: Institution, extra: Sequence[str] = ()) -> list[tuple[frozenset[str], bool, str]]:
    """(stems, is the display name, stems in order as padded text) of its non-acronym names (and ``extra``)."""
    values = [(inst.name, True)] + [(n.value, False) for n in inst.names
                                    if "acronym" not in n.types and n.value != inst.name]
    values += [(n, False) for n in extra if n]
    out = []
    for value, display in values:
        seq = stems(value)
        if seq:
            out.append((frozenset(seq), display, " " + " ".join(seq) + " "))
    return out


def extra_features(view: StringEvidence, insts: Sequence[Institution | None], matched: Sequence[str]) -> np.ndarray:
    """Rows of ``EXTRA_FEATURES`` for the candidates ``insts`` (with the names retrieval matched)."""
    out = np.full((len(insts), len(EXTRA_FEATURES)), MISSING, dtype=np.float64)
    col = {name: k for k, name in enumerate(EXTRA_FEATURES)}
    string_level = {"string_org_word": float(view.org_word), "string_unit_only": float(view.unit_only),
                    "string_person_word": float(view.person_word), "string_company_word": float(view.company_word),
                    "string_parts": float(view.n_parts)}
    content_parts = [p for p, place in zip(view.part_stems, view.place_parts) if not place] or view.part_stems
    for i, inst in enumerate(insts):
        row = out[i]
        for k, v in string_level.items():
            row[col[k]] = v
        if inst is None:
            continue
        names = _name_stems(inst, (matched[i],) if i < len(matched) else ())
        row[col["abbr_name_covered"]] = max((len(s & view.all_stems) / len(s) for s, _d, _t in names), default=0.0)
        row[col["abbr_name_written"]] = float(any(t in p for _s, _d, t in names for p in view.part_text))
        best_f1, best_pair, best_part, disp_f1, exact = 0.0, None, -1, 0.0, 0.0
        for s, display, _t in names:
            for k, p in enumerate(view.part_stems):
                f = _f1(s, p)
                if f > best_f1:
                    best_f1, best_pair, best_part = f, (s, p), k
                if display and f > disp_f1:
                    disp_f1 = f
                if f == 1.0:
                    exact = 1.0
        row[col["abbr_part_f1"]] = best_f1
        row[col["abbr_part_exact"]] = exact
        row[col["abbr_display_f1"]] = disp_f1
        row[col["part_extra_words"]] = float(len(best_pair[1] - best_pair[0])) if best_pair else MISSING
        code = (inst.country_code or "").upper()
        if view.postcode and code:
            row[col["postcode_country"]] = float(code in view.postcode)
        # cities named outside the part that names the candidate (a city inside a name is part of the name)
        named = {c: v for k, pc in enumerate(view.part_cities) if k != best_part for c, v in pc.items()}
        if named and code:
            city = normalize(inst.city or "")
            if city and city in named:
                row[col["city_elsewhere"]] = 0.0
            else:
                row[col["city_elsewhere"]] = float(all(code not in cs for cs in named.values()))
        all_names = frozenset(x for s, _d, _t in names for x in s)
        row[col["parts_unexplained"]] = (sum(1 for p in content_parts if not (p & all_names)) / len(content_parts)
                                         if content_parts else 0.0)
    return out


def city_table_for(by_id: dict[str, Institution]) -> CityTable:
    """The city table of a registry (cached for the dict's lifetime by identity)."""
    key = id(by_id)
    hit = _TABLES.get(key)
    if hit is None or hit[0] is not by_id:
        hit = (by_id, CityTable.of(by_id.values()))
        _TABLES.clear()  # one registry at a time is the common case; keep memory bounded
        _TABLES[key] = hit
    return hit[1]


_TABLES: dict[int, tuple[Any, CityTable]] = {}
