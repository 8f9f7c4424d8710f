"""The one error a request can meet: an HTTP status and a message for the client."""

from __future__ import annotations

from affiliation_curator.errors import CuratorError


class ServiceError(CuratorError):
    """A request the service refuses; answered as ``{"errors": [message]}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
