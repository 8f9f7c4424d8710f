"""Where the app keeps its files, and the limits and settings every entry point shares.

Everything lives under one data directory: ``~/.affiliation-curator`` by default,
``AFFILIATION_CURATOR_HOME`` when set. The database URL defaults to an SQLite file in it;
``AFFILIATION_CURATOR_DB`` takes any SQLAlchemy URL (PostgreSQL included).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from affiliation_curator.errors import DataDirError

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
DEMO_REGISTRY_PATH = PROJECT_DIR / "data" / "demo_registry.json"
SAMPLE_AFFILIATIONS_PATH = PROJECT_DIR / "data" / "sample_affiliations.txt"

DEFAULT_MODEL_ID = "cometadata/jina-reranker-v2-multilingual-affiliations"
# Commits the default model and its remote code are loaded at. None: pinned on first load to what the
# Hugging Face cache holds (settings model_revision / code_revision; see model_source.py).
DEFAULT_MODEL_REVISION: str | None = None
DEFAULT_CODE_REVISION: str | None = None

# Explicit limits (documented in the README).
MAX_REGISTRY_FILE_BYTES = 2 * 1024**3  # 2 GiB: a full ROR dump zip is ~0.3 GiB unpacked JSON ~1 GiB
MAX_UPLOAD_MB = 20  # affiliation uploads in the app
MAX_REGISTRY_UPLOAD_MB = 100  # registry uploads in the app (a full ROR dump zip is ~50 MB); larger: the CLI
MAX_BATCH_ROWS = 50_000  # affiliations per batch
MAX_AFFILIATION_CHARS = 2_000  # longer strings are cut (with a note) before matching
# What an .xlsx may unpack to, summed over its zip members' declared sizes and checked before
# parsing (zipfile never yields more than a member declares): 50,000 affiliations of a few
# hundred characters in a handful of columns unpack to well under this; a 435 kB "zip bomb"
# workbook to 301 MB.
MAX_XLSX_UNPACKED_BYTES = 64 * 1024**2
MAX_XLSX_COLUMNS = 100  # cells right of this column are not read


def _unwritable(path: Path, err: OSError) -> DataDirError:
    return DataDirError(
        f"the data directory {path} cannot be written ({err.strerror or err}): set AFFILIATION_CURATOR_HOME "
        "to a writable folder with room (e.g. AFFILIATION_CURATOR_HOME=/tmp/curator), or fix that folder's "
        "permissions; nothing kept in it was changed"
    )


def _folder(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _unwritable(path, err) from None
    return path


def home() -> Path:
    """The data directory (created on first use); DataDirError when it cannot be created."""
    return _folder(Path(os.environ.get("AFFILIATION_CURATOR_HOME") or Path.home() / ".affiliation-curator"))


def check_home_writable() -> Path:
    """The data directory, once a file could be written in it; else DataDirError naming it and the fix."""
    path = home()
    probe = path / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise _unwritable(path, err) from None
    return path


def registries_dir() -> Path:
    """Folder holding one sub-folder per imported registry."""
    return _folder(home() / "registries")


def models_dir() -> Path:
    """Folder holding fine-tuned reranker models."""
    return _folder(home() / "models")


def database_url() -> str:
    """SQLAlchemy URL of the store: ``AFFILIATION_CURATOR_DB`` or an SQLite file in the home."""
    return os.environ.get("AFFILIATION_CURATOR_DB") or f"sqlite:///{home() / 'curator.db'}"


@dataclass
class Settings:
    """User settings kept in ``settings.json`` in the data directory (keys it does not know are kept).

    The model fields are the operator's: they are set with the command line (``model use``,
    ``model trust``, ``model pin``) or by editing the file, never from a web form.
    """

    model: str = ""  # empty: the default hub model, falling back to the best local scorer
    curator: str = ""  # kept from older versions; nothing reads it: the app keeps the name per browser session
    sign_in: str = ""  # "" / off: a one-person tool; users: the app's own user list; oidc: st.login (team/users.py)
    model_revision: str = ""  # commit of the default model ("" until its first load pins it)
    code_revision: str = ""  # commit of the default model's remote code ("" until first load)
    trusted_models: list[str] = field(default_factory=list)  # hub ids / folders allowed to run their own code
    allowed_models: list[str] = field(default_factory=list)  # further hub ids the app's model pickers offer
    _extra: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls) -> "Settings":
        path = home() / "settings.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        settings = cls()
        for name in ("model", "curator", "model_revision", "code_revision", "sign_in"):
            if isinstance(data.get(name), str):
                setattr(settings, name, data[name].strip() if name != "curator" else data[name])
        for name in ("trusted_models", "allowed_models"):
            values = data.get(name)
            if isinstance(values, list):
                setattr(settings, name, [v.strip() for v in values if isinstance(v, str) and v.strip()])
        settings._extra = {k: v for k, v in data.items() if k not in settings._fields()}
        return settings

    @classmethod
    def _fields(cls) -> set[str]:
        return {"model", "curator", "model_revision", "code_revision", "sign_in", "trusted_models", "allowed_models"}

    def save(self) -> None:
        path = home() / "settings.json"
        data = {**self._extra, **{k: v for k, v in asdict(self).items() if k in self._fields()}}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        tmp.replace(path)
