"""Every error a dvvr route answers, as JSON in one shape.

A mixin for tornado handlers (it imports no tornado): ``write_error``
answers ``errors.error_answer``'s status, headers and body, so the protocol
server, the kernel's explorer routes and the Jupyter server's routes never
build an error body of their own.
"""

from __future__ import annotations

from ..errors import error_answer


class JSONErrors:
    """``write_error`` for a tornado ``RequestHandler``: the ``DvvrError``
    body (with its headers, such as ``Retry-After``); an HTTP error of
    tornado or Jupyter as ``{"error": <reason>, "message", "status"}``;
    anything else 500 with ``failure_message``."""

    failure_message = "the server failed on this request (see its log)"

    def write_error(self, status_code: int, **kwargs) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        status, headers, body = error_answer(exc, status_code, self._reason, self.failure_message)
        self.set_status(status)
        for name, value in headers.items():
            self.set_header(name, value)
        self.finish(body)
