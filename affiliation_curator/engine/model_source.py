"""Where a reranker model comes from, which commit of it runs, and whether its own code may run.

A model is a local folder or a Hugging Face hub id. A hub model is served from the local Hugging
Face cache when it is complete there (offline use); a cache holding its ``config.json`` but no
weights (an interrupted download) is fetched again when the hub answers, and named as such when
it does not.

The default model and the remote code it imports are pinned to commits (settings
``model_revision`` and ``code_revision``). Unless the operator set them, they are pinned on first
load to what the cache holds, so a change upstream cannot silently change what runs; a newer
commit is taken only when the operator changes the pin.

Remote code (an ``auto_map`` in ``config.json``) is Python that runs in this process. It runs
only for the default model, for our own models in the data directory's models folder (made by
our training from a trusted base), for models the operator trusts by name (settings
``trusted_models``, ``model trust``) and when the command line says ``--trust-remote-code``;
never because a web form named a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from affiliation_curator import config
from affiliation_curator.errors import ModelLoadError

HUB_TIMEOUT_S = 3.0  # one metadata request before any download; offline fails within this
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_FAILED_HUB_TTL_S = 300.0  # remember "hub unreachable" this long, so retries don't wait again
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
CARD_FILE = "curator.json"


@dataclass
class ModelSource:
    """A model resolved to what ``CrossEncoder`` is handed, with the commits and trust that apply."""

    raw: str  # as asked for
    source: str  # hub id or folder path handed to CrossEncoder
    model_id: str  # how the app names it (hub id, or the folder path)
    local_only: bool  # no hub request needed
    folder: Path | None  # the folder the files are read from, where known (our folder or a cache snapshot)
    revision: str | None  # hub commit loaded (None: a local folder, or the hub's main)
    code_revision: str | None  # commit of the remote code repository, where it is another repository
    remote_code: bool  # the model brings its own Python code (auto_map)
    cache_key: str  # changes when the weights change (score cache)
    description: str


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def is_hub_id(raw: str) -> bool:
    return bool(_HUB_ID.match(raw)) and not raw.startswith((".", "/", "~"))


def read_config(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def code_repository(model_config: dict) -> str | None:
    """The hub repository whose code the config's ``auto_map`` imports ("repo--module.Class"), if any."""
    auto_map = model_config.get("auto_map")
    if not isinstance(auto_map, dict):
        return None
    for ref in auto_map.values():
        refs = ref if isinstance(ref, (list, tuple)) else [ref]
        for item in refs:
            if isinstance(item, str) and "--" in item:
                return item.split("--", 1)[0]
    return None


def fingerprint(folder: Path) -> str:
    """Changes when the weights in a folder change (so cached scores of an old model are not reused)."""
    parts = []
    for name in ("model.safetensors", "pytorch_model.bin", CARD_FILE):
        path = folder / name
        if path.is_file():
            stat = path.stat()
            parts.append(f"{name}:{stat.st_size}:{int(stat.st_mtime)}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]


def missing_weights(folder: Path) -> str | None:
    """Why the folder has no usable weights (None if it has them): no file, or a shard of an index missing."""
    for name in WEIGHT_FILES:
        path = folder / name
        if not path.is_file():
            continue
        if not name.endswith(".index.json"):
            return None if path.stat().st_size > 0 else f"{name} is empty"
        index = read_config(path)
        shards = sorted(set((index.get("weight_map") or {}).values()))
        absent = [s for s in shards if not (folder / s).is_file()]
        if not shards:
            return f"{name} lists no weight files"
        return f"weight files missing: {', '.join(absent[:3])}" if absent else None
    return "no weights file (" + ", ".join(WEIGHT_FILES[::2]) + ")"


# --------------------------------------------------------------------------- trust and pins


def trusted(raw: str, folder: Path | None, explicit: bool = False) -> bool:
    """Whether a model may run its own code (see the module docstring for who decides)."""
    if explicit or raw == config.DEFAULT_MODEL_ID:
        return True
    settings = config.Settings.load()
    names = {raw}
    if folder is not None:
        names.add(str(folder))
        try:
            models = config.models_dir().resolve()
            if folder.resolve().parent == models:
                return True
        except OSError:
            pass
    # a hub id is trusted as "id" or, pinned to one commit, as "id@commit" (pinned_revisions loads that commit)
    trusted_names = {entry.split("@", 1)[0] if _trusted_commit(entry) else entry for entry in settings.trusted_models}
    return bool(names & trusted_names)


def _trusted_commit(entry: str) -> str | None:
    name, _, commit = entry.rpartition("@")
    return commit if name and _COMMIT.match(commit) else None


def pinned_revisions(raw: str) -> tuple[str | None, str | None]:
    """(model commit, code commit) pinned for ``raw``: the default model's settings (or its first load), or
    the commit a trusted hub id was trusted at (``model trust ID@COMMIT``)."""
    settings = config.Settings.load()
    if raw != config.DEFAULT_MODEL_ID:
        commit = next((_trusted_commit(e) for e in settings.trusted_models
                       if e.startswith(raw + "@") and _trusted_commit(e)), None)
        return commit, None
    return (settings.model_revision or config.DEFAULT_MODEL_REVISION or None,
            settings.code_revision or config.DEFAULT_CODE_REVISION or None)


def record_pins(raw: str, revision: str | None, code_revision: str | None) -> None:
    """Pin the default model (and its code) to the commits just loaded, where nothing is pinned yet."""
    if raw != config.DEFAULT_MODEL_ID:
        return
    settings = config.Settings.load()
    changed = False
    if revision and _COMMIT.match(revision) and not settings.model_revision:
        settings.model_revision, changed = revision, True
    if code_revision and _COMMIT.match(code_revision) and not settings.code_revision:
        settings.code_revision, changed = code_revision, True
    if changed:
        try:
            settings.save()
        except OSError:  # a read-only data directory: the pin is simply not kept
            pass


def cached_commit(repo_id: str, filename: str, revision: str | None = None) -> str | None:
    """The snapshot commit of a file in the Hugging Face cache (None if not cached)."""
    from huggingface_hub import try_to_load_from_cache

    path = try_to_load_from_cache(repo_id, filename, revision=revision)
    if isinstance(path, str) and Path(path).is_file():
        return Path(path).parent.name
    return None


def code_commit(model_config: dict, pinned: str | None) -> str | None:
    """The commit of the remote code repository to import: the pin, else what the cache holds."""
    repo = code_repository(model_config)
    if repo is None:
        return None
    if pinned:
        return pinned
    auto_map = model_config.get("auto_map") or {}
    module = next((str(v).split("--", 1)[1].split(".")[0] for v in auto_map.values()
                   if isinstance(v, str) and "--" in v), "")
    return cached_commit(repo, f"{module}.py") if module else None


# --------------------------------------------------------------------------- resolving


_hub_failures: dict[str, tuple[float, str]] = {}


def resolve(raw_in: str, trust_remote_code: bool = False) -> ModelSource:
    """The source of a model name: a local folder or a hub id; ModelLoadError within seconds."""
    raw = str(raw_in).strip()
    if not raw:
        raise ModelLoadError("no model given")
    folder = Path(raw).expanduser()
    if folder.is_dir():
        return _local(raw, folder.resolve(), trust_remote_code)
    if folder.exists():
        raise ModelLoadError(f"{raw} is a file, not a model folder")
    if is_hub_id(raw):
        return _hub(raw, trust_remote_code)
    raise ModelLoadError(f"model not found: '{raw}' is neither a folder nor a Hugging Face model id")


def _check_trust(raw: str, model_config: dict, folder: Path | None, explicit: bool) -> bool:
    remote = bool(model_config.get("auto_map"))
    if remote and not trusted(raw, folder, explicit):
        raise ModelLoadError(
            f"model '{raw}' brings its own Python code (auto_map in its config.json), which runs only for "
            "models the operator trusts: `python -m affiliation_curator model trust NAME`, or --trust-remote-code"
        )
    return remote


def _local(raw: str, folder: Path, explicit: bool) -> ModelSource:
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"{folder} is not a model folder (it has no config.json)")
    problem = missing_weights(folder)
    if problem:
        raise ModelLoadError(f"model folder {folder} is incomplete: {problem}")
    model_config = read_config(folder / "config.json")
    remote = _check_trust(raw, model_config, folder, explicit)
    # our models fine-tuned from the default keep importing its code repository: same pin
    _, code_pin = pinned_revisions(config.DEFAULT_MODEL_ID)
    code_rev = code_commit(model_config, code_pin) if remote else None
    return ModelSource(raw=raw, source=str(folder), model_id=str(folder), local_only=True, folder=folder,
                       revision=None, code_revision=code_rev, remote_code=remote,
                       cache_key=f"{folder}@{fingerprint(folder)}", description=f"{folder.name} (local model {folder})")


def _hub(raw: str, explicit: bool) -> ModelSource:
    from huggingface_hub import try_to_load_from_cache

    revision, code_pin = pinned_revisions(raw)
    cached = try_to_load_from_cache(raw, "config.json", revision=revision)
    snapshot = Path(cached).parent if isinstance(cached, str) and Path(cached).is_file() else None
    where = f" (pinned to {revision[:12]})" if revision else ""
    if snapshot is not None:
        problem = missing_weights(snapshot)
        if problem is None:
            model_config = read_config(snapshot / "config.json")
            remote = _check_trust(raw, model_config, None, explicit)
            commit = snapshot.name if _COMMIT.match(snapshot.name) else revision
            return ModelSource(raw=raw, source=raw, model_id=raw, local_only=True, folder=snapshot,
                               revision=commit, code_revision=code_commit(model_config, code_pin) if remote else None,
                               remote_code=remote, cache_key=f"{raw}@{commit}" if commit else raw,
                               description=f"{raw} (Hugging Face Hub{where})")
        partial = (f"model '{raw}'{where} is only partly in the Hugging Face cache ({snapshot}: config.json but "
                   f"{problem}; an interrupted download?)")
        if hub_offline():
            raise ModelLoadError(partial + ": connect to the Hugging Face Hub once to finish it [HF_HUB_OFFLINE is set]")
        _ask_hub(raw, revision, prefix=partial + "; fetching it again failed")
    else:
        _ask_hub(raw, revision)
    model_config = _fetched_config(raw, revision)
    remote = _check_trust(raw, model_config, None, explicit)
    return ModelSource(raw=raw, source=raw, model_id=raw, local_only=False, folder=None, revision=revision,
                       code_revision=code_pin if remote else None, remote_code=remote,
                       cache_key=f"{raw}@{revision}" if revision else raw,
                       description=f"{raw} (Hugging Face Hub{where})")


def _ask_hub(raw: str, revision: str | None, prefix: str = "") -> None:
    """One metadata request with a short timeout; ModelLoadError when the hub cannot be reached."""
    offline_msg = prefix or (
        f"model '{raw}' could not be fetched: no connection to the Hugging Face Hub (offline)"
        " and it is not in the local Hugging Face cache"
    )
    if hub_offline():
        raise ModelLoadError(offline_msg + " [HF_HUB_OFFLINE is set]")
    recent = _hub_failures.get(raw)
    if recent and time.monotonic() - recent[0] < _FAILED_HUB_TTL_S:
        raise ModelLoadError(recent[1])
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        HfApi().model_info(raw, revision=revision, timeout=HUB_TIMEOUT_S)
    except GatedRepoError:
        message = f"model '{raw}' is gated on the Hugging Face Hub: log in with a token that has access"
    except RevisionNotFoundError:
        message = f"model '{raw}' has no commit {revision} on the Hugging Face Hub (check the pinned model_revision)"
    except RepositoryNotFoundError:
        message = f"no model '{raw}' on the Hugging Face Hub (check the id, or give a local folder)"
    except Exception as err:  # noqa: BLE001 - any network failure means: offline
        message = f"{offline_msg} [{type(err).__name__}: {str(err)[:120]}]"
    else:
        return
    _hub_failures[raw] = (time.monotonic(), message)
    raise ModelLoadError(message)


def _fetched_config(raw: str, revision: str | None) -> dict:
    try:
        from huggingface_hub import hf_hub_download

        return read_config(Path(hf_hub_download(raw, "config.json", revision=revision)))
    except Exception as err:  # noqa: BLE001 - any download failure
        raise ModelLoadError(f"model '{raw}': its config.json could not be fetched ({type(err).__name__})") from None
