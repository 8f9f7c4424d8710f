"""Where the app keeps its files, and the limits and settings every entry point shares.

Everything lives under one data directory: ``~/.affiliation-curator`` by default,
``AFFILIATION_CURATOR_HOME`` when set. The database URL defaults to an SQLite file in it;
``AFFILIATION_CURATOR_DB`` takes any SQLAlchemy URL (PostgreSQL included).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
DEMO_REGISTRY_PATH = PROJECT_DIR / "data" / "demo_registry.json"
SAMPLE_AFFILIATIONS_PATH = PROJECT_DIR / "data" / "sample_affiliations.txt"

DEFAULT_MODEL_ID = "cometadata/jina-reranker-v2-multilingual-affiliations"

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


def home() -> Path:
    """The data directory (created on first use)."""
    path = Path(os.environ.get("AFFILIATION_CURATOR_HOME") or Path.home() / ".affiliation-curator")
    path.mkdir(parents=True, exist_ok=True)
    return path


def registries_dir() -> Path:
    """Folder holding one sub-folder per imported registry."""
    path = home() / "registries"
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    """Folder holding fine-tuned reranker models."""
    path = home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url() -> str:
    """SQLAlchemy URL of the store: ``AFFILIATION_CURATOR_DB`` or an SQLite file in the home."""
    return os.environ.get("AFFILIATION_CURATOR_DB") or f"sqlite:///{home() / 'curator.db'}"


@dataclass
class Settings:
    """User settings kept in ``settings.json`` in the data directory."""

    model: str = ""  # empty: the default hub model, falling back to the best local scorer
    curator: str = ""  # the name the app last stored decisions under (prefills the sidebar)

    @classmethod
    def load(cls) -> "Settings":
        path = home() / "settings.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        model = data.get("model")
        curator = data.get("curator")
        return cls(model=model if isinstance(model, str) else "", curator=curator if isinstance(curator, str) else "")

    def save(self) -> None:
        path = home() / "settings.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"model": self.model, "curator": self.curator}, indent=1), encoding="utf-8")
        tmp.replace(path)
