"""The VR path ``{base_url}dvvr/vr/<token>/[s/<session>/]<protocol path>``,
forwarded to the kernel that serves the session.

The VR client sends no cookies or Jupyter token: the token in the path is
the capability, compared in constant time, with wrong tokens held back per
address (``bridge.throttle``).  The path shares the Jupyter origin: the
only HTML and scripts served here are the package's own 3D client files
(``xr/``, under a Content-Security-Policy that runs nothing else), and every
error answers the kernel's own error body (``bridge.answers.JSONErrors``).  Bodies over
``MAX_BODY_BYTES`` are refused (413): read and dropped up to
``REFUSE_UNREAD_BYTES`` (the sender then reads the answer), refused from
their headers, unread, beyond.

This handler writes its own access line (``_log``, tornado's hook for it):
the path with the token hidden, no Referer (it may hold the VR URL), no
header dump, and nothing above DEBUG for what is already reported once
elsewhere (a burst of wrong tokens, no kernel serving).
"""

from __future__ import annotations

import asyncio
import logging

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from ..bridge.answers import JSONErrors
from ..bridge.limits import LimitedBody
from ..bridge.redact import shorten
from ..bridge.shown import RESULT_HEADER
from ..errors import BadRequest, DvvrError, Unavailable
from .forward import answer, answer_of, forward_to_kernel, share_of
from .shares import ClientGone
from .store import lookup_of

#: What stands for the token in every log line.
HIDDEN = "<token>"
WRONG_TOKEN = "no such VR URL: %dvvr url in a notebook prints the current one (it changes with %dvvr rotate)"


def _taken(log: logging.Logger, level: int) -> bool:
    """Would a handler write a record of ``level`` from ``log``?  Jupyter's
    loggers are enabled at DEBUG with the handler at INFO: every access line
    was built and passed through the secret filter (7 % of the proxy's CPU,
    profiled) only to be dropped."""
    if not log.isEnabledFor(level):
        return False
    logger: logging.Logger | None = log
    found = False
    while logger is not None:
        if any(level >= handler.level for handler in logger.handlers):
            return True
        found = found or bool(logger.handlers)
        logger = logger.parent if logger.propagate else None
    # as logging's callHandlers: the last resort only where no logger had a handler
    return not found and logging.lastResort is not None and level >= logging.lastResort.level


@web.stream_request_body  # an oversized body is refused before Jupyter reads it into memory
class VRHandler(JSONErrors, LimitedBody, APIHandler):
    failure_message = "the dvvr proxy failed on this request (see the Jupyter server log)"
    quiet = False  # answered, and reported once elsewhere (a burst of wrong tokens, no kernel)
    _session_name: str | None = None

    def initialize(self):
        # Before anything can log this request: the token's path segment
        # becomes HIDDEN in the path and URI that Jupyter and tornado log.
        prefix = url_path_join(self.base_url, "dvvr/vr/")
        for attr in ("path", "uri"):
            value = getattr(self.request, attr)
            if value.startswith(prefix):
                _, slash, rest = value[len(prefix) :].partition("/")
                setattr(self.request, attr, f"{prefix}{HIDDEN}{slash}{rest}")

    def compute_etag(self):
        """None: no ETag.  The VR client never revalidates, and hashing every
        forwarded answer (2 MB a switch) was 3 % of the proxy's CPU (profiled)."""
        return None

    def check_xsrf_cookie(self):
        """No XSRF check on this handler only: the client cannot send the
        cookie, and the path's token already proves the sender knows the URL."""

    gone = None  # set when the client hangs up: its request leaves its share's line, or is aborted

    async def prepare(self):
        self.gone = asyncio.get_running_loop().create_future()
        await super().prepare()
        token = self.path_args[0] if self.path_args else ""
        self._check_token(token)
        self.refuse_unread()

    def _check_token(self, token: str) -> None:
        ext = self.settings["dvvr"]
        try:
            ext.throttle.check(self.request.remote_ip or "?", token, ext.tokens.current())
        except DvvrError:
            self.quiet = True  # the throttle logs each burst once
            raise

    def on_connection_close(self):
        if self.gone is not None and not self.gone.done():
            self.gone.set_result(None)
        super().on_connection_close()

    def log_exception(self, typ, value, tb):
        if isinstance(value, ClientGone):  # nobody to answer: said at DEBUG
            self.quiet = True
        elif isinstance(value, Unavailable):  # no kernel: said once per change, not per request
            self.settings["dvvr"].router.unavailable(self._session_name, value)
            self.quiet = True
        elif not isinstance(value, DvvrError):  # an answer, not a failure of the proxy: ``_log`` tells it
            super().log_exception(typ, value, tb)

    def _log(self):
        status = self.get_status()
        if self.quiet or status < 400:
            level = logging.DEBUG
        else:
            level = logging.INFO if status < 500 else logging.WARNING
        if _taken(self.log, level):
            self.log.log(level, "dvvr: VR %d %s %s (%s) %.1f ms", status, self.request.method,
                         shorten(self.request.path), self.request.remote_ip, 1000.0 * self.request.request_time())
        try:  # Jupyter's request metrics, which its own access log would have recorded
            from jupyter_server.prometheus.log_functions import prometheus_log_method

            prometheus_log_method(self)
        except Exception:  # noqa: BLE001, S110 - metrics are optional
            pass

    @allow_unauthenticated
    def options(self, token, path):
        """405 (Jupyter's handlers answer OPTIONS 200, empty, for CORS: the VR client needs none)."""
        raise web.HTTPError(405)

    @allow_unauthenticated
    async def get(self, token, path):
        await self.forward(path)

    @allow_unauthenticated
    async def put(self, token, path):
        await self.forward(path)

    @allow_unauthenticated
    async def post(self, token, path):
        await self.forward(path)

    async def forward(self, path: str) -> None:
        ext = self.settings["dvvr"]
        if path.startswith("s/"):
            self._session_name, _, path = path[2:].partition("/")
            if not self._session_name:
                raise BadRequest("s/<name>/ needs a session name (a kernel's %dvvr name, or its id)", field="session")
        entry = ext.router.resolve(self._session_name)
        ext.router.serving(self._session_name, entry)
        ext.router.saw(entry["kernel_id"], self.request.remote_ip or "?")
        kept = lookup_of(path) if self.request.method == "GET" and ext.store.budget else None
        key = ext.store.key_now(entry, kept) if kept is not None else None
        if kept is not None:
            stored = ext.store.answer_for(key)
            if stored is None and key in ext.store.pending:  # the same answer is on its way for another client
                stored = await self._joined(ext.store.pending[key])
            if stored is not None:  # the view shows the result this answer was built from
                answer(self, stored)
                return
        bringing = None
        if key is not None and key not in ext.store.pending:
            bringing = ext.store.pending[key] = asyncio.get_running_loop().create_future()
        brought = None  # what the waiters for ``bringing`` get (None: they forward on their own)
        try:
            response = await forward_to_kernel(self, entry, path, self.body, share=share_of(path))
            result = response.headers.get(RESULT_HEADER) if kept is not None and response.code == 200 else None
            if result is not None:
                ext.store.keep_kernels(ext.router.live_ids)
                kept_answer = answer_of(response)
                ext.store.put(entry, kept, result, kept_answer)
                if key is not None and result == key[1]:  # the result the waiters' view showed when they asked
                    brought = kept_answer
        finally:
            if bringing is not None:
                del ext.store.pending[key]
                bringing.set_result(brought)

    async def _joined(self, pending: asyncio.Future):
        """The answer another request's forward brings (``None``: it brought
        none that fits; forward this one).  A client that hangs up meanwhile stops waiting."""
        await asyncio.wait({pending, self.gone}, return_when=asyncio.FIRST_COMPLETED)
        if not pending.done():
            raise ClientGone("the client hung up (while its answer was on its way for another client)")
        kept = pending.result()
        if kept is not None:
            self.settings["dvvr"].store.joined += 1
        return kept
