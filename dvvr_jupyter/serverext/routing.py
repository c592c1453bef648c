"""Which kernel a VR request goes to, and which VR clients each kernel saw.

Kernels that ran ``%load_ext dvvr`` register themselves (``bridge.registry``);
an entry counts only while its kernel is one of this server's, running, and
still the process that wrote it.  Whether a VR URL finds a kernel is logged
when that changes, not per request (a client polls a dead kernel many
times a second).
"""

from __future__ import annotations

import logging
import time

from ..bridge import registry
from ..bridge.redact import shorten
from ..errors import Unavailable

NO_SESSION = "no dvvr session is active — run %load_ext dvvr in a notebook"
NAMES_LOGGED_EVERY = 60.0


class KernelRouter:
    """``kernel_manager``: the Jupyter server's; ``client_window``: seconds a
    VR client counts as connected after its last request."""

    def __init__(self, kernel_manager, client_window: float, log: logging.Logger | None = None):
        self.kernels = kernel_manager
        self.client_window = client_window
        self.log = log or logging.getLogger("dvvr.serverext")
        self.registry = registry.Snapshot()
        #: the kernels found live by the last lookup
        self.live_ids: frozenset[str] = frozenset()
        self._seen: dict[str, dict[str, float]] = {}  # kernel id -> {client address: last request}
        self._serving: dict[str | None, str | None] = {}  # session name (None: the VR URL) -> kernel id or None
        self._unknown_logged = -NAMES_LOGGED_EVERY  # when a name no kernel had was last logged
        self._unknown_unlogged = 0

    def live(self, entry: dict) -> bool:
        """Is the kernel behind ``entry`` one of ours, running, and the
        process that wrote it?"""
        kernel_id = entry["kernel_id"]
        if kernel_id not in self.kernels:
            return False  # shut down, or another server's kernel
        state = getattr(self.kernels.get_kernel(kernel_id), "execution_state", None)
        if state in ("dead", "restarting"):
            return False
        return registry.pid_alive(entry["pid"])

    def live_entries(self) -> list[dict]:
        entries, _ = self.registry.read()
        live = [entry for entry in entries if self.live(entry)]
        ids = frozenset(entry["kernel_id"] for entry in live)
        if ids != self.live_ids:
            self.live_ids = ids  # a new object only when it changes (the answer store's cue)
        return live

    def resolve(self, name: str | None = None) -> dict:
        """The target of a VR request: the session ``name`` (name or kernel
        id), else the active kernel, else the newest live one.  Raises
        ``Unavailable`` when there is none."""
        live = self.live_entries()
        if name is not None:
            for entry in live:
                if name in (entry.get("name"), entry["kernel_id"]):
                    return entry
            names = ", ".join(sorted(str(e.get("name")) for e in live)) or "none"
            raise Unavailable(
                f"no dvvr session named {name!r} is running — run %load_ext dvvr in its "
                f"notebook (running sessions: {names})"
            )
        _, active = self.registry.read()
        for entry in live:
            if entry["kernel_id"] == active:
                return entry
        if live:
            return live[0]
        raise Unavailable(NO_SESSION)

    def active_kernel_id(self) -> str | None:
        """The kernel the stable VR URL goes to now, if any."""
        try:
            return self.resolve()["kernel_id"]
        except Unavailable:
            return None

    # --- what the log says: changes only -------------------------------------------
    def serving(self, name: str | None, entry: dict) -> None:
        """A VR request for ``name`` found ``entry``'s kernel."""
        if self._serving.get(name, "") != entry["kernel_id"]:
            self._serving[name] = entry["kernel_id"]
            self.log.info("dvvr: the VR URL%s goes to kernel %s (%s)", _which(name), entry["kernel_id"],
                          entry.get("name"))

    def unavailable(self, name: str | None, error: Unavailable) -> None:
        """A VR request for ``name`` found no kernel (logged once until one
        serves it).  Names no kernel ever had are logged at most once per
        ``NAMES_LOGGED_EVERY`` seconds, with a count: each typo is its own
        name, and 2,000 distinct ones made 2,000 lines."""
        if name is not None and name not in self._serving:
            now = time.monotonic()
            if now - self._unknown_logged < NAMES_LOGGED_EVERY:
                self._unknown_unlogged += 1
                return
            more = f" ({self._unknown_unlogged} more unknown session names since the last such line)" \
                if self._unknown_unlogged else ""
            self._unknown_logged, self._unknown_unlogged = now, 0
            self.log.warning("dvvr: %s: VR requests%s answer 503 (unknown session names: one line a minute)%s",
                             shorten(error.message), _which(shorten(name, 64)), more)
            return
        if self._serving.get(name, "") is not None:
            self._serving[name] = None
            self.log.warning("dvvr: %s: VR requests%s answer 503 until a kernel serves them (said once)",
                             error.message, _which(name))

    def saw(self, kernel_id: str, address: str) -> None:
        self._seen.setdefault(kernel_id, {})[address] = time.monotonic()

    def clients(self, kernel_id: str) -> list[str]:
        """The VR clients that sent ``kernel_id`` a request in the last ``client_window`` seconds."""
        cutoff = time.monotonic() - self.client_window
        seen = self._seen.get(kernel_id, {})
        return sorted(address for address, t in seen.items() if t >= cutoff)


def _which(name: str | None) -> str:
    return f" of session {name!r}" if name is not None else ""
