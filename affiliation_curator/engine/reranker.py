"""Second stage of matching: score (affiliation, institution document) pairs from 0 to 1.

A scorer is a sentence-transformers ``CrossEncoder`` (the default hub model, any hub id, or a
local folder such as one made by ``model train``) or, when no model can be loaded, the
``LexicalScorer`` fallback. Every scorer caches its scores per (model, affiliation, document),
so a pair is never scored twice, and identical pairs within one call are scored once.

Our own models are folders with the Hugging Face files plus ``curator.json`` (the model card:
base model, training data, metrics and the calibrated decision ``threshold``).

Loading a hub id never hangs offline: the Hugging Face cache is tried first, then one metadata
request with a 3-second timeout; if the hub cannot be reached ``ModelLoadError`` says so at once,
and ``load_scorer`` goes on with the best local scorer (``fallback_reason`` says why).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from affiliation_curator import config
from affiliation_curator.text import STOPWORDS
from affiliation_curator.errors import ModelLoadError, ScoringError
from affiliation_curator.engine.model_source import (
    CARD_FILE,
    ModelSource,
    cached_commit,
    code_commit,
    read_config,
    record_pins,
    resolve,
)

log = logging.getLogger(__name__)

LEXICAL_MODEL_ID = "lexical-fallback"
DEFAULT_THRESHOLD = 0.5
DEFAULT_MAX_LENGTH = 128  # tokens per (affiliation, document) pair; affiliations are short
DEFAULT_BATCH_SIZE = 32

Pair = tuple[str, str]


@runtime_checkable
class Scorer(Protocol):
    """Anything that scores (affiliation, document) pairs from 0 (wrong) to 1 (right)."""

    model_id: str
    threshold: float

    def score(self, pairs: Sequence[Pair]) -> np.ndarray: ...


# --------------------------------------------------------------------------- score cache


class ScoreCache:
    """Thread-safe LRU of scores keyed (model key, affiliation, document).

    With ``path`` the scores are also kept in an SQLite file (best effort: a locked or broken
    file only costs recomputation), so a second run over the same strings scores nothing.
    """

    def __init__(self, maxsize: int = 200_000, path: Path | None = None, max_rows: int = 2_000_000) -> None:
        self.maxsize = maxsize
        self.path = path
        self.max_rows = max_rows  # the file keeps at most this many scores (the newest)
        self._data: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._open_db(path)

    def _open_db(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(path), timeout=2.0, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS scores (key BLOB PRIMARY KEY, score REAL NOT NULL)")
            (rows,) = db.execute("SELECT count(*) FROM scores").fetchone()
            if rows > self.max_rows:  # drop the oldest half
                db.execute("DELETE FROM scores WHERE rowid IN (SELECT rowid FROM scores ORDER BY rowid LIMIT ?)",
                           (rows - self.max_rows // 2,))
            db.commit()
            self._db = db
        except sqlite3.Error as err:
            log.warning("score cache %s unusable (%s); scores are kept in memory only", path, err)
            self._db = None

    @staticmethod
    def _db_key(key: tuple[str, str, str]) -> bytes:
        return hashlib.blake2b("\x1f".join(key).encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def __len__(self) -> int:
        return len(self._data)

    def get_many(self, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], float]:
        found: dict[tuple[str, str, str], float] = {}
        missing: list[tuple[str, str, str]] = []
        with self._lock:
            for key in keys:
                value = self._data.get(key)
                if value is None:
                    missing.append(key)
                else:
                    self._data.move_to_end(key)
                    found[key] = value
            if missing and self._db is not None:
                try:
                    by_db = {self._db_key(k): k for k in missing}
                    blobs = list(by_db)
                    for start in range(0, len(blobs), 500):
                        chunk = blobs[start : start + 500]
                        marks = ",".join("?" * len(chunk))
                        for blob, value in self._db.execute(f"SELECT key, score FROM scores WHERE key IN ({marks})", chunk):
                            key = by_db[bytes(blob)]
                            found[key] = float(value)
                            self._put(key, float(value))
                except sqlite3.Error as err:
                    log.warning("score cache read failed (%s)", err)
        return found

    def put_many(self, items: Iterable[tuple[tuple[str, str, str], float]]) -> None:
        items = list(items)
        with self._lock:
            for key, value in items:
                self._put(key, value)
            if self._db is not None and items:
                try:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO scores (key, score) VALUES (?, ?)",
                        [(self._db_key(k), float(v)) for k, v in items],
                    )
                    self._db.commit()
                except sqlite3.Error as err:
                    log.warning("score cache write failed (%s)", err)

    def _put(self, key: tuple[str, str, str], value: float) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def persistent_cache_path() -> Path:
    """The SQLite file of persisted scores in the data directory."""
    return config.home() / "score_cache.sqlite"


# --------------------------------------------------------------------------- scorers


class CachedScorer:
    """Base of our scorers: dedupes pairs, serves cached scores, computes only the rest."""

    model_id: str = ""
    threshold: float = DEFAULT_THRESHOLD
    fallback_reason: str | None = None  # why this scorer stands in for the model asked for
    stands_in_for: str = ""  # the model asked for, when this one stands in
    description: str = ""

    def __init__(self, cache: ScoreCache | None = None, cache_key: str | None = None) -> None:
        self.cache = cache if cache is not None else ScoreCache()
        self._cache_key = cache_key
        self.pairs_computed = 0  # pairs actually run through the model (for tests and benchmarks)
        self.calls = 0

    @property
    def cache_key(self) -> str:
        return self._cache_key or self.model_id

    def score(self, pairs: Sequence[Pair]) -> np.ndarray:
        """0-1 scores, one per pair, in input order."""
        self.calls += 1
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        model_key = self.cache_key
        keys = [(model_key, str(a), str(d)) for a, d in pairs]
        unique = list(dict.fromkeys(keys))
        known = self.cache.get_many(unique)
        todo = [k for k in unique if k not in known]
        if todo:
            computed = self._compute([(k[1], k[2]) for k in todo])
            self.pairs_computed += len(todo)
            fresh = {k: float(v) for k, v in zip(todo, computed)}
            self.cache.put_many(fresh.items())
            known.update(fresh)
        return np.asarray([known[k] for k in keys], dtype=np.float32)

    def _compute(self, pairs: list[Pair]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:
        """One line for the UI and CLI: which model scored (and why, if a fallback)."""
        text = self.description or self.model_id
        if self.fallback_reason:
            text += f" (fallback: {self.fallback_reason})"
        return text


class CrossEncoderScorer(CachedScorer):
    """A sentence-transformers CrossEncoder turned into a 0-1 scorer (sigmoid of its one logit)."""

    quantized: bool = False  # int8 dynamic quantisation (CPU)
    quantization: Any = None  # cpu_inference.QuantReport of the load (None: not tried)
    revision: str | None = None  # hub commit loaded
    document_style: str = ""  # from the model card; the Matcher builds documents accordingly
    retrieval_weight: float = 0.0  # from the model card; the Matcher blends the retrieval score in

    def __init__(
        self,
        model: Any,
        model_id: str,
        threshold: float = DEFAULT_THRESHOLD,
        batch_size: int = DEFAULT_BATCH_SIZE,
        card: dict[str, Any] | None = None,
        cache: ScoreCache | None = None,
        cache_key: str | None = None,
        description: str = "",
    ) -> None:
        super().__init__(cache, cache_key)
        self.model = model
        self.model_id = model_id
        self.threshold = float(threshold)
        self.batch_size = batch_size
        self.card = card or {}
        self.description = description or model_id
        self.device = str(getattr(model, "device", "cpu"))
        self._predict_lock = threading.Lock()  # one forward pass at a time (Streamlit has threads)

    def _compute(self, pairs: list[Pair]) -> np.ndarray:
        """Scores of the model; ScoringError on any failure or NaN (the Matcher then falls back)."""
        from affiliation_curator.engine.cpu_inference import checked_scores

        with self._predict_lock:
            if self.device.startswith("cpu"):
                retune_cpu_threads()
            try:
                scores = checked_scores(_predict(self.model, pairs, self.batch_size), f"model '{self.model_id}'")
            except ScoringError:
                raise
            except Exception as err:  # noqa: BLE001 - whatever the model or its tokenizer throws
                raise ScoringError(
                    f"model '{self.model_id}' failed while scoring: {type(err).__name__}: {str(err)[:200]}"
                ) from None
        return np.clip(scores, 0.0, 1.0)


_WORD = re.compile(r"\w+", re.UNICODE)


def _tokens(text: str) -> list[str]:
    return [t for t in _WORD.findall(text.lower()) if t not in STOPWORDS]


class LexicalScorer(CachedScorer):
    """Fallback scorer without a model: fuzzy token overlap of the string and the institution name.

    The document's name (its text up to the first comma) is compared with the affiliation
    (rapidfuzz token-set and partial ratios, share of the name's words present); the city and
    country in the document add a little when the string names them. Good enough to rank
    obvious look-alikes, far weaker than a cross-encoder.
    """

    model_id = LEXICAL_MODEL_ID

    def __init__(self, threshold: float = 0.8, cache: ScoreCache | None = None) -> None:
        super().__init__(cache)
        self.threshold = threshold
        self.description = "lexical fallback (no reranker model loaded)"

    def _compute(self, pairs: list[Pair]) -> np.ndarray:
        from rapidfuzz import fuzz

        out = np.zeros(len(pairs), dtype=np.float32)
        for i, (affiliation, document) in enumerate(pairs):
            aff = affiliation.lower().strip()
            parts = [p.strip() for p in document.split(",")]
            name = parts[0].lower() if parts else ""
            rest = [p.lower() for p in parts[1:] if p]
            if not aff or not name:
                continue
            aff_tokens = set(_tokens(aff))
            name_tokens = _tokens(name)
            coverage = (sum(t in aff_tokens for t in name_tokens) / len(name_tokens)) if name_tokens else 0.0
            token_set = fuzz.token_set_ratio(aff, name) / 100.0
            partial = fuzz.partial_ratio(name, aff) / 100.0 if len(name) <= len(aff) else fuzz.ratio(name, aff) / 100.0
            base = 0.45 * coverage + 0.3 * token_set + 0.25 * partial
            place = sum(0.04 for p in rest if p and p in aff)
            out[i] = min(1.0, base * 0.92 + place)
        return out


# --------------------------------------------------------------------------- model cards


@dataclass
class ModelCard:
    """Contents of ``curator.json`` in one of our model folders."""

    base_model: str = ""
    created: str = ""
    threshold: float = DEFAULT_THRESHOLD
    document_format: str = ""  # description of the documents it was trained on
    document_style: str = ""  # "matched-name": documents carry the retriever's matched name (matching.document_text)
    retrieval_weight: float = 0.0  # share of the retrieval score blended into its score (calibrated)
    max_length: int | None = None
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path) -> "ModelCard | None":
        path = Path(folder) / CARD_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        known = {"base_model", "created", "threshold", "document_format", "document_style", "retrieval_weight",
                 "max_length", "training", "metrics"}
        try:
            threshold = float(data.get("threshold", DEFAULT_THRESHOLD))
        except (TypeError, ValueError):
            threshold = DEFAULT_THRESHOLD
        if not 0.0 <= threshold <= 1.0:
            threshold = DEFAULT_THRESHOLD
        max_length = data.get("max_length")
        try:
            weight = float(data.get("retrieval_weight", 0.0) or 0.0)
        except (TypeError, ValueError):
            weight = 0.0
        return cls(
            base_model=str(data.get("base_model", "")),
            created=str(data.get("created", "")),
            threshold=threshold,
            document_format=str(data.get("document_format", "")),
            document_style=str(data.get("document_style", "") or ""),
            retrieval_weight=weight if 0.0 <= weight <= 1.0 else 0.0,
            max_length=int(max_length) if isinstance(max_length, int) and max_length > 0 else None,
            training=data.get("training") if isinstance(data.get("training"), dict) else {},
            metrics=data.get("metrics") if isinstance(data.get("metrics"), dict) else {},
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        data = {
            "base_model": self.base_model,
            "created": self.created,
            "threshold": self.threshold,
            "document_format": self.document_format,
            "document_style": self.document_style,
            "retrieval_weight": self.retrieval_weight,
            "max_length": self.max_length,
            "training": self.training,
            "metrics": self.metrics,
        }
        data.update(self.extra)
        return data

    def write(self, folder: Path) -> None:
        path = Path(folder) / CARD_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)


def local_models() -> list[tuple[Path, ModelCard]]:
    """Our models in ``config.models_dir()`` (folders with a ``curator.json``), newest first."""
    found = []
    for folder in sorted(config.models_dir().iterdir()) if config.models_dir().is_dir() else []:
        if folder.is_dir() and (folder / "config.json").is_file():
            card = ModelCard.read(folder)
            if card is not None:
                found.append((folder, card))
    found.sort(key=lambda item: item[1].created, reverse=True)
    return found


# --------------------------------------------------------------------------- loading


def patch_xlm_roberta_position_ids() -> bool:
    """Put ``create_position_ids_from_input_ids`` back into transformers' XLM-RoBERTa module.

    The jina reranker's remote code imports it from there; transformers 5 moved it into a
    method. Returns True when the function had to be added.
    """
    try:
        from transformers.models.xlm_roberta import modeling_xlm_roberta as module
    except ImportError:  # pragma: no cover - transformers without XLM-RoBERTa
        return False
    if hasattr(module, "create_position_ids_from_input_ids"):
        return False

    def create_position_ids_from_input_ids(input_ids, padding_idx, past_key_values_length=0):
        """Position ids counting from padding_idx + 1; padding tokens keep padding_idx."""
        import torch

        mask = input_ids.ne(padding_idx).int()
        incremental = (torch.cumsum(mask, dim=1).type_as(mask) + past_key_values_length) * mask
        return incremental.long() + padding_idx

    module.create_position_ids_from_input_ids = create_position_ids_from_input_ids
    return True


def cpu_threads(own_load: float = 0.0) -> int:
    """Threads for torch on CPU: ``AFFILIATION_CURATOR_THREADS``, else the cores not already busy.

    All cores on an idle machine; fewer when other processes keep cores busy (1-minute load
    average less ``own_load``, the cores this process itself used lately), because torch's
    threads wait on each other when one of them is descheduled: on the 2-core development
    machine under load, 2 threads ran 3x slower than 1.
    """
    cpus = os.cpu_count() or 1
    raw = os.environ.get("AFFILIATION_CURATOR_THREADS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return min(int(raw), 4 * cpus)
    try:
        load = max(0.0, os.getloadavg()[0] - own_load)
    except (OSError, AttributeError):
        return cpus
    return max(1, min(cpus, round(cpus - load + 0.49)))


class _ThreadTuner:
    """Re-checks the torch thread count at most every ``every`` seconds while scoring on CPU
    (a long-running app may have loaded its model while the machine was busy)."""

    def __init__(self, every: float = 30.0) -> None:
        self.every = every
        self._ref = (time.monotonic(), time.process_time())

    def maybe_update(self) -> None:
        now = time.monotonic()
        wall0, cpu0 = self._ref
        if now - wall0 < self.every:
            return
        cpu = time.process_time()
        own = (cpu - cpu0) / max(1e-3, now - wall0)  # cores this process used since the last check
        self._ref = (now, cpu)
        import torch

        threads = cpu_threads(own_load=own)
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)


_thread_tuner = _ThreadTuner()


def retune_cpu_threads() -> None:
    """Follow the machine's load: reset torch's CPU threads (``cpu_threads``) if due; cheap to call often."""
    _thread_tuner.maybe_update()


def _pick_device(device: str | None) -> str:
    import torch

    if device:
        return device
    if torch.cuda.is_available():
        return "cuda"
    torch.set_num_threads(cpu_threads())
    return "cpu"


def quantize_default() -> bool:
    """Int8 dynamic quantisation on CPU unless ``AFFILIATION_CURATOR_QUANTIZE=0`` (bench_reranker measures the gain)."""
    return os.environ.get("AFFILIATION_CURATOR_QUANTIZE", "1").strip().lower() not in {"0", "false", "no", "off"}


def open_cross_encoder(src: ModelSource, *, device: str, max_length: int, num_labels: int | None = None,
                       training: bool = False) -> Any:
    """A sentence-transformers CrossEncoder for a resolved source, in a dtype this device scores correctly.

    The one place a CrossEncoder is built (scoring, fine-tuning): the remote-code patch, trust,
    pinned commits and the CPU dtype apply to every path. Raises ModelLoadError.
    """
    from affiliation_curator.engine.cpu_inference import to_dtype

    patch_xlm_roberta_position_ids()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    model_kwargs: dict[str, Any] = {"torch_dtype": "auto"}  # as stored; to_dtype casts for this device
    config_kwargs: dict[str, Any] = {}
    if src.code_revision:
        model_kwargs["code_revision"] = config_kwargs["code_revision"] = src.code_revision
    import warnings

    quiet = logging.getLogger("sentence_transformers.base.model")  # "loaded in bfloat16 on CPU": cast below
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        from sentence_transformers import CrossEncoder

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*torch_dtype.*")
            model = CrossEncoder(
                src.source, device=device, trust_remote_code=src.remote_code, local_files_only=src.local_only,
                revision=src.revision, max_length=max_length, num_labels=num_labels,
                model_kwargs=model_kwargs, config_kwargs=config_kwargs or None,
            )
        to_dtype(model.model, device, keep_large_embeddings=not training)
    except ModelLoadError:
        raise
    except Exception as err:  # noqa: BLE001 - anything a broken folder or download throws
        raise ModelLoadError(f"model '{src.raw}' could not be loaded: {type(err).__name__}: {str(err)[:300]}") from None
    finally:
        quiet.setLevel(level)
    record_pins(src.raw, _loaded_commit(src), src.code_revision or _loaded_code_commit(src))
    return model


def _loaded_commit(src: ModelSource) -> str | None:
    if src.revision:
        return src.revision
    if src.folder is None and src.raw == config.DEFAULT_MODEL_ID:  # just downloaded: the cache names the commit
        return cached_commit(src.raw, "config.json")
    return None


def _loaded_code_commit(src: ModelSource) -> str | None:
    if not src.remote_code:
        return None
    folder = src.folder
    if folder is None:
        from huggingface_hub import try_to_load_from_cache

        path = try_to_load_from_cache(src.raw, "config.json", revision=src.revision)
        folder = Path(path).parent if isinstance(path, str) else None
    return code_commit(read_config(folder / "config.json"), None) if folder is not None else None


def _untrained_head(model: Any, folder: Path | None) -> list[str]:
    """Scoring-head parameters the checkpoint in ``folder`` does not hold (so they were initialised at random)."""
    path = folder / "model.safetensors" if folder is not None else None
    if path is None or not path.is_file():
        return []
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            stored = set(handle.keys())
    except Exception:  # noqa: BLE001 - unreadable here means: the load itself would have failed
        return []
    head = [k for k in model.model.state_dict() if k.split(".")[0] in {"classifier", "score"}]
    return [k for k in head if k not in stored]


def _probe(model: Any, raw: str) -> np.ndarray:
    """Scores of the probe pairs; ModelLoadError if the model cannot score them."""
    from affiliation_curator.engine.cpu_inference import PROBE_PAIRS, checked_scores

    try:
        return checked_scores(_predict(model, PROBE_PAIRS, batch_size=len(PROBE_PAIRS)), f"model '{raw}'")
    except ScoringError as err:
        raise ModelLoadError(f"model '{raw}' loads but cannot score: {err}") from None
    except Exception as err:  # noqa: BLE001 - whatever scoring throws
        raise ModelLoadError(f"model '{raw}' loads but cannot score a test pair: {type(err).__name__}: {str(err)[:200]}") from None


def _predict(model: Any, pairs: Sequence[Pair], batch_size: int) -> np.ndarray:
    """Raw 0-1 scores of a CrossEncoder: sigmoid of one logit, or the last class's probability.

    Pairs go to the model shortest first (by characters) and come back in input order: a batch is
    padded to its longest pair, and affiliation pairs vary from 10 to 100+ tokens, so batches of
    similar lengths waste less of the forward pass on padding (bench_seed_model.py measures it).
    """
    import torch

    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    ordered = [pairs[i] for i in order]
    if model.num_labels == 1:
        scores = model.predict(ordered, batch_size=batch_size, show_progress_bar=False, activation_fn=torch.nn.Sigmoid())
    else:  # a classifier: probability of the last ("relevant") class
        scores = model.predict(ordered, batch_size=batch_size, show_progress_bar=False,
                               activation_fn=torch.nn.Identity(), apply_softmax=True)[:, -1]
    flat = np.asarray(scores, dtype=np.float32).reshape(-1)
    out = np.empty_like(flat)
    out[np.asarray(order, dtype=np.int64)] = flat
    return out


_loaded: dict[tuple[str, str, str, bool, str], CrossEncoderScorer] = {}
_load_lock = threading.Lock()


def load_cross_encoder(
    model_id_or_path: str | Path,
    *,
    device: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_length: int | None = None,
    persist_cache: bool = False,
    reuse: bool = True,
    quantize: bool | None = None,
    trust_remote_code: bool = False,
) -> CrossEncoderScorer:
    """Load a CrossEncoder from a local folder or hub id, proven on probe pairs; raises ModelLoadError.

    On CPU it is loaded in float32 and its Linear layers int8-quantised (``quantize``; default
    ``quantize_default()``) when the probe pairs agree with float32 (cpu_inference.py).
    ``trust_remote_code`` lets a model outside the trusted set run its own code (the CLI flag).
    Loaded models are kept in-process (``reuse``), so calling again is free.
    """
    from affiliation_curator.engine.cpu_inference import quantize_linear_layers

    src = resolve(str(model_id_or_path), trust_remote_code=trust_remote_code)
    card = ModelCard.read(src.folder) if src.folder is not None and src.local_only and src.model_id == str(src.folder) else None
    dev = _pick_device(device)
    quantize = (quantize_default() if quantize is None else quantize) and dev == "cpu"
    # The score-cache file is part of the key: a scorer never writes into another data directory.
    key = (src.cache_key, dev, str(max_length), quantize, str(persistent_cache_path()) if persist_cache else "")
    with _load_lock:
        if reuse and key in _loaded:
            return _loaded[key]
        length = max_length or (card.max_length if card and card.max_length else None) or DEFAULT_MAX_LENGTH
        model = open_cross_encoder(src, device=dev, max_length=length)
        raw = src.raw
        if model.num_labels not in (1, 2):
            raise ModelLoadError(
                f"model '{raw}' has {model.num_labels} outputs; a reranker needs 1 (a score) or 2 (no/yes)"
            )
        untrained = _untrained_head(model, src.folder)
        if untrained:
            raise ModelLoadError(
                f"model '{raw}' has no trained scoring head ({', '.join(untrained[:2])} not in its weights): "
                "a base model, or a config that does not match its weights (num_labels?)"
            )
        reference = _probe(model, raw)
        description, cache_key = src.description, src.cache_key
        report = None
        if quantize:
            report = quantize_linear_layers(model.model, lambda: _probe(model, raw), reference)
            quantize = report.applied
            if quantize:
                cache_key += "#int8"
            description += f", {report.describe()}"
        scorer = CrossEncoderScorer(
            model,
            model_id=src.model_id,
            threshold=card.threshold if card else DEFAULT_THRESHOLD,
            batch_size=batch_size,
            card=card.to_dict() if card else None,
            cache=ScoreCache(path=persistent_cache_path()) if persist_cache else None,
            cache_key=cache_key,
            description=description,
        )
        scorer.quantized = bool(quantize)
        scorer.quantization = report
        scorer.revision = src.revision
        if card is not None:
            scorer.document_style = card.document_style
            scorer.retrieval_weight = card.retrieval_weight
        if reuse:
            _loaded[key] = scorer
        return scorer


def best_local_scorer(exclude: str | None = None, **kwargs: Any) -> CachedScorer:
    """Our newest fine-tuned model in the models folder, else the lexical scorer."""
    kwargs.pop("trust_remote_code", None)
    for folder, _card in local_models():
        if exclude and str(folder) == str(Path(exclude).expanduser().resolve()):
            continue
        try:
            return load_cross_encoder(folder, **kwargs)
        except ModelLoadError as err:
            log.warning("skipping local model %s: %s", folder, err)
    return LexicalScorer()


def load_scorer(model: str | Path | None = None, **kwargs: Any) -> CachedScorer:
    """The configured reranker; if it cannot be loaded, the best local scorer, saying why.

    ``model`` None means ``config.Settings().model`` or ``config.DEFAULT_MODEL_ID``.
    ``LEXICAL_MODEL_ID`` asks for the lexical scorer itself. Model scores are also kept in
    the SQLite score cache of the data directory (``persist_cache=False`` to keep them in memory).
    """
    kwargs.setdefault("persist_cache", True)
    wanted = str(model).strip() if model else (config.Settings.load().model or config.DEFAULT_MODEL_ID)
    if wanted == LEXICAL_MODEL_ID:
        return LexicalScorer()
    try:
        return load_cross_encoder(wanted, **kwargs)
    except ModelLoadError as err:
        return fallback_scorer(wanted, str(err), **kwargs)


def fallback_scorer(wanted: str, reason: str, **kwargs: Any) -> CachedScorer:
    """The best local scorer standing in for ``wanted``, with ``fallback_reason`` saying why."""
    kwargs.setdefault("persist_cache", True)
    exclude = wanted if Path(wanted).expanduser().is_dir() else None
    scorer = copy.copy(best_local_scorer(exclude=exclude, **kwargs))
    scorer.fallback_reason = reason
    scorer.stands_in_for = wanted
    log.warning("reranker %s unavailable (%s); using %s", wanted, reason, scorer.model_id)
    return scorer
