"""Text normalisation for affiliation strings and registry names.

One normal form for both sides of the match: NFKC, lower case, accents folded, punctuation to
spaces, common abbreviations expanded ("Univ." -> "university") and spelling variants merged
("centre" -> "center"). Scripts other than Latin are kept as they are (lower-cased), so Chinese
or Cyrillic names still match their registry labels; the marks of Devanagari, Thai or kana stay
with their letters. ``atoms`` cuts scripts written without spaces into characters.

Besides the normal form: ``sanitize`` (binary, control characters, overlong strings), ``clean``
(e-mails, URLs, postcodes, footnote markers), ``segments`` ("A; B", comma parts), acronym
tokens, and ``LocationIndex`` (cities and countries named in a string).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable

from affiliation_curator.config import MAX_AFFILIATION_CHARS
from affiliation_curator.registry.countries import COUNTRY_ALIASES

# Function words that carry no identity in an institution's name ("University *of the* Arts"):
# one list for retrieval, the combiner's features and the lexical scorer.
STOPWORDS = frozenset("of the and for de la le des du di del della der und in at et y e da do dos das van von".split())

# --- sanitising -------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")


def sanitize(text: object, max_chars: int = MAX_AFFILIATION_CHARS) -> tuple[str, list[str]]:
    """A safe string to match and notes on what was done; "" when nothing usable is left.

    Bytes are decoded as UTF-8 (invalid bytes replaced); strings that are mostly control or
    replacement characters count as binary and give "".
    """
    notes: list[str] = []
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return "", ["not text"]
    if not text.strip():
        return "", ["empty string"]
    if len(text) > 4 * max_chars:  # look at a bounded prefix only: 100 kB strings stay cheap
        text = text[: 4 * max_chars]
    bad = len(_CONTROL.findall(text)) + text.count("\ufffd")
    if bad > max(3, 0.1 * len(text)):
        return "", ["binary or garbled text (control/invalid characters)"]
    text = _CONTROL.sub(" ", text).replace("\ufffd", " ")
    text = " ".join(text.split())
    if len(text) > max_chars:
        text = text[:max_chars]
        notes.append(f"string cut to {max_chars} characters")
    if not text:
        return "", ["empty string"]
    return text, notes


# --- cleaning ---------------------------------------------------------------------------

_EMAIL = re.compile(r"(?:e-?mail(?: address)?\s*:?\s*)?[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.I)
_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)
_ELECTRONIC = re.compile(r"\b(?:electronic address|e-?mail|tel|phone|fax)\s*[:.]?\s*[+\d()\s-]*", re.I)
_POBOX = re.compile(r"\b(?:p\.?\s?o\.?\s?box|postfach|b\.?p\.?|c\.?p\.?|postbus)\s*\d+\b", re.I)
# Postcodes: digit runs (with an optional country prefix "D-80333", "F-75005"), Dutch "1234 AB",
# British "SW7 2AZ", Canadian "K1A 0B1". Bare numbers of 3+ digits are dropped too (street numbers).
_POSTCODE = re.compile(
    r"\b(?:[A-Z]{1,2}-)?\d{3,}(?:[- ]\d{2,4})?\b"
    r"|\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b"
    r"|\b[A-Z]\d[A-Z] ?\d[A-Z]\d\b"
)
# A leading footnote letter: "a Department ...", "(b) ...", or glued to a word that opens
# affiliations ("aDepartment of ..."); a glued letter before any other capital is part of a
# name ("eLife", "iGReD", "eScience Institute").
_FOOTNOTE_LEAD = re.compile(
    r"^\s*(?:\(?[0-9]{1,2}\)?|\(?[a-z]\)|[a-z](?=\s+[A-Z])"
    r"|[a-z](?=(?:Dep|Div|Fac|Inst|Lab|Sch|Univ|Cent|Coll|Hosp|Grad)[a-z]|(?:Key|State|National) )"
    r"|[*†‡§¶#]+)[\s.,:)]*(?=\S)"
)
_MARKS = re.compile(r"[*†‡§¶⁎∗✉☆★]|[\u00b9\u00b2\u00b3\u2070-\u209f]")


def clean(text: str) -> str:
    """Remove what is never part of an institution name: e-mails, URLs, phone numbers,
    postcodes/P.O. boxes, footnote markers. Keeps word order and the separators , ; ( )."""
    text = _EMAIL.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _ELECTRONIC.sub(" ", text)
    text = _POBOX.sub(" ", text)
    text = _MARKS.sub(" ", text)
    text = _FOOTNOTE_LEAD.sub("", text)
    text = _POSTCODE.sub(" ", text)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,;])", r"\1", text)
    text = re.sub(r"([,;])(?:\s*[,;])+", r"\1", text)
    return text.strip(" ,;.-")


# --- normal form ------------------------------------------------------------------------

_SPECIAL = str.maketrans(
    {
        "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
        "ı": "i", "ħ": "h", "ŀ": "l", "ŧ": "t", "ĸ": "k", "&": " and ", "@": " ",
        "’": "'", "‘": "'", "`": "'", "´": "'",
    }
)

# Abbreviations written in affiliations (after folding; the trailing dot is gone by then).
ABBREVIATIONS: dict[str, str] = {
    "tu": "technical university", "univ": "university", "uni": "university", "universiy": "university", "unversity": "university",
    "inst": "institute", "institut": "institute", "instituto": "institute", "istituto": "institute",
    "dept": "department", "dep": "department", "depts": "departments", "deptt": "department",
    "tech": "technology", "technol": "technology", "technological": "technology",
    "natl": "national", "nat": "national", "nac": "nacional", "natn": "national",
    "ctr": "center", "cntr": "center", "centre": "center", "centro": "center", "zentrum": "center",
    "hosp": "hospital", "med": "medical", "sci": "science", "sciences": "science",
    "acad": "academy", "coll": "college", "res": "research", "lab": "laboratory", "labs": "laboratory",
    "laboratories": "laboratory", "lab'y": "laboratory", "eng": "engineering", "engn": "engineering",
    "chem": "chemistry", "phys": "physics", "math": "mathematics", "intl": "international",
    "int": "international", "assoc": "association", "fac": "faculty", "sch": "school",
    "mt": "mount", "st": "saint", "ste": "sainte", "ft": "fort", "sr": "senior", "cty": "county",
    "organisation": "organization", "programme": "program", "polytech": "polytechnic",
    "politec": "polytechnic", "agric": "agricultural", "biol": "biology", "biomed": "biomedical",
    "clin": "clinical", "environ": "environmental", "gen": "general", "mem": "memorial",
    "educ": "education", "minist": "ministry", "govt": "government", "dev": "development",
    "lib": "library", "soc": "society", "mus": "museum", "observ": "observatory", "hlth": "health",
}

def _mark_class() -> str:
    """A regex character class of the combining marks of the Basic Multilingual Plane."""
    ranges: list[list[int]] = []
    for cp in range(0x300, 0x10000):
        if unicodedata.category(chr(cp)).startswith("M"):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
    return "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in ranges)


# A word: letters and digits with the marks that belong to them (a Devanagari vowel sign, a Thai
# vowel or tone mark is part of its word, not a word break).
_TOKEN = re.compile(rf"(?:\w|[{_mark_class()}])+", re.UNICODE)


def _strips_marks(base: str) -> bool:
    """Accents are dropped after a Latin, Greek or Cyrillic letter ("é" -> "e", "ά" -> "α") and the
    optional vowel points of Arabic and Hebrew; elsewhere a mark is part of the letter
    (Devanagari, Thai, Japanese kana "ガ" != "カ") and stays."""
    cp = ord(base)
    return cp < 0x0530 or 0x1E00 <= cp < 0x2000 or 0x0590 <= cp < 0x0900 or 0xFB1D <= cp < 0xFF00


def _drop_accents(decomposed: str) -> str:
    out: list[str] = []
    base = " "
    for c in decomposed:
        if unicodedata.combining(c):
            if _strips_marks(base):
                continue
        else:
            base = c
        out.append(c)
    return "".join(out)


@functools.lru_cache(maxsize=1 << 16)  # institution names recur in every string's candidate list
def fold(text: str) -> str:
    """NFKC, lower case, accents removed, punctuation to spaces; non-Latin scripts kept."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_SPECIAL)
    decomposed = unicodedata.normalize("NFKD", text)
    if decomposed.isascii():
        text = decomposed
    else:
        text = _drop_accents(decomposed)
    text = unicodedata.normalize("NFC", text)  # re-compose scripts where marks are letters (Hangul, kana...)
    text = re.sub(r"(?<=\w)'(?=\w)", "", text)  # Queen's -> queens, l'universite -> luniversite
    return " ".join(_TOKEN.findall(text.replace("_", " ")))


@functools.lru_cache(maxsize=1 << 16)
def normalize(text: str) -> str:
    """The normal form used for indexing and search: ``fold`` plus abbreviations expanded."""
    return " ".join(ABBREVIATIONS.get(t, t) for t in fold(text).split())


def tokens(text: str) -> list[str]:
    return normalize(text).split()


# --- scripts ----------------------------------------------------------------------------

# Scripts written without spaces between words (Chinese, Japanese, Thai, Lao, Khmer, Myanmar,
# Tibetan) and Hangul, whose compounds are often glued ("서울대학교병원"): a run of them is no
# word; it is compared by character bigrams and scanned for names character by character.
_UNSPACED = (
    (0x0E00, 0x0FFF), (0x1000, 0x109F), (0x1100, 0x11FF), (0x1780, 0x17FF), (0x2E80, 0x9FFF),
    (0xA960, 0xA97F), (0xAC00, 0xD7FF), (0xF900, 0xFAFF), (0xFF65, 0xFFDC), (0x20000, 0x3FFFF),
)
_LATIN_HIGH = ((0x1E00, 0x1EFF), (0x2C60, 0x2C7F), (0xA720, 0xA7FF), (0xFF00, 0xFF64))


def is_unspaced(char: str) -> bool:
    """A character of a script written without spaces between words (see ``_UNSPACED``)."""
    cp = ord(char)
    return cp >= 0x0E00 and any(a <= cp <= b for a, b in _UNSPACED)


def has_non_latin(text: str) -> bool:
    """Whether ``text`` holds a letter of a script other than Latin (Greek, Cyrillic, Han...)."""
    for c in text:
        cp = ord(c)
        if cp >= 0x0370 and c.isalpha() and not any(a <= cp <= b for a, b in _LATIN_HIGH):
            return True
    return False


def word_runs(word: str) -> list[tuple[str, bool]]:
    """A word cut where it passes between unspaced and other scripts: (run, unspaced) pairs."""
    if word.isascii():
        return [(word, False)]
    runs: list[tuple[str, bool]] = []
    for c in word:
        flag = is_unspaced(c)
        if runs and runs[-1][1] == flag:
            runs[-1] = (runs[-1][0] + c, flag)
        else:
            runs.append((c, flag))
    return runs


def bigrams(run: str) -> list[str]:
    """Overlapping character bigrams of a run (the run itself when it is one character)."""
    return [run] if len(run) < 2 else [run[i : i + 2] for i in range(len(run) - 1)]


def atoms(normal: str) -> list[str]:
    """A normal form as the units a name is scanned in: words, and single characters of
    unspaced scripts ("東京大学 物理" -> 東 京 大 学 物 理)."""
    out: list[str] = []
    for word in normal.split():
        for run, unspaced in word_runs(word):
            if unspaced:
                out.extend(run)
            else:
                out.append(run)
    return out


# --- segments and acronyms --------------------------------------------------------------

_SEG_SPLIT = re.compile(r"\s*[;|\n\t]\s*|\s+(?:/|-|–|—)\s+|(?<=[a-z])(?:-|–|—)\s+(?=[A-Z])")
_AND_SPLIT = re.compile(r"\s+(?:and|&)\s+(?=[A-Z])")
_SLASH_SPLIT = re.compile(r"\s*/\s*")
_PART_SPLIT = re.compile(r"\s*,\s*|\s*\(\s*|\s*\)\s*|\s*[:\[\]]\s*")


def institution_groups(text: str) -> list[str]:
    """Split a string naming several institutions ("A; B", "A | B", "A and B") into groups."""
    return [g for g in (g.strip(" ,.;") for g in _SEG_SPLIT.split(text)) if g]


def parts(text: str) -> list[str]:
    """Comma / parenthesis parts of one group ("Dept. X", "TU Munich", "Munich", "Germany")."""
    return [p for p in (p.strip(" ,.;-") for p in _PART_SPLIT.split(text)) if p]


def segments(text: str, max_parts: int = 12) -> list[str]:
    """Search units of a cleaned affiliation: each comma part and each run of two or three
    adjacent parts (names may contain a comma: "University of California, Berkeley"), within
    each institution group; deduplicated, in order."""
    out: list[str] = []
    for group in institution_groups(text):
        ps = parts(group)[:max_parts]
        out.extend(ps)
        for p in ps:
            # "Wellman Center for Photomedicine and Harvard Medical School", "Weill Cornell/NY
            # Presbyterian": the pieces join the whole; a one-word piece ("... Science and
            # Technology") is no name on its own.
            for splitter in (_AND_SPLIT, _SLASH_SPLIT):
                pieces = [x.strip() for x in splitter.split(p)]
                if len(pieces) > 1:
                    out.extend(x for x in pieces if len(x.split()) >= 2)
        for width in (2, 3):
            out.extend(" ".join(ps[i : i + width]) for i in range(len(ps) - width + 1))
        if len(ps) > 3:
            out.append(group)
    seen: set[str] = set()
    return [s for s in out if not (s in seen or seen.add(s))]


_ACRONYM = re.compile(r"\b[A-Z][A-Za-z&]*[A-Z]+[a-z]?\b|\b[A-Z](?:\.[A-Z])+\.?")


def acronym_tokens(text: str) -> list[str]:
    """Tokens that look like acronyms in the original string ("TUM", "EPFL", "U.C.L.A.", "UniBo"
    is not); returned in the acronym key form (upper case, no dots)."""
    found = []
    for m in _ACRONYM.finditer(text):
        tok = m.group(0).replace(".", "").replace("&", "")
        caps = sum(c.isupper() for c in tok)
        if 2 <= len(tok) <= 12 and caps >= max(2, len(tok) - 2):
            found.append(acronym_key(tok))
    return list(dict.fromkeys(found))


def acronym_key(value: str) -> str:
    """Key under which acronyms are compared: folded, upper case, no dots/spaces."""
    return fold(value).replace(" ", "").upper()


# --- locations --------------------------------------------------------------------------

# Country words: registry.countries.COUNTRY_ALIASES and the country names of the registry searched.

# US states (full names only: the two-letter codes collide with too many words).
US_STATES = (
    "alabama alaska arizona arkansas california colorado connecticut delaware florida georgia hawaii "
    "idaho illinois indiana iowa kansas kentucky louisiana maine maryland massachusetts michigan "
    "minnesota mississippi missouri montana nebraska nevada ohio oklahoma oregon pennsylvania "
    "tennessee texas utah vermont virginia washington wisconsin wyoming"
).split() + ["new hampshire", "new jersey", "new mexico", "new york", "north carolina",
             "north dakota", "rhode island", "south carolina", "south dakota", "west virginia"]

# City names that are also everyday words of affiliations: never taken as a city mention.
_CITY_STOPWORDS = {
    "university", "college", "center", "school", "hospital", "institute", "medical", "science",
    "national", "research", "saint", "college station", "of", "de", "la", "general", "union",
    "victoria", "university park", "mobile", "split", "nice", "reading", "bath", "university city",
    "research triangle park", "academy", "department", "laboratory", "central", "hope", "health",
}


@dataclass
class LocationMentions:
    cities: set[str] = field(default_factory=set)  # normal forms of city names
    countries: set[str] = field(default_factory=set)  # ISO codes
    words: set[str] = field(default_factory=set)  # words of the string that belong to a place name


class LocationIndex:
    """Finds registry cities and countries (plus common aliases) named in a string."""

    def __init__(self, cities: Iterable[str], countries: Iterable[tuple[str, str]]):
        self.city_forms: set[str] = set()
        for city in cities:
            form = normalize(city)
            if form and len(form) >= 3 and form not in _CITY_STOPWORDS:
                self.city_forms.add(form)
        self.country_forms: dict[str, str] = {}
        for code, name in countries:
            if code and name:
                self.country_forms[normalize(name)] = code.upper()
        for alias, code in COUNTRY_ALIASES.items():
            self.country_forms.setdefault(normalize(alias), code)
        for state in US_STATES:
            self.country_forms.setdefault(state, "US")
        self.max_words = max([len(f.split()) for f in self.city_forms | set(self.country_forms)] + [1])
        self.max_words = min(self.max_words, 4)

    def find(self, normal_text: str) -> LocationMentions:
        """Cities and countries in a normalised string (word n-grams up to four words)."""
        words = normal_text.split()
        found = LocationMentions()
        for n in range(1, self.max_words + 1):
            for i in range(len(words) - n + 1):
                gram = " ".join(words[i : i + n])
                if gram in self.city_forms:
                    found.cities.add(gram)
                    found.words.update(words[i : i + n])
                code = self.country_forms.get(gram)
                if code:
                    found.countries.add(code)
                    found.words.update(words[i : i + n])
        return found
