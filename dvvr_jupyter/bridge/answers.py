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
        if status == 405 and "Allow" not in headers:  # RFC 9110: a 405 says what the resource takes
            headers["Allow"] = ", ".join(self.allowed_methods())
        self.set_status(status)
        for name, value in headers.items():
            self.set_header(name, value)
        self.finish(body)

    def allowed_methods(self) -> list[str]:
        """The methods this handler answers: those its class (not tornado's
        base, whose methods all answer 405) defines.  Never OPTIONS: no route
        of dvvr answers it (no CORS: the VR client needs none)."""
        return [method for method in self.SUPPORTED_METHODS
                if method != "OPTIONS" and _defined_here(type(self), method.lower())]


def _defined_here(cls: type, name: str) -> bool:
    for klass in cls.__mro__:
        if name in vars(klass):
            return not klass.__module__.startswith("tornado.")
    return False
