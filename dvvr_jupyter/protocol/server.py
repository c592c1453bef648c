"""Serving the protocol app on a background thread with its own event loop
(``dvvr.serve``, ``dvvr serve``, the kernel side)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import threading
import warnings
from typing import TYPE_CHECKING

import tornado.netutil

from ..bridge import redact
from ..bridge.redact import url_segment
from .app import make_app
from .httpserver import TRANSPORT_MAX_BODY, JSONErrorHTTPServer

if TYPE_CHECKING:
    from ..engine.session import Session

log = logging.getLogger("dvvr.server")

#: Seconds a connection may sit without a request (or with half a request's
#: headers), and a request's body may take to arrive, before tornado closes
#: it: each open socket costs a file descriptor, and without these a slow
#: sender kept one forever.  The VR client sends its next request within
#: seconds and reconnects when a kept-alive connection was closed; its
#: bodies are under a kilobyte.  A long poll (``events/``) is a request in
#: progress, not an idle connection.
IDLE_TIMEOUT = 30.0
BODY_TIMEOUT = 30.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """A host to put in a URL a headset can use."""
    if host in ("", "0.0.0.0", "::"):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.connect(("10.255.255.255", 1))  # no packet is sent: picks the LAN interface
                return probe.getsockname()[0]
        except OSError:
            return socket.gethostname()
    return f"[{host}]" if ":" in host else host


class Server:
    """The protocol server for ``session``.

    ``url`` is the base URL to type into the VR client (ends with ``/``).
    ``token`` puts a capability in the path: ``http://host:port/<token>/``.
    """

    def __init__(self, session: Session, host: str = "127.0.0.1", port: int = 5570, *,
                 token: str | None = None, secret: str | None = None, log_function=None, precompute: bool = False,
                 log_exposure: bool = True, extra_routes=(), ssl_options=None, idle_timeout: float = IDLE_TIMEOUT,
                 body_timeout: float = BODY_TIMEOUT):
        self.session = session
        self.idle_timeout = idle_timeout
        self.body_timeout = body_timeout
        self.ssl_options = ssl_options  # an ssl.SSLContext: https (WebXR beyond localhost needs it)
        self._log_exposure = log_exposure
        self.host = host
        self.port = port
        self.token = token
        # the URL carries the token percent-encoded (tornado decodes the path before comparing)
        self.prefix = f"/{url_segment(token)}/" if token else "/"
        self.app = make_app(session, token=token, secret=secret, log_function=log_function,
                            extra_routes=extra_routes)
        self._secrets = [s for s in (token, token and url_segment(token), secret) if s]
        self._log_filter: redact.SecretFilter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: JSONErrorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._precomputer = None
        if precompute:  # idle-time work, for servers whose weights do not change (dvvr serve)
            if hasattr(session, "add_done_callback"):  # still loading
                session.add_done_callback(lambda done: done.exception() or self._start_precompute(done.result()))
            else:
                self._start_precompute(session)

    def _start_precompute(self, session) -> None:
        from ..engine.precompute import Precomputer

        self._precomputer = Precomputer(session)
        self.app.settings["dvvr_activity"] = self._precomputer

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_options is not None else "http"
        return f"{scheme}://{url_host(self.host)}:{self.port}{self.prefix}"

    def _bind(self) -> None:
        sockets = tornado.netutil.bind_sockets(self.port, address=self.host or None)
        self.port = sockets[0].getsockname()[1]
        # bodies are limited (413) by the handlers, which see them first
        self._server = JSONErrorHTTPServer(self.app, max_body_size=TRANSPORT_MAX_BODY, ssl_options=self.ssl_options,
                                           idle_connection_timeout=self.idle_timeout, body_timeout=self.body_timeout)
        self._server.add_sockets(sockets)
        if self._log_exposure and not is_loopback(self.host):
            log.warning("serving beyond loopback on %s: anyone who can reach this port can use it%s",
                        self.host, "" if self.token else " (add --token to require a capability URL)")

    # --- background thread ---------------------------------------------------
    def start(self) -> Server:
        """Bind now (errors such as a taken port raise here) and serve on a
        thread with its own event loop; returns at once."""
        ready = threading.Event()
        failure: list[BaseException] = []
        if self._secrets and self._log_filter is None:
            self._log_filter = redact.install(self._secrets)

        def run():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                self._bind()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name=f"dvvr-server-{self.port}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._precomputer is not None:
            self._precomputer.stop()
        if self._log_filter is not None:
            redact.remove(self._log_filter)
            self._log_filter = None
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        async def shutdown():
            if self._server is not None:
                self._server.stop()  # no new connections
            await self._end_polls()
            if self._server is not None:
                await self._server.close_all_connections()
            asyncio.get_running_loop().stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    async def _end_polls(self, grace: float = 0.5) -> None:
        """Waiting ``events/`` polls answer now (their clients poll again
        elsewhere or see the server gone), and requests in flight get
        ``grace`` seconds to answer (those waiting for a project that failed
        to load answer 503 at once), before the connections close."""
        self.app.settings["dvvr_stopping"] = True
        polls = self.app.settings.get("dvvr_polls", set())
        for poll in list(polls):
            poll.wake()
        in_flight = self.app.settings.get("dvvr_in_flight", set())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        await asyncio.sleep(0)  # handlers woken by the same event as this shutdown run first
        while (polls or in_flight) and loop.time() < deadline:
            await asyncio.sleep(0.01)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __repr__(self) -> str:
        return f"<dvvr Server {self.url} {'running' if self.running else 'stopped'}>"


def serve(session: Session, host: str = "127.0.0.1", port: int = 5570, *, token: str | None = None,
          log_function=None) -> Server:
    """Serve ``session`` to VR clients on a background thread (``dvvr.serve``,
    ``%dvvr serve``); returns the running ``Server``.  Beyond loopback without
    a token it warns; a taken port raises ``OSError`` saying what to do."""
    if not is_loopback(host):
        guard = "its token" if token else "nothing: add token='random' for an unguessable URL"
        warnings.warn(f"serving on {host}: anyone who can reach port {port} can see and run your networks "
                      f"(guarded by {guard}); in Jupyter prefer the VR URL that goes through Jupyter (%dvvr url)",
                      stacklevel=3)
    server = Server(session, host, port, token=token, log_function=log_function, log_exposure=False)
    try:
        return server.start()
    except OSError as exc:
        msg = (f"cannot serve on {host}:{port}: {exc.strerror or exc}; pick another port "
               f"(port={port + 1}, or 0 for any free one) and type that URL into the VR client")
        raise OSError(msg) from exc
