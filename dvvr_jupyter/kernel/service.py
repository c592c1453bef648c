"""The kernel's dvvr service: the secret-guarded loopback server the Jupyter
server forwards to, its registration, and the optional direct server.

One per kernel process (``current()``).  The protocol server runs on its own
thread and event loop, so the VR client is answered while a cell runs.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import threading
import time
from pathlib import Path

from ..bridge import registry
from ..bridge import shown as shown_state
from ..bridge.token import read_token, rotate_token
from ..explore.requests import ExplorerRequests
from .clients import ClientTracker
from .explorer_route import connection, explorer_routes, on_main_thread
from .urls import jupyter_server_info, vr_url


def kernel_id() -> str:
    """This kernel's id from its connection file ``kernel-<id>.json``; the
    pid outside a Jupyter kernel (plain IPython)."""
    try:
        from ipykernel.connect import get_connection_file

        stem = Path(get_connection_file()).stem
        if stem.startswith("kernel-") and len(stem) > len("kernel-"):
            return stem[len("kernel-") :]
    except Exception:  # noqa: BLE001 - no kernel app: plain IPython or a script
        pass
    return f"pid-{os.getpid()}"


def default_name(kid: str) -> str:
    """The notebook's file stem when Jupyter tells us (stable across
    restarts and re-opens), else the kernel id's first 8 characters."""
    notebook = os.environ.get("JPY_SESSION_NAME")
    if notebook:
        return registry.slug(Path(notebook).stem)
    return kid[:8]


def quiet_access_logs() -> None:
    # Access lines would print into whatever cell is running.
    for name in ("dvvr.access", "tornado.access"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    logs_beside_cells()


class _BesideCells(logging.StreamHandler):
    """Writes to the kernel process's own stderr (the Jupyter server's terminal)."""


def logs_beside_cells() -> None:
    """In a kernel, what the serving threads log (a failed request's
    traceback) goes to the kernel process's own stderr, never into the output
    of whatever cell runs (saved with the notebook): without a handler,
    Python's last-resort one writes to ``sys.stderr``, which a kernel sends
    to the running cell."""
    import sys

    from IPython import get_ipython

    if getattr(get_ipython(), "kernel", None) is None or sys.__stderr__ is None:
        return  # not a kernel: sys.stderr is the terminal already
    for name in ("dvvr", "tornado"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, _BesideCells) for h in logger.handlers):
            handler = _BesideCells(sys.__stderr__)
            handler.setLevel(logging.WARNING)
            handler.setFormatter(logging.Formatter("[%(levelname)s %(asctime)s %(name)s] %(message)s"))
            logger.addHandler(handler)


class KernelService:
    def __init__(self, session=None):
        if session is None:
            from ..engine.session import default_session

            session = default_session()
        self.session = session
        self.kernel_id = kernel_id()
        self.name = default_name(self.kernel_id)
        self.clients = ClientTracker()
        # once an explorer shows the URLs and QR codes (its Connection panel),
        # the %load_ext panel points there instead of showing them a second time
        self.explorer_shown = False
        self.server = None  # behind Jupyter: loopback + secret
        self.shown = None  # the answer store's state file, while the server runs
        self.direct = None  # %dvvr serve: for clients that keep a direct URL
        self.secret = None
        self.started = None
        self._lock = threading.RLock()
        self._atexit = False
        self._headsets: set[str] = set()  # names handed out by %dvvr headset
        # the explorer's requests, one dispatcher for the HTTP route and every widget's comm
        self.explorer = ExplorerRequests(session, connection=lambda: connection(self), schedule=on_main_thread)

    # --- life cycle ----------------------------------------------------------
    def start(self) -> KernelService:
        from ..protocol.server import Server

        with self._lock:
            if self.running:
                return self
            quiet_access_logs()
            self.secret = secrets.token_urlsafe(32)
            server = Server(self.session, "127.0.0.1", 0, secret=self.secret, log_function=self.clients.log_function,
                            extra_routes=explorer_routes(self))
            self.server = server.start()
            from .shown_state import ShownState

            self.shown = ShownState(self.session, self.kernel_id)  # before the registration names it
            self.started = time.time()
            self.register()
            registry.set_active(self.kernel_id)
            if not self._atexit:
                atexit.register(self.stop)
                self._atexit = True
        return self

    def stop(self) -> None:
        with self._lock:
            for server in (self.server, self.direct):
                if server is not None:
                    server.stop()
            if self.server is not None:
                registry.remove_entry(self.kernel_id, os.getpid())
            if self.shown is not None:
                self.shown.close()
            self.server = self.direct = self.shown = None

    @property
    def running(self) -> bool:
        return self.server is not None and self.server.running

    # --- registration --------------------------------------------------------
    def entry(self) -> dict:
        return {
            "kernel_id": self.kernel_id,
            "pid": os.getpid(),
            "port": self.server.port,
            "secret": self.secret,
            "name": self.name,
            "started": self.started,
            "notebook_path": os.environ.get("JPY_SESSION_NAME"),
            "networks": self.network_names(),
            shown_state.PROCESS_FIELD: shown_state.PROCESS,  # the tags of this process's answers
        }

    def register(self) -> None:
        """(Re)write the registration file the Jupyter server reads."""
        if self.running:
            registry.write_entry(self.entry())

    def activate(self) -> None:
        if not self.running:
            msg = "dvvr is stopped in this kernel: run %dvvr start first"
            raise RuntimeError(msg)
        self.register()
        registry.set_active(self.kernel_id)

    def rename(self, name: str) -> str:
        self.name = registry.slug(name)
        self.register()
        return self.name

    def rotate(self) -> str:
        return rotate_token()

    def serve(self, port: int = 5570, host: str = "127.0.0.1", token: str | None = None):
        """Also serve the VR client directly (its default URL is
        ``http://127.0.0.1:5570/``): ``dvvr.serve`` and ``%dvvr serve``."""
        from ..protocol.server import serve

        with self._lock:
            if self.direct is not None:
                self.direct.stop()
                self.direct = None
            quiet_access_logs()
            self.direct = serve(self.session, host, port, token=token, log_function=self.clients.log_function)
        return self.direct

    # --- what the user sees ----------------------------------------------------
    def network_names(self) -> list[str]:
        return [network.name for network in self.session.networks]

    def urls(self) -> dict:
        """``vr_url`` (through Jupyter, stable), ``named_url`` and ``direct_url``."""
        info = jupyter_server_info()
        token = read_token(create=True) if info else None
        return {
            "vr_url": vr_url(info, token) if info else None,
            "named_url": vr_url(info, token, self.name) if info else None,
            "direct_url": self.direct.url if self.direct is not None and self.direct.running else None,
        }

    def base_url(self) -> str | None:
        """The URL this kernel's views are under: the VR URL if this kernel is
        its target, else this session's own, else the direct one."""
        urls = self.urls()
        if urls["vr_url"]:
            return urls["vr_url"] if registry.active_kernel_id() == self.kernel_id else urls["named_url"]
        return urls["direct_url"]

    def headset_url(self, name: str | None = None) -> tuple[str, str]:
        """``(name, URL)`` of a headset's own view (``h/<name>/``); without
        ``name`` a short one no view of this session uses yet."""
        from ..errors import BadRequest
        from ..protocol.wire import parse_view

        base = self.base_url()
        if base is None:
            msg = "no VR URL yet: this kernel is not run by a Jupyter server (%dvvr serve --port 5570 serves directly)"
            raise RuntimeError(msg)
        if name is None:
            used = self._headsets | {view for network in self.session.networks for view in network.views()}
            name = next(f"h{n}" for n in range(1, len(used) + 2) if f"h{n}" not in used)
        else:
            try:
                parse_view(name)
            except BadRequest as exc:  # the same words the server would answer
                raise ValueError(exc.message) from None
        self._headsets.add(name)
        return name, f"{base}h/{name}/"

    def status(self) -> dict:
        if self.running:
            self.register()  # keeps the server's view of the networks fresh
        return {
            "running": self.running,
            "kernel_id": self.kernel_id,
            "name": self.name,
            "active": self.running and registry.active_kernel_id() == self.kernel_id,
            "port": self.server.port if self.running else None,
            "networks": self.network_names(),
            "clients": self.clients.recent(),
            "direct_token": bool(self.direct is not None and self.direct.token),
            "explorer_shown": self.explorer_shown,
            **self.urls(),
        }


_current: KernelService | None = None


def current(create: bool = True) -> KernelService | None:
    global _current
    if _current is None and create:
        _current = KernelService()
    return _current
