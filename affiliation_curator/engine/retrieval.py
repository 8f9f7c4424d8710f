"""First stage of matching: find the few dozen institutions an affiliation string may name.

The index holds every name of every institution (display name, labels in all languages,
aliases, acronyms) in the normal form of ``text.normalize``:

- character 3-gram TF-IDF vectors (hashed, so no vocabulary has to be stored), searched by
  cosine with one sparse matrix product per batch of query texts;
- word BM25 over the same names (hashed word ids), fused with the character score;
- an exact acronym table ("TUM", "EPFL");
- a scan for names in other scripts written inside a longer part with no comma or space around
  them ("東京大学大学院理学系研究科" holds "東京大学"): the longest such names become search units.

Runs of scripts written without spaces (Chinese, Japanese, Thai; Hangul too) are no words: they
give character bigrams to both the n-gram vectors and BM25.

A string is searched part by part: every comma part, runs of two and three adjacent parts
and each institution group ("A; B"), so "Department of Surgery, TU Munich, Munich, Germany"
meets "TU Munich" on its own. Names are then aggregated to institutions (best name wins) and
cities or countries named in the string favour institutions located there.

The built index is cached in ``registry.folder`` under the registry's ``version_key``, so app
and CLI start fast after the first build (seconds for the 51k-record registry).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Protocol, Sequence

import numpy as np
import scipy.sparse as sp

from affiliation_curator.institution import Institution
from affiliation_curator.text import (
    STOPWORDS,
    LocationIndex,
    LocationMentions,
    acronym_key,
    acronym_tokens,
    atoms,
    bigrams,
    clean,
    has_non_latin,
    is_unspaced,
    normalize,
    sanitize,
    segments,
    word_runs,
)

log = logging.getLogger(__name__)

# Retrievers already loaded in this process (the app makes a Matcher per page run).
_MEMO: "OrderedDict[tuple, Retriever]" = OrderedDict()
_MEMO_LOCK = threading.Lock()

INDEX_FORMAT = 4  # bump when the on-disk layout or the normal form changes
N_FEATURES = 2**20
INFO_FULL = 8.0  # BM25 mass (about two rare words) from which covering a name counts fully
NAME_TYPE_CODES = {"ror_display": 0, "label": 1, "alias": 2, "acronym": 3}
NAME_TYPE_NAMES = {v: k for k, v in NAME_TYPE_CODES.items()}


class RegistryLike(Protocol):
    """What the retriever needs of a registry (``affiliation_curator.registry.Registry``)."""

    def __iter__(self) -> Iterable[Institution]: ...


@dataclass(slots=True)
class RetrievedCandidate:
    """An institution found for a string: first-stage score (0-1) and the name that matched."""

    institution_id: str
    score: float
    matched_name: str
    name_type: str
    city_match: bool | None = None
    country_match: bool | None = None


def _code_fingerprint() -> str:
    """Changes whenever the normal form or the index code changes, so stale caches are rebuilt."""
    import hashlib

    from affiliation_curator import text

    h = hashlib.sha1(str(INDEX_FORMAT).encode())
    for source in (text.__file__, __file__):  # located through the modules, wherever they live
        h.update(Path(source).read_bytes())
    return h.hexdigest()[:12]


# --------------------------------------------------------------------------- vectorisers


def _hash_ids(keys: list[str]) -> np.ndarray:
    """Stable 20-bit ids for strings (n-grams, words): crc32 is stable across processes."""
    import zlib

    return np.fromiter((zlib.crc32(k.encode("utf-8")) & (N_FEATURES - 1) for k in keys), dtype=np.int64, count=len(keys))


def char_grams(normal: str, n: int = 3) -> list[str]:
    """Character n-grams of each word padded by spaces (like scikit-learn's char_wb); a run of an
    unspaced script (Chinese, Japanese, Thai...) gives its character bigrams instead: it is no
    word, and two characters already make most of its words."""
    grams: list[str] = []
    for word in normal.split():
        for run, unspaced in word_runs(word):
            if unspaced:
                grams.extend(bigrams(run))
                continue
            w = f" {run} "
            if len(w) <= n:
                grams.append(w)
            else:
                grams.extend(w[i : i + n] for i in range(len(w) - n + 1))
    return grams


def _count_matrix(docs: Sequence[list[str]]) -> sp.csr_matrix:
    """Rows of hashed term counts."""
    indptr = np.zeros(len(docs) + 1, dtype=np.int64)
    all_keys: list[str] = []
    for i, doc in enumerate(docs):
        all_keys.extend(doc)
        indptr[i + 1] = len(all_keys)
    cols = _hash_ids(all_keys)
    data = np.ones(len(cols), dtype=np.float32)
    mat = sp.csr_matrix((data, cols, indptr), shape=(len(docs), N_FEATURES))
    mat.sum_duplicates()
    return mat


def _l2_rows(mat: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(mat.multiply(mat).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms).astype(np.float32) @ mat)


_QUALIFIER = re.compile(r"\s*\([^()]*\)\s*$")

# Words that carry almost no evidence on their own; BM25 ignores them (IDF would make them tiny anyway).


def _words(normal: str) -> list[str]:
    """BM25 terms: the words of a normal form; a run of an unspaced script gives its bigrams."""
    out: list[str] = []
    for w in normal.split():
        if w in STOPWORDS:
            continue
        if w.isascii():
            out.append(w)
            continue
        for run, unspaced in word_runs(w):
            out.extend(bigrams(run) if unspaced else [run])
    return out


# Names scanned for inside a query (``Retriever.scan_names``): at least this many atoms
# (characters of an unspaced script, words of others), so "京大" or "университет" alone is no name.
SCAN_MIN_CHARS = 3
SCAN_MIN_WORDS = 2
SCAN_MAX_ATOMS = 40
_SEP = "\x1f"


# --------------------------------------------------------------------------- the index


class Retriever:
    """Candidate retrieval over all names of a registry; see the module docstring."""

    def __init__(
        self,
        institutions: list[Institution],
        *,
        char_weight: float = 0.7,
        word_weight: float = 0.3,
        rough_mass: float = 0.6,
        city_boost: float = 0.08,
        country_boost: float = 0.04,
        country_penalty: float = 0.08,
        acronym_score: float = 0.75,
        relative_step: float = 0.05,
        inactive_penalty: float = 0.02,
        withdrawn_penalty: float = 0.2,
        unit_leaders: int = 1,
        arrays: dict | None = None,
        matrices: dict[str, sp.csr_matrix] | None = None,
    ):
        self.institutions = institutions
        self.ids = [inst.id for inst in institutions]
        self.char_weight = char_weight
        self.word_weight = word_weight
        self._pos = {inst_id: i for i, inst_id in enumerate(self.ids)}
        if arrays is None or matrices is None:
            arrays, matrices = self._build(institutions)
        self.name_inst = arrays["name_inst"]
        self.name_type = arrays["name_type"]
        self.char_idf = arrays["char_idf"]
        self.word_idf = arrays["word_idf"]
        self.char_t = matrices["char_t"]  # features x names, l2-normalised TF-IDF
        self.word_t = matrices["word_t"]  # features x names, BM25 term weights (normalised to 0-1 per name)
        self.char_rows = self.char_t.T.tocsr()  # names x features, for exact scoring
        self._dot_buffers = threading.local()  # _dot_rows' dense scratch vectors, one set per thread
        self.word_rows = self.word_t.T.tocsr()
        self.char_df = np.diff(self.char_t.indptr)
        self.word_df = np.diff(self.word_t.indptr)
        self.rough_mass = rough_mass
        self.chunk = 64
        self.unit_leaders = unit_leaders
        self.city_boost, self.country_boost, self.country_penalty = city_boost, country_boost, country_penalty
        self.acronym_score, self.relative_step, self.inactive_penalty = acronym_score, relative_step, inactive_penalty
        # A withdrawn record (merged into another, or made in error) is almost never the answer:
        # on the train side of the gold sets it was the top candidate 318 times and right 11.
        self.withdrawn_penalty = withdrawn_penalty
        self._names: list[str] | None = arrays.get("names")  # type: ignore[assignment]
        self._relatives: dict[int, list[int]] | None = None
        self._acronyms: dict[str, list[tuple[int, int]]] | None = None
        self._scan: dict[str, str] | None = None
        self._locations: LocationIndex | None = None
        self._inst_city = [normalize(i.city) if i.city else "" for i in institutions]
        self._inst_country = [(i.country_code or "").upper() for i in institutions]
        self._inst_inactive = np.array([i.status != "active" for i in institutions], dtype=bool)
        self._inst_withdrawn = np.array([i.status == "withdrawn" for i in institutions], dtype=bool)

    @staticmethod
    def _prune(q: sp.csr_matrix, df: np.ndarray, mass: float) -> sp.csr_matrix:
        """Keep, per row, the rarest features that carry ``mass`` of the row's squared weight.

        Phase one multiplies only these: rare n-grams have short posting lists, and a name
        that matches the row well must share most of them.
        """
        q = q.copy()
        for row in range(q.shape[0]):
            a, b = q.indptr[row], q.indptr[row + 1]
            if b - a <= 3:
                continue
            vals = q.data[a:b]
            order = np.argsort(df[q.indices[a:b]], kind="stable")
            w2 = vals[order] ** 2
            cum = np.cumsum(w2) / max(float(w2.sum()), 1e-12)
            cut = int(np.searchsorted(cum, mass)) + 1
            drop = order[max(cut, 3):]
            vals[drop] = 0.0
        q.eliminate_zeros()
        return q

    # -- construction ------------------------------------------------------------------

    @staticmethod
    def _name_rows(institutions: list[Institution]) -> tuple[list[str], list[int], list[int], list[str]]:
        values, inst_idx, types, forms = [], [], [], []
        for i, inst in enumerate(institutions):
            names = inst.names or []
            seen: set[str] = set()
            pairs = [(n.value, n.types) for n in names] or [(inst.name, ("ror_display",))]
            if inst.name and all(v != inst.name for v, _ in pairs):
                pairs.insert(0, (inst.name, ("ror_display",)))
            # "Fera Science (United Kingdom)" is written "Fera Science": index both.
            pairs += [(_QUALIFIER.sub("", v), t) for v, t in pairs if _QUALIFIER.search(v) and _QUALIFIER.sub("", v)]
            for value, ntypes in pairs:
                form = normalize(value)
                if not form or form in seen:
                    continue
                seen.add(form)
                code = min((NAME_TYPE_CODES.get(t, 2) for t in ntypes), default=2)
                values.append(value)
                inst_idx.append(i)
                types.append(code)
                forms.append(form)
        return values, inst_idx, types, forms

    @classmethod
    def _build(cls, institutions: list[Institution]) -> tuple[dict[str, np.ndarray], dict[str, sp.csr_matrix]]:
        _values, inst_idx, types, forms = cls._name_rows(institutions)
        n = len(forms)
        is_acr = np.array([t == NAME_TYPE_CODES["acronym"] for t in types], dtype=bool)
        # Character TF-IDF over names that are not acronyms (acronyms are matched exactly).
        counts = _count_matrix([[] if is_acr[i] else char_grams(forms[i]) for i in range(n)])
        df = np.bincount(counts.indices, minlength=N_FEATURES).astype(np.float32)
        char_idf = (np.log((n + 1) / (df + 1)) + 1.0).astype(np.float32)
        tf = counts.copy()
        tf.data = (1.0 + np.log(tf.data)).astype(np.float32)
        char = _l2_rows(sp.csr_matrix(tf @ sp.diags(char_idf)))
        # Word BM25 (k1=1.2, b=0.75) over the same names; a name's weights are divided by its
        # best possible score so a full match of the name scores 1.
        wcounts = _count_matrix([[] if is_acr[i] else _words(forms[i]) for i in range(n)])
        wdf = np.bincount(wcounts.indices, minlength=N_FEATURES).astype(np.float32)
        word_idf = np.log(1.0 + (n - wdf + 0.5) / (wdf + 0.5)).astype(np.float32)
        # Length in words: a run of an unspaced script counts as one word however many bigrams it
        # gives, so the average length (and every Latin name's BM25 weight) is as without bigrams.
        lengths = np.array([0 if is_acr[i] else sum(w not in STOPWORDS for w in forms[i].split()) for i in range(n)],
                           dtype=np.float32)
        avg = float(lengths.mean()) if n else 1.0
        k1, b = 1.2, 0.75
        w = wcounts.tocoo()
        denom = w.data + k1 * (1 - b + b * lengths[w.row] / avg)
        bm = (w.data * (k1 + 1) / denom) * word_idf[w.col]
        bm_mat = sp.csr_matrix((bm.astype(np.float32), (w.row, w.col)), shape=(n, N_FEATURES))
        best = np.asarray(bm_mat.sum(axis=1)).ravel()
        best[best == 0] = 1.0
        # A name made of one or two common words ("Engineering", "Research Canada") is cheap to
        # cover: its coverage counts in proportion to its information, full from INFO_FULL on.
        info = np.minimum(1.0, best / INFO_FULL)
        bm_mat = sp.csr_matrix(sp.diags(info / best).astype(np.float32) @ bm_mat)
        arrays = {
            "names": _values,
            "name_inst": np.asarray(inst_idx, dtype=np.int32),
            "name_type": np.asarray(types, dtype=np.int8),
            "char_idf": char_idf,
            "word_idf": word_idf,
        }
        matrices = {"char_t": char.T.tocsr(), "word_t": bm_mat.T.tocsr()}
        return arrays, matrices

    # -- cache -------------------------------------------------------------------------

    @classmethod
    def for_registry(cls, registry: RegistryLike, **kwargs) -> "Retriever":
        """Load the index cached in ``registry.folder`` for ``registry.version_key``, or build and cache it."""
        institutions = list(getattr(registry, "institutions", None) or list(registry))
        folder = getattr(registry, "folder", None)
        version = str(getattr(registry, "version_key", "") or "")
        if folder is None or not version:
            return cls(institutions, **kwargs)
        cache = Path(folder) / "retrieval-index"
        key = f"{INDEX_FORMAT}-{_code_fingerprint()}-{version}-{len(institutions)}"
        memo_key = (str(Path(folder).resolve()), key, tuple(sorted(kwargs.items())))
        with _MEMO_LOCK:
            hit = _MEMO.get(memo_key)
            if hit is not None:  # same folder, content version, size and settings
                _MEMO.move_to_end(memo_key)
                return hit
        retriever = cls._load_or_build(institutions, cache, key, **kwargs)
        with _MEMO_LOCK:
            _MEMO[memo_key] = retriever
            while len(_MEMO) > 3:
                _MEMO.popitem(last=False)
        return retriever

    @classmethod
    def _load_or_build(cls, institutions: list[Institution], cache: Path, key: str, **kwargs) -> "Retriever":
        loaded = cls._load_cache(cache, key, len(institutions))
        if loaded is not None:
            arrays, matrices = loaded
            return cls(institutions, arrays=arrays, matrices=matrices, **kwargs)
        retriever = cls(institutions, **kwargs)
        try:
            retriever._save_cache(cache, key)
        except OSError as err:  # a read-only data dir only costs rebuilding next time
            log.warning("could not cache the retrieval index in %s: %s", cache, err)
        return retriever

    @staticmethod
    def _load_cache(cache: Path, key: str, n_inst: int):
        try:
            meta = json.loads((cache / "meta.json").read_text(encoding="utf-8"))
            if meta.get("key") != key:
                return None
            with np.load(cache / "arrays.npz") as f:
                arrays = {k: f[k] for k in ("name_inst", "name_type", "char_idf", "word_idf")}
            names = json.loads((cache / "names.json").read_text(encoding="utf-8"))
            if len(names) != len(arrays["name_inst"]):
                return None
            arrays["names"] = names
            matrices = {k: sp.load_npz(cache / f"{k}.npz").tocsr() for k in ("char_t", "word_t")}
            if len(arrays["name_inst"]) and int(arrays["name_inst"].max()) >= n_inst:
                return None
            return arrays, matrices
        except (OSError, ValueError, KeyError):
            return None

    def _save_cache(self, cache: Path, key: str) -> None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".retrieval-", dir=cache.parent))
        np.savez(tmp / "arrays.npz", name_inst=self.name_inst, name_type=self.name_type,
                 char_idf=self.char_idf, word_idf=self.word_idf)
        sp.save_npz(tmp / "char_t.npz", self.char_t, compressed=False)
        sp.save_npz(tmp / "word_t.npz", self.word_t, compressed=False)
        (tmp / "names.json").write_text(json.dumps(self.names, ensure_ascii=False), encoding="utf-8")
        (tmp / "meta.json").write_text(json.dumps({"key": key}), encoding="utf-8")
        if cache.exists():
            old = cache.with_name(cache.name + f".old-{os.getpid()}")
            cache.rename(old)
            tmp.rename(cache)
            for f in old.iterdir():
                f.unlink()
            old.rmdir()
        else:
            tmp.rename(cache)

    # -- lazily built helpers ------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Original spelling of each indexed name (rebuilt from the institutions, same order)."""
        if self._names is None:
            self._names = self._name_rows(self.institutions)[0]
        return self._names

    @property
    def acronyms(self) -> dict[str, list[tuple[int, int]]]:
        if self._acronyms is None:
            table: dict[str, list[tuple[int, int]]] = {}
            acr = NAME_TYPE_CODES["acronym"]
            names = self.names
            for j in np.flatnonzero(self.name_type == acr):
                table.setdefault(acronym_key(names[j]), []).append((int(self.name_inst[j]), int(j)))
            self._acronyms = table
        return self._acronyms

    @property
    def scan_names(self) -> dict[str, str]:
        """Names with letters of a script other than Latin, keyed by their atoms (see
        ``text.atoms``), for ``scan``: normal form of each."""
        if self._scan is None:
            table: dict[str, str] = {}
            acr = NAME_TYPE_CODES["acronym"]
            for j, value in enumerate(self.names):
                if value.isascii() or self.name_type[j] == acr or not has_non_latin(value):
                    continue
                form = normalize(value)
                parts = atoms(form)
                least = SCAN_MIN_CHARS if any(len(a) == 1 and is_unspaced(a) for a in parts) else SCAN_MIN_WORDS
                if least <= len(parts) <= SCAN_MAX_ATOMS:
                    table.setdefault(_SEP.join(parts), form)
            self._scan = table
        return self._scan

    def scan(self, normal: str) -> list[str]:
        """Normal forms of the non-Latin registry names written inside a normalised string, even
        with no space or comma around them ("東京大学大学院理学系研究科" holds "東京大学"); a name
        inside a longer name found there is left out. Latin strings are not scanned."""
        if not has_non_latin(normal):
            return []
        table = self.scan_names
        parts = atoms(normal)
        found: list[tuple[int, int, str]] = []
        for i in range(len(parts)):
            key = ""
            for j in range(i, min(len(parts), i + SCAN_MAX_ATOMS)):
                key = parts[j] if j == i else key + _SEP + parts[j]
                form = table.get(key)
                if form is not None:
                    found.append((i, j + 1, form))
        keep = [f for f in found
                if not any(o[0] <= f[0] and f[1] <= o[1] and o[1] - o[0] > f[1] - f[0] for o in found)]
        return list(dict.fromkeys(form for _i, _j, form in keep))

    @property
    def locations(self) -> LocationIndex:
        if self._locations is None:
            cities = {i.city for i in self.institutions if i.city}
            countries = {(i.country_code, i.country_name) for i in self.institutions if i.country_code}
            self._locations = LocationIndex(cities, countries)
        return self._locations

    # -- search --------------------------------------------------------------------------

    def query_texts(self, text: str) -> tuple[str, list[str], list[tuple[str, bool]], LocationMentions]:
        """(cleaned string, normalised search units, acronym keys, locations) for one string."""
        safe, _notes = sanitize(text)
        if not safe:
            return "", [], [], LocationMentions()
        cleaned = clean(safe) or safe
        units: list[str] = []
        seen: set[str] = set()
        locs = self.locations
        for seg in segments(cleaned):
            form = normalize(seg)
            if not form or form in seen:
                continue
            seen.add(form)
            found = locs.find(form)
            words = form.split()
            if found.words and all(w in found.words or w == "and" or len(w) <= 2 for w in words):
                continue  # "Munich", "Boston MA USA": a bare place is no institution evidence
            if all(w.isdigit() for w in form.split()):
                continue
            units.append(form)
        full = normalize(cleaned)
        for form in self.scan(full):  # names inside a part, with no comma or space around them
            if form not in seen:
                seen.add(form)
                units.append(form)
        mentions = locs.find(full)
        # Acronyms: (key, standalone) where standalone means the acronym is a whole part of the
        # string ("EPFL, Lausanne", "(TUM)") rather than a word inside one ("Department of ECE").
        part_keys = {acronym_key(p) for p in segments(cleaned) if len(p.split()) == 1}
        acr = [(a, a in part_keys) for a in acronym_tokens(cleaned) if a.lower() not in locs.country_forms]
        if not units and full:
            units = [full]
        return cleaned, units, acr, mentions

    def search(self, text: str, k: int = 50) -> list[RetrievedCandidate]:
        return self.search_many([text], k)[0]

    def search_many(self, texts: Sequence[str], k: int = 50, per_unit: int = 100) -> list[list[RetrievedCandidate]]:
        """Top ``k`` institutions for each string, best first (input order).

        Two phases: rare character n-grams and words find ``per_unit`` names per search unit
        with one sparse product for the whole batch; then the fused score is computed exactly
        for those names only.
        """
        if len(texts) > self.chunk:  # bounded memory: the phase-one product grows with the batch
            out_all: list[list[RetrievedCandidate]] = []
            for start in range(0, len(texts), self.chunk):
                out_all.extend(self.search_many(texts[start : start + self.chunk], k, per_unit))
            return out_all
        prepared = [self.query_texts(t) for t in texts]
        all_units: list[str] = []
        spans: list[tuple[int, int]] = []
        for _c, units, _a, _m in prepared:
            spans.append((len(all_units), len(all_units) + len(units)))
            all_units.extend(units)
        out: list[list[RetrievedCandidate]] = []
        if all_units:
            qc, qw = self._query_vectors(all_units)
            rough_c = self._prune(qc, self.char_df, self.rough_mass) @ self.char_t
            wq = qw.multiply(self.word_idf[None, :]).tocsr()
            rough_w = self._prune(sp.csr_matrix(wq), self.word_df, self.rough_mass)
            rough_w.data[:] = 1.0
            rough = sp.csr_matrix(self.char_weight * rough_c + self.word_weight * (rough_w @ self.word_t))
        for i, (cleaned, units, acr, mentions) in enumerate(prepared):
            start, end = spans[i]
            best: dict[int, tuple[float, int]] = {}
            leaders: list[int] = []
            if end > start:
                cand = self._rough_candidates(rough, start, end, per_unit)
                if len(cand):
                    best, leaders = self._exact(qc[start:end], qw[start:end], cand)
            out.append(self._finish(best, acr, mentions, k, leaders))
        return out

    def _query_vectors(self, units: list[str]) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        q = _count_matrix([char_grams(u) for u in units])
        q.data = (1.0 + np.log(q.data)).astype(np.float32)
        q = _l2_rows(sp.csr_matrix(q @ sp.diags(self.char_idf)))
        wq = _count_matrix([_words(u) for u in units])
        wq.data[:] = 1.0
        return q, wq

    @staticmethod
    def _rough_candidates(rough: sp.csr_matrix, start: int, end: int, per_unit: int) -> np.ndarray:
        picked = []
        for row in range(start, end):
            a, b = rough.indptr[row], rough.indptr[row + 1]
            if a == b:
                continue
            vals = rough.data[a:b]
            cols = rough.indices[a:b]
            if len(vals) > per_unit:
                cols = cols[np.argpartition(-vals, per_unit)[:per_unit]]
            picked.append(cols)
        return np.unique(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)

    def _dot_rows(self, q: sp.csr_matrix, rows: sp.csr_matrix, cand: np.ndarray, kind: str) -> np.ndarray:
        """``q @ rows[cand].T`` as a dense units x cand array, without converting a matrix as wide
        as the vocabulary: scipy's sparse product turns ``rows[cand].T`` into CSR first, a pass over
        every feature of the registry (half the time of a search on the 51k registry). Here each
        query row is spread into a zeroed dense vector (one per thread and kind) and multiplied by
        the candidate rows, which costs only their non-zeros."""
        sub = rows[cand]
        buffers = getattr(self._dot_buffers, "by_kind", None)
        if buffers is None:
            buffers = self._dot_buffers.by_kind = {}
        buf = buffers.get(kind)
        if buf is None or len(buf) != rows.shape[1]:
            buf = buffers[kind] = np.zeros(rows.shape[1], dtype=rows.dtype)
        out = np.zeros((q.shape[0], len(cand)), dtype=np.result_type(q.dtype, rows.dtype))
        for r in range(q.shape[0]):
            a, b = q.indptr[r], q.indptr[r + 1]
            if a == b:
                continue
            cols = q.indices[a:b]
            np.add.at(buf, cols, q.data[a:b])  # a column may repeat in a row: its entries add up, as in a product
            try:
                out[r] = sub @ buf
            finally:
                buf[cols] = 0.0
        return out

    def _exact(self, qc: sp.csr_matrix, qw: sp.csr_matrix, cand: np.ndarray) -> tuple[dict[int, tuple[float, int]], list[int]]:
        """Best fused score and name per institution among the candidate names, and each unit's leaders."""
        char = self._dot_rows(qc, self.char_rows, cand, "char")
        word = self._dot_rows(qw, self.word_rows, cand, "word")
        fused = self.char_weight * char + self.word_weight * word  # units x cand
        name_best = fused.max(axis=0)
        insts = self.name_inst[cand]
        order = np.lexsort((-name_best, insts))
        insts_sorted = insts[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = insts_sorted[1:] != insts_sorted[:-1]
        keep = order[first]
        best = {int(self.name_inst[cand[j]]): (float(name_best[j]), int(cand[j])) for j in keep}
        # Each search unit's own leaders: a specific part ("Hebrew University") must not be
        # crowded out of the list by a generic one ("Institute of Environmental Sciences")
        # that many institutions share.
        leaders: list[int] = []
        if self.unit_leaders:
            m = min(self.unit_leaders, fused.shape[1])
            for row in fused:
                top = np.argpartition(-row, m - 1)[:m] if len(row) > m else np.arange(len(row))
                leaders.extend(int(insts[j]) for j in top[np.argsort(-row[top])] if row[j] > 0)
        return best, list(dict.fromkeys(leaders))

    def _add_relatives(self, best: dict[int, tuple[float, int]], top: int = 10) -> None:
        """Parents of the best candidates, and successors of inactive ones, join the list just
        below them: gold labels often name the university for a string about its faculty."""
        if self._relatives is None:
            rel: dict[int, list[int]] = {}
            for i, inst in enumerate(self.institutions):
                targets = [r.id for r in inst.relationships if r.type == "parent"]
                if inst.status != "active":
                    targets += [r.id for r in inst.relationships if r.type == "successor"]
                idx = [self._pos[t] for t in targets if t in self._pos]
                if idx:
                    rel[i] = idx
            self._relatives = rel
        step = self.relative_step
        leaders = sorted(best.items(), key=lambda kv: -kv[1][0])[:top]
        for inst, (score, j) in leaders:
            for other in self._relatives.get(inst, ()):
                if other not in best or best[other][0] < score - step:
                    best[other] = (score - step, -1 - j)  # negative: reached through a relative's name

    def _finish(self, best: dict[int, tuple[float, int]], acr: list[tuple[str, bool]], mentions: LocationMentions,
                k: int, leaders: Sequence[int] = ()) -> list[RetrievedCandidate]:
        table = self.acronyms
        for key, standalone in acr:
            acr_score = self.acronym_score if standalone else self.acronym_score - 0.2
            for inst, j in table.get(key, ()):
                old = best.get(inst)
                if old is None or old[0] < acr_score:
                    best[inst] = (acr_score, j)
        if not best:
            return []
        self._add_relatives(best)
        ranked = []
        for inst, (score, j) in best.items():
            city_ok = country_ok = None
            if mentions.cities:
                city_ok = self._inst_city[inst] in mentions.cities if self._inst_city[inst] else None
            if mentions.countries:
                country_ok = self._inst_country[inst] in mentions.countries if self._inst_country[inst] else None
            adj = score
            if city_ok:
                adj += self.city_boost
            if country_ok:
                adj += self.country_boost
            elif country_ok is False:
                adj -= self.country_penalty
            if self._inst_withdrawn[inst]:
                adj -= self.withdrawn_penalty
            elif self._inst_inactive[inst]:
                adj -= self.inactive_penalty
            ranked.append((adj, inst, j, city_ok, country_ok))
        ranked.sort(key=lambda r: -r[0])
        chosen = ranked[:k]
        if len(ranked) > k and leaders:
            inside = {r[1] for r in chosen}
            wanted = [ins for ins in leaders if ins not in inside and ins in best][: k // 2]
            if wanted:
                by_inst = {r[1]: r for r in ranked[k:]}
                lead = set(leaders)
                extra = [by_inst[i] for i in wanted if i in by_inst]
                keep = [r for r in chosen if r[1] in lead]
                other = [r for r in chosen if r[1] not in lead]
                chosen = keep + other[: max(0, k - len(keep) - len(extra))] + extra
                chosen.sort(key=lambda r: -r[0])
        names = self.names
        out = []
        for adj, inst, j, city_ok, country_ok in chosen:
            via = j < 0
            j = -1 - j if via else j
            out.append(
                RetrievedCandidate(
                    institution_id=self.ids[inst],
                    score=float(min(1.0, max(0.0, adj))),
                    matched_name=names[j],
                    name_type="related" if via else NAME_TYPE_NAMES.get(int(self.name_type[j]), "alias"),
                    city_match=city_ok,
                    country_match=country_ok,
                )
            )
        return out
