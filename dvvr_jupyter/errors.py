"""One small exception family carrying an HTTP status, and the one place
where any error becomes an answer's body (``error_answer``).

The engine raises these; every route (the protocol app, the Jupyter
server's VR proxy and explorer route, the kernel's explorer routes and
their comm fallback, tornado's framing errors) answers with
``error_answer``, so a client sees one error shape whichever side failed.
Anything that is not a ``DvvrError`` nor an HTTP error of the web framework
is a bug and answers 500.  No torch or tornado imports: the Jupyter server
process imports this module.
"""

from __future__ import annotations

import json
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


class Forbidden(DvvrError):
    """A request without the credential this server needs (a kernel's secret)."""

    status = 403


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


JSON_TYPE = "application/json; charset=UTF-8"


def error_body(exc: BaseException | None, status: int = 500, reason: str | None = None,
               failure: str = "the server failed on this request (see its log)") -> dict:
    """The JSON body answering ``exc``: a ``DvvrError``'s own; an HTTP error
    of the web framework (tornado's ``HTTPError``: a ``status_code``, its
    ``reason`` as the error's name); no exception and a 4xx ``status``
    (tornado's ``send_error``): that status; anything else is a bug, ``failure``."""
    if isinstance(exc, DvvrError):
        return exc.to_json()
    code = getattr(exc, "status_code", None)
    if isinstance(code, int) and 400 <= code < 600:
        reason = getattr(exc, "reason", None) or reason or "Error"
        message = getattr(exc, "log_message", None) or reason
        args = getattr(exc, "args", ())
        if args and getattr(exc, "log_message", None):
            try:
                message = message % args
            except (TypeError, ValueError):
                pass  # a message that is not a format string: as it is
        return {"error": reason, "message": message, "status": code}
    if exc is None and 400 <= status < 500:  # send_error(404) without an exception: its own status
        reason = reason or "Error"
        return {"error": reason, "message": reason, "status": status}
    return InternalServerError(failure).to_json()


def error_answer(exc: BaseException | None, status: int = 500, reason: str | None = None,
                 failure: str = "the server failed on this request (see its log)"
                 ) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, body)`` of the JSON answer to ``exc`` (see ``error_body``)."""
    body = error_body(exc, status, reason, failure)
    headers = exc.headers() if isinstance(exc, DvvrError) else {}
    return body["status"], {**headers, "Content-Type": JSON_TYPE}, json.dumps(body).encode()
