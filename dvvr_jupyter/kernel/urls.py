"""Which Jupyter server runs this kernel, and the VR URL it offers.

The server writes ``jpserver-<pid>.json`` (url, base_url) into the runtime
dir; the kernel's launcher is the server, so its pid is ``JPY_PARENT_PID``
(set by jupyter_client) or our parent pid.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jupyter_core.paths import jupyter_runtime_dir

# Where Jupyter's own URL is not what a headset can reach (JupyterHub, a
# container behind a proxy): the public origin, e.g. https://hub.example.org
PUBLIC_URL_VARS = ("DVVR_PUBLIC_URL", "JUPYTERHUB_PUBLIC_URL")


def jupyter_server_info() -> dict | None:
    """The info file of the Jupyter server that started this kernel, if any."""
    runtime = Path(jupyter_runtime_dir())
    for pid in (os.environ.get("JPY_PARENT_PID"), os.getppid()):
        if not pid:
            continue
        path = runtime / f"jpserver-{pid}.json"
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and info.get("url"):
            return info
    return None


def server_base(info: dict) -> str:
    """``scheme://host:port{base_url}`` of the server, public origin first."""
    base_url = info.get("base_url") or "/"
    for var in PUBLIC_URL_VARS:
        public = os.environ.get(var)
        if public:
            return public.rstrip("/") + base_url
    url = info["url"]
    return url if url.endswith("/") else url + "/"


def vr_url(info: dict, token: str, name: str | None = None) -> str:
    """The URL to type into the VR client (``.../dvvr/vr/<token>/``, or a
    named session's ``.../dvvr/vr/<token>/s/<name>/``)."""
    url = f"{server_base(info)}dvvr/vr/{token}/"
    return f"{url}s/{name}/" if name else url
