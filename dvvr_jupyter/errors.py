"""One small exception family carrying an HTTP status.

The engine raises these; the protocol app maps them to JSON answers in one
place (``protocol/handlers.py``).  Anything else escaping a handler is a bug
and answers 500.  The Jupyter server's VR proxy (``serverext/proxy.py``)
answers its own errors with the same ``to_json()`` body, so a VR client sees
one error shape whichever side failed.  No torch or tornado imports: the
Jupyter server process imports this module.
"""

from __future__ import annotations


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


class BadRequest(DvvrError):
    """Malformed body, wrong type, a mode that is not allowed."""

    status = 400


class NotFound(DvvrError):
    """An id (network, dataset, layer, channel, ...) that does not exist."""

    status = 404


class Conflict(DvvrError):
    """The request is valid but the server state does not allow it yet."""

    status = 409


class Unprocessable(DvvrError):
    """The request is valid but the work it asks for failed on this model."""

    status = 422


class InternalServerError(DvvrError):
    """A bug: the server failed on a request it should have answered."""

    status = 500


class Unavailable(DvvrError):
    """Nothing can answer right now (no session, kernel gone)."""

    status = 503


class GatewayTimeout(DvvrError):
    """The kernel behind the VR proxy did not answer in time."""

    status = 504


class ProjectError(ValueError):
    """A project file that does not define what ``dvvr serve`` needs (not an
    HTTP error: raised before anything is served)."""
