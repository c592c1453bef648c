"""The kernel's side of the Jupyter server's answer store: the state file
(``bridge.shown``) saying which result each view of each network shows,
rewritten on every change before the change can be read (the session's
``shown`` listeners are called that way)."""

from __future__ import annotations

import logging
import threading

from ..bridge import shown as state

log = logging.getLogger("dvvr.kernel")


class ShownState:
    """Subscribed to ``session.shown`` while the kernel's server runs; ``close()`` removes the file."""

    def __init__(self, session, kernel_id: str):
        self.session = session
        self.kernel_id = kernel_id
        self._lock = threading.Lock()
        self._shown: dict[str, str] = {}
        self._generation = 0
        self._open = True
        self._write()  # empty: whatever a previous process of this kernel id wrote is gone
        session.shown.add(self)
        for network in list(session.networks):
            network.announce_views()

    def shown(self, network_id: int, changes: dict) -> None:
        with self._lock:
            for view, result in changes.items():
                key = state.view_key(network_id, view)
                if result is None:
                    self._shown.pop(key, None)
                else:
                    self._shown[key] = state.tag(result.id)
            self._write()

    def forget(self, network_ids: list[int]) -> None:
        prefixes = {str(n) for n in network_ids}
        with self._lock:
            self._shown = {key: value for key, value in self._shown.items() if key.partition("/")[0] not in prefixes}
            self._write()

    def _write(self) -> None:
        """Under the lock.  A file that could not be written must not stay: the
        server would answer what the views showed before."""
        if not self._open:
            return
        self._generation += 1
        try:
            state.write_state(self.kernel_id, self._generation, self._shown)
        except Exception as exc:  # noqa: BLE001 - the engine goes on; the store must not
            log.warning("dvvr: could not write the answer store's state (%s); the Jupyter server forwards "
                        "every request", exc)
            self._open = False
            try:
                state.remove_state(self.kernel_id)
            except OSError:
                log.exception("dvvr: could not remove the answer store's state file: stop this kernel")

    def close(self) -> None:
        self.session.shown.remove(self)
        with self._lock:
            self._open = False
            try:
                state.remove_state(self.kernel_id)
            except OSError as exc:
                log.warning("dvvr: could not remove the answer store's state file (%s)", exc)
