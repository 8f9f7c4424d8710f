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
from affiliation_curator.errors import ModelLoadError

log = logging.getLogger(__name__)

LEXICAL_MODEL_ID = "lexical-fallback"
CARD_FILE = "curator.json"
DEFAULT_THRESHOLD = 0.5
DEFAULT_MAX_LENGTH = 128  # tokens per (affiliation, document) pair; affiliations are short
DEFAULT_BATCH_SIZE = 32
HUB_TIMEOUT_S = 3.0  # one metadata request before any download; offline fails within this
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_FAILED_HUB_TTL_S = 300.0  # remember "hub unreachable" this long, so retries don't wait again

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
    fallback_reason: str | None = None
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
        import torch

        with self._predict_lock:
            if self.device.startswith("cpu"):
                retune_cpu_threads()
            if self.model.num_labels == 1:
                scores = self.model.predict(
                    pairs, batch_size=self.batch_size, show_progress_bar=False, activation_fn=torch.nn.Sigmoid()
                )
            else:  # a classifier: probability of the last ("relevant") class
                scores = self.model.predict(
                    pairs,
                    batch_size=self.batch_size,
                    show_progress_bar=False,
                    activation_fn=torch.nn.Identity(),
                    apply_softmax=True,
                )[:, -1]
        return np.clip(np.asarray(scores, dtype=np.float32).reshape(-1), 0.0, 1.0)


_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    "of the and de la le des du di del der und für fur at in for y e et da do dos das".split()
)


def _tokens(text: str) -> list[str]:
    return [t for t in _WORD.findall(text.lower()) if t not in _STOP]


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


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


_hub_failures: dict[str, tuple[float, str]] = {}


def _resolve_hub_id(model_id: str) -> tuple[str, bool]:
    """(id to load, local_files_only) for a hub id, or ModelLoadError within seconds.

    A model already in the Hugging Face cache loads without any request. Otherwise the hub
    gets one metadata request with a short timeout.
    """
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        raise ModelLoadError("huggingface_hub is not installed; cannot load hub models") from None
    cached = try_to_load_from_cache(model_id, "config.json")
    if isinstance(cached, str) and Path(cached).is_file():
        return model_id, True
    offline_msg = (
        f"model '{model_id}' could not be fetched: no connection to the Hugging Face Hub (offline)"
        " and it is not in the local Hugging Face cache"
    )
    if _hub_offline():
        raise ModelLoadError(offline_msg + " [HF_HUB_OFFLINE is set]")
    recent = _hub_failures.get(model_id)
    if recent and time.monotonic() - recent[0] < _FAILED_HUB_TTL_S:
        raise ModelLoadError(recent[1])
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        HfApi().model_info(model_id, timeout=HUB_TIMEOUT_S)
    except GatedRepoError:
        message = f"model '{model_id}' is gated on the Hugging Face Hub: log in with a token that has access"
    except RepositoryNotFoundError:
        message = f"no model '{model_id}' on the Hugging Face Hub (check the id, or give a local folder)"
    except Exception as err:  # noqa: BLE001 - any network failure means: offline
        message = f"{offline_msg} [{type(err).__name__}: {str(err)[:120]}]"
    else:
        return model_id, False
    _hub_failures[model_id] = (time.monotonic(), message)
    raise ModelLoadError(message)


def _needs_remote_code(config_path: Path) -> bool:
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and bool(data.get("auto_map"))


def _fingerprint(folder: Path) -> str:
    """Changes when the weights in a folder change (so cached scores of an old model are not reused)."""
    parts = []
    for name in ("model.safetensors", "pytorch_model.bin", CARD_FILE):
        path = folder / name
        if path.is_file():
            stat = path.stat()
            parts.append(f"{name}:{stat.st_size}:{int(stat.st_mtime)}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]


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
    """Int8 dynamic quantisation on CPU unless ``AFFILIATION_CURATOR_QUANTIZE=0`` (about 2-3x faster)."""
    return os.environ.get("AFFILIATION_CURATOR_QUANTIZE", "1").strip().lower() not in {"0", "false", "no", "off"}


def quantize_int8(model: Any) -> bool:
    """Replace the model's Linear layers by int8 dynamic-quantised ones, in place; False if unsupported."""
    import warnings

    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    except Exception as err:  # noqa: BLE001 - an engine without int8 kernels: stay in float32
        log.warning("int8 quantisation unavailable (%s); scoring in float32", err)
        return False
    return True


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
) -> CrossEncoderScorer:
    """Load a CrossEncoder from a local folder or hub id; raises ModelLoadError (no fallback).

    On CPU the Linear layers are int8-quantised (``quantize``; default ``quantize_default()``),
    which scores 2-3 times faster with scores within about 0.01 of float32.
    Loaded models are kept in-process (``reuse``), so calling again is free.
    """
    raw = str(model_id_or_path).strip()
    if not raw:
        raise ModelLoadError("no model given")
    folder = Path(raw).expanduser()
    card: ModelCard | None = None
    if folder.is_dir():
        folder = folder.resolve()
        if not (folder / "config.json").is_file():
            raise ModelLoadError(f"{folder} is not a model folder (it has no config.json)")
        card = ModelCard.read(folder)
        source, local_only, model_id = str(folder), True, str(folder)
        remote_code = _needs_remote_code(folder / "config.json")
        cache_key = f"{folder}@{_fingerprint(folder)}"
        description = f"{folder.name} (local model {folder})"
    elif folder.exists():
        raise ModelLoadError(f"{raw} is a file, not a model folder")
    elif _HUB_ID.match(raw) and not raw.startswith((".", "/", "~")):
        source, local_only = _resolve_hub_id(raw)
        model_id, cache_key = raw, raw
        remote_code = True if raw == config.DEFAULT_MODEL_ID else None
        description = f"{raw} (Hugging Face Hub)"
    else:
        raise ModelLoadError(f"model not found: '{raw}' is neither a folder nor a Hugging Face model id")

    dev = _pick_device(device)
    quantize = (quantize_default() if quantize is None else quantize) and dev == "cpu"
    # The score-cache file is part of the key: a scorer never writes into another data directory.
    key = (cache_key, dev, str(max_length), quantize, str(persistent_cache_path()) if persist_cache else "")
    with _load_lock:
        if reuse and key in _loaded:
            return _loaded[key]
        patch_xlm_roberta_position_ids()
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            from sentence_transformers import CrossEncoder

            if remote_code is None:  # a hub model: ask its config whether it brings its own code
                remote_code = _hub_config_needs_remote_code(source, local_only)
            model = CrossEncoder(
                source,
                device=dev,
                trust_remote_code=bool(remote_code),
                local_files_only=local_only,
                max_length=max_length or (card.max_length if card and card.max_length else None) or DEFAULT_MAX_LENGTH,
            )
        except ModelLoadError:
            raise
        except Exception as err:  # noqa: BLE001 - anything a broken folder or download throws
            raise ModelLoadError(f"model '{raw}' could not be loaded: {type(err).__name__}: {str(err)[:300]}") from None
        if model.num_labels not in (1, 2):
            raise ModelLoadError(
                f"model '{raw}' has {model.num_labels} outputs; a reranker needs 1 (a score) or 2 (no/yes)"
            )
        if quantize:
            quantize = quantize_int8(model)
            if quantize:
                description += ", int8 on CPU"
                cache_key += "#int8"
        scorer = CrossEncoderScorer(
            model,
            model_id=model_id,
            threshold=card.threshold if card else DEFAULT_THRESHOLD,
            batch_size=batch_size,
            card=card.to_dict() if card else None,
            cache=ScoreCache(path=persistent_cache_path()) if persist_cache else None,
            cache_key=cache_key,
            description=description,
        )
        scorer.quantized = bool(quantize)
        if card is not None:
            scorer.document_style = card.document_style
            scorer.retrieval_weight = card.retrieval_weight
        if reuse:
            _loaded[key] = scorer
        return scorer


def _hub_config_needs_remote_code(model_id: str, local_only: bool) -> bool:
    try:
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(model_id, "config.json", local_files_only=local_only)
    except Exception:  # noqa: BLE001 - CrossEncoder will report the real problem
        return False
    return _needs_remote_code(Path(path))


def best_local_scorer(exclude: str | None = None, **kwargs: Any) -> CachedScorer:
    """Our newest fine-tuned model in the models folder, else the lexical scorer."""
    problems = []
    for folder, _card in local_models():
        if exclude and str(folder) == str(Path(exclude).expanduser().resolve()):
            continue
        try:
            return load_cross_encoder(folder, **kwargs)
        except ModelLoadError as err:
            problems.append(str(err))
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
        scorer = copy.copy(best_local_scorer(exclude=wanted if Path(wanted).expanduser().is_dir() else None, **kwargs))
        scorer.fallback_reason = str(err)
        log.warning("reranker %s unavailable (%s); using %s", wanted, err, scorer.model_id)
        return scorer
