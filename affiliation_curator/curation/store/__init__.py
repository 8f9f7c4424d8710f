"""The curation store (SQLAlchemy; SQLite by default, any database by URL).

``Store`` holds batches of affiliation strings, their ranked candidates and the curators'
decisions; ``migrations`` brings any older database up to date when it is opened.
"""

from affiliation_curator.curation.store.core import (
    DECIDING_ACTIONS,
    AcceptedInstitution,
    BatchInfo,
    BulkAccept,
    DecisionView,
    ItemView,
    Store,
    UndoResult,
    affiliation_hash,
)
from affiliation_curator.curation.store.engine import dispose_engines, get_engine
from affiliation_curator.curation.store.migrations import LATEST_VERSION, MIGRATIONS, StoreError, current_version, migrate
from affiliation_curator.curation.store.models import ACTIONS

__all__ = [
    "ACTIONS",
    "AcceptedInstitution",
    "DECIDING_ACTIONS",
    "LATEST_VERSION",
    "MIGRATIONS",
    "BatchInfo",
    "BulkAccept",
    "DecisionView",
    "ItemView",
    "Store",
    "StoreError",
    "UndoResult",
    "affiliation_hash",
    "current_version",
    "dispose_engines",
    "get_engine",
    "migrate",
]
