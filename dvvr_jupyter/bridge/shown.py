"""What each view of a kernel shows now, for the Jupyter server's answer
store: ``<runtime>/dvvr/shown/kernel-<kernel id>.json`` (0600, atomic).

Answers that depend only on one result (an activation, a histogram, the
classification, the input) carry ``RESULT_HEADER``: that result's *tag*,
``<process>.<result id>``, where ``process`` is random per kernel process
(a restarted kernel with the same id never matches an old tag).  The kernel
rewrites the state file before a view's new result can be seen through its
own server; the server extension answers a stored answer only while the
file says the view shows its tag.  A missing or unreadable file, another
process, or no entry for a view: forward, as without the store.

Its own folder, not the registry's: the registry's snapshot re-reads every
entry when that folder changes, and the state changes on every switch.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from .private import write_private

#: Response header of the kernel: the tag of the result an answer was built from.
RESULT_HEADER = "X-Dvvr-Result"
#: This process's part of every tag, and the field of the registry entry saying it.
PROCESS = secrets.token_hex(8)
PROCESS_FIELD = "process"


def tag(result_id: int) -> str:
    """The tag of this process's result ``result_id``."""
    return f"{PROCESS}.{result_id}"


def view_key(network_id: int, view: str | None) -> str:
    """The state's key of a network's view (``None``: the shared view)."""
    return str(network_id) if view is None else f"{network_id}/{view}"


def state_path(kernel_id: str, runtime_dir: str | Path | None = None) -> Path:
    # imported here: the registry needs jupyter_core, and ``dvvr serve`` (which
    # imports ``RESULT_HEADER`` through the protocol's handlers) runs without Jupyter
    from .registry import shown_path

    return shown_path(kernel_id, runtime_dir)


def write_state(kernel_id: str, generation: int, shown: dict[str, str]) -> None:
    """``shown``: view key -> tag of the result it shows now."""
    write_private(state_path(kernel_id), json.dumps({"process": PROCESS, "generation": generation, "shown": shown}))


def remove_state(kernel_id: str) -> None:
    state_path(kernel_id).unlink(missing_ok=True)


def read_state(path: Path, process: str) -> dict[str, str] | None:
    """The views' tags in the state file ``path`` (``state_path``), if
    ``process`` wrote it (the one the kernel's registry entry names); ``None``
    otherwise."""
    try:
        with open(path, "rb") as file:
            state = json.loads(file.read())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("process") != process or not isinstance(state.get("shown"), dict):
        return None
    return state["shown"]
