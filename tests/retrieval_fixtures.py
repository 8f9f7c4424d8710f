"""A small hand-written registry for retrieval and matching tests (no shared data needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from affiliation_curator.institution import Institution, Name, Relationship
from affiliation_curator.engine.retrieval import Retriever


def inst(ror: str, name: str, city: str, cc: str, country: str, *, labels=(), aliases=(), acronyms=(),
         relationships=(), status="active", types=("education",)) -> Institution:
    names = [Name(name, ("ror_display", "label"), "en")]
    names += [Name(v, ("label",), lang) for v, lang in labels]
    names += [Name(v, ("alias",)) for v in aliases]
    names += [Name(v, ("acronym",)) for v in acronyms]
    return Institution(id=f"https://ror.org/{ror}", name=name, names=names, city=city, country_code=cc,
                       country_name=country, types=list(types), status=status,
                       relationships=list(relationships))


def small_institutions() -> list[Institution]:
    return [
        inst("02kkvpp62", "Technical University of Munich", "Munich", "DE", "Germany",
             labels=[("Technische Universität München", "de")], acronyms=["TUM"],
             aliases=["TU Munich", "TU München"]),
        inst("05591te55", "Ludwig-Maximilians-Universität München", "Munich", "DE", "Germany",
             labels=[("Ludwig Maximilian University of Munich", "en")], acronyms=["LMU"]),
        inst("02s376052", "École Polytechnique Fédérale de Lausanne", "Lausanne", "CH", "Switzerland",
             labels=[("Swiss Federal Institute of Technology in Lausanne", "en")], acronyms=["EPFL"]),
        inst("0495fxg12", "Institut Pasteur", "Paris", "FR", "France", types=("nonprofit",)),
        inst("052gg0110", "University of Oxford", "Oxford", "GB", "United Kingdom"),
        inst("03vek6s52", "Harvard University", "Cambridge", "US", "United States"),
        inst("03wevmz92", "Harvard Medical School", "Boston", "US", "United States",
             relationships=[Relationship("parent", "https://ror.org/03vek6s52", "Harvard University")]),
        inst("02v51f717", "Peking University", "Beijing", "CN", "China", labels=[("北京大学", "zh")], acronyms=["PKU"]),
        inst("01an7q238", "University of California, Berkeley", "Berkeley", "US", "United States",
             acronyms=["UCB"], aliases=["UC Berkeley"]),
        inst("046rm7j60", "University of California, Los Angeles", "Los Angeles", "US", "United States",
             acronyms=["UCLA"]),
        # Two institutions with the same name in different cities: location decides.
        inst("00aaaaa01", "Saint Mary's Hospital", "London", "GB", "United Kingdom", types=("healthcare",)),
        inst("00aaaaa02", "Saint Mary's Hospital", "Rochester", "US", "United States", types=("healthcare",)),
        inst("00aaaaa03", "Old Institute of Chemistry", "Lyon", "FR", "France", status="inactive",
             relationships=[Relationship("successor", "https://ror.org/00aaaaa04", "New Institute of Chemistry")]),
        inst("00aaaaa04", "New Institute of Chemistry", "Lyon", "FR", "France"),
        inst("00aaaaa05", "University of Lyon", "Lyon", "FR", "France", acronyms=["UdL"]),
        inst("00aaaaa06", "Meteorological Research Agency", "Reykjavik", "IS", "Iceland", types=("government",)),
    ]


def script_institutions() -> list[Institution]:
    """The small registry plus institutions named in other scripts (labels as ROR gives them),
    and look-alikes that share words or characters with them."""
    return small_institutions() + [
        inst("057zh3y96", "The University of Tokyo", "Tokyo", "JP", "Japan", labels=[("東京大学", "ja")]),
        inst("02kpeqv85", "Kyoto University", "Kyoto", "JP", "Japan", labels=[("京都大学", "ja")], aliases=["京大"]),
        inst("00ws30h19", "Tokyo Metropolitan University", "Hachioji", "JP", "Japan", labels=[("東京都立大学", "ja")]),
        inst("0519st743", "Dalian Art College", "Dalian", "CN", "China", labels=[("大连艺术学院", "zh")]),
        inst("03cve4549", "Tsinghua University", "Beijing", "CN", "China", labels=[("清华大学", "zh")]),
        inst("022k4wk35", "Beijing Normal University", "Beijing", "CN", "China", labels=[("北京师范大学", "zh")]),
        inst("04h9pn542", "Seoul National University", "Seoul", "KR", "South Korea", labels=[("서울대학교", "ko")]),
        inst("047dqcg40", "Korea University", "Seoul", "KR", "South Korea", labels=[("고려대학교", "ko")]),
        inst("01znkr924", "Mahidol University", "Salaya", "TH", "Thailand", labels=[("มหาวิทยาลัยมหิดล", "th")]),
        inst("028wp3y58", "Chulalongkorn University", "Bangkok", "TH", "Thailand",
             labels=[("จุฬาลงกรณ์มหาวิทยาลัย", "th")]),
        inst("03q21mh05", "Cairo University", "Giza", "EG", "Egypt", labels=[("جامعة القاهرة", "ar")]),
        inst("00cb9w016", "Ain Shams University", "Cairo", "EG", "Egypt", labels=[("جامعة عين شمس", "ar")]),
        inst("03qxff017", "Hebrew University of Jerusalem", "Jerusalem", "IL", "Israel",
             labels=[("האוניברסיטה העברית בירושלים", "he")]),
        inst("04mhzgx49", "Tel Aviv University", "Tel Aviv", "IL", "Israel", labels=[("אוניברסיטת תל אביב", "he")]),
        inst("04gzb2213", "University of Delhi", "New Delhi", "IN", "India", labels=[("दिल्ली विश्वविद्यालय", "hi")]),
        inst("04cdn2797", "Banaras Hindu University", "Varanasi", "IN", "India",
             labels=[("काशी हिन्दू विश्वविद्यालय", "hi")]),
        inst("04gnjpq42", "National and Kapodistrian University of Athens", "Athens", "GR", "Greece",
             labels=[("Εθνικό και Καποδιστριακό Πανεπιστήμιο Αθηνών", "el")]),
        inst("02j61yw88", "Aristotle University of Thessaloniki", "Thessaloniki", "GR", "Greece",
             labels=[("Αριστοτέλειο Πανεπιστήμιο Θεσσαλονίκης", "el")]),
        inst("010pmpe69", "Lomonosov Moscow State University", "Moscow", "RU", "Russia",
             labels=[("Московский государственный университет имени М. В. Ломоносова", "ru")],
             aliases=["Московский государственный университет"]),
        inst("023znxa73", "Saint Petersburg State University", "Saint Petersburg", "RU", "Russia",
             labels=[("Санкт-Петербургский государственный университет", "ru")]),
    ]


class SmallRegistry:
    """Stands in for affiliation_curator.registry.Registry where a test needs no catalog."""

    def __init__(self, institutions: list[Institution], folder: Path | None = None, version_key: str = "v1"):
        self.institutions = institutions
        self.folder = folder
        self.version_key = version_key
        self.name = "small"
        self._by_id = {i.id: i for i in institutions}

    def __iter__(self):
        return iter(self.institutions)

    def __len__(self) -> int:
        return len(self.institutions)

    def get(self, ror_id: str) -> Institution | None:
        return self._by_id.get(ror_id)


@pytest.fixture(scope="module")
def registry() -> SmallRegistry:
    """The small registry, shared by a test module."""
    return SmallRegistry(small_institutions())


@pytest.fixture(scope="module")
def retriever(registry) -> Retriever:
    """A retriever over the small registry, shared by a test module."""
    return Retriever(registry.institutions)
