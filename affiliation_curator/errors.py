"""Errors the core raises with a message meant for the user (no traceback is shown)."""


class CuratorError(Exception):
    """Base class: a problem the user can act on; ``str(err)`` is the message to show."""


class RegistryImportError(CuratorError):
    """A registry file could not be imported (corrupt, wrong shape, empty, too big...)."""


class RegistryNotFoundError(CuratorError):
    """A registry name or path does not exist."""


class InputError(CuratorError):
    """An affiliation input (paste, upload, CLI file) is unusable."""


class ColumnChoiceNeeded(InputError):
    """A table has several text columns and none named like an affiliation: which one? (a question, not a fault)."""


class ModelLoadError(CuratorError):
    """A reranker model could not be loaded (unknown id, offline hub, broken folder)."""


class ScoringError(CuratorError):
    """A loaded reranker failed while scoring (an exception, NaN scores); the engine falls back."""


class RegistryDownloadError(CuratorError):
    """A ROR release could not be listed, downloaded, verified or imported (network, disk, checksum...)."""


class DataDirError(CuratorError):
    """The data directory (or a folder in it) cannot be created or written."""


def log_unexpected(err: BaseException, where: str = "") -> str:
    """Log an unexpected error with its traceback on the server; returns the short id to show the user.

    The user sees only the id (no message, SQL, parameters or paths); whoever runs the server
    finds the traceback in its log under ``error <id>``.
    """
    import logging
    import uuid

    error_id = uuid.uuid4().hex[:10]
    logging.getLogger("affiliation_curator").error(
        "error %s%s: %s: %s", error_id, f" in {where}" if where else "", type(err).__name__, err, exc_info=err
    )
    return error_id
