"""The engine as an HTTP service (``python -m affiliation_curator serve``).

ROR-API-v2-compatible affiliation matching (``/v2/organizations?affiliation=``), the W3C
reconciliation API for OpenRefine (``/reconcile``), ``/health`` and a small home page. Needs
FastAPI and uvicorn; the rest of the core does not import this package.
"""

from affiliation_curator.service.limits import MAX_BATCH, MAX_BODY_BYTES, MAX_QUERY_CHARS, RateLimiter

__all__ = ["MAX_BATCH", "MAX_BODY_BYTES", "MAX_QUERY_CHARS", "RateLimiter", "create_app"]


def create_app(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - imports FastAPI only when used
    """See ``affiliation_curator.service.app.create_app``."""
    from affiliation_curator.service.app import create_app as create

    return create(*args, **kwargs)
