"""Which kernel a VR request goes to, and which VR clients each kernel saw.

Kernels that ran ``%load_ext dvvr`` register themselves (``bridge.registry``);
an entry counts only while its kernel is one of this server's, running, and
still the process that wrote it.
"""

from __future__ import annotations

import time

from ..bridge import registry
from ..errors import Unavailable

NO_SESSION = "no dvvr session is active — run %load_ext dvvr in a notebook"


class KernelRouter:
    """``kernel_manager``: the Jupyter server's; ``client_window``: seconds a
    VR client counts as connected after its last request."""

    def __init__(self, kernel_manager, client_window: float):
        self.kernels = kernel_manager
        self.client_window = client_window
        self._registry = registry.Snapshot()
        self._seen: dict[str, dict[str, float]] = {}  # kernel id -> {client address: last request}

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
        entries, _ = self._registry.read()
        return [entry for entry in entries if self.live(entry)]

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
        _, active = self._registry.read()
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

    def saw(self, kernel_id: str, address: str) -> None:
        self._seen.setdefault(kernel_id, {})[address] = time.monotonic()

    def clients(self, kernel_id: str) -> list[str]:
        """The VR clients that sent ``kernel_id`` a request in the last ``client_window`` seconds."""
        cutoff = time.monotonic() - self.client_window
        seen = self._seen.get(kernel_id, {})
        return sorted(address for address, t in seen.items() if t >= cutoff)
