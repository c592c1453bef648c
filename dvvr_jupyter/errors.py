"""One small exception family carrying an HTTP status.

The engine raises these; the protocol app maps them to JSON answers in one
place (``protocol/handlers.py``).  Anything else escaping a handler is a bug
and answers 500.  The Jupyter server's VR proxy (``serverext/proxy.py``)
answers its own errors with the same ``to_json()`` body, so a VR client sees
one error shape whichever side failed.  No torch or tornado imports: the
Jupyter server process imports this module.
"""

from __future__ import annotations

import math


class DvvrError(Exception):
    """Base class: ``status`` is the HTTP status a client request maps to."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def to_json(self) -> dict:
        body = {"error": type(self).__name__, "message": self.message, "status": self.status}
        if self.field is not None:
            body["field"] = self.field
        return body

    def headers(self) -> dict[str, str]:
        """HTTP headers the answer carries besides the body (none by default)."""
        return {}


class BadRequest(DvvrError):
    """Malformed body, wrong type, a mode that is not allowed."""

    status = 400


class NotFound(DvvrError):
    """An id (network, dataset, layer, channel, ...) that does not exist."""

    status = 404


class Conflict(DvvrError):
    """The request is valid but the server state does not allow it yet."""

    status = 409


class PayloadTooLarge(DvvrError):
    """A request body over the protocol's limit (``bridge.limits.MAX_BODY_BYTES``)."""

    status = 413


class TooManyRequests(DvvrError):
    """Too many wrong tokens from one address: try again after ``retry_after`` seconds."""

    status = 429

    def __init__(self, message: str, *, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


class Unprocessable(DvvrError):
    """The request is valid but the work it asks for failed on this model."""

    status = 422


class InternalServerError(DvvrError):
    """A bug: the server failed on a request it should have answered."""

    status = 500


class BadGateway(DvvrError):
    """The kernel behind the VR proxy ended the connection without an answer."""

    status = 502


class Unavailable(DvvrError):
    """Nothing can answer right now (no session, kernel gone)."""

    status = 503


class GatewayTimeout(DvvrError):
    """The kernel behind the VR proxy did not answer in time."""

    status = 504


class ProjectError(ValueError):
    """A project file that does not define what ``dvvr serve`` needs (not an
    HTTP error: raised before anything is served)."""
