"""A real Jupyter server in a subprocess and a driver for its kernels.

``JupyterServer(tmp, base_url="/user/bench/")`` runs ``python -m
jupyter_server`` with its own runtime, data and config dirs under ``tmp``
(nothing of the user's Jupyter set-up leaks in or out), a Jupyter token, an
unused port and the dvvr extension enabled.  ``Kernel(server)`` starts a
kernel through the server's REST API, as JupyterLab does, and drives it with
a jupyter_client ``BlockingKernelClient``.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..bridge.registry import entry_path, read_entry
from ..bridge.token import token_path
from .waiting import wait_file, wait_until

#: Lines a kernel cell prints as ``BENCH {json}`` are its results (``Kernel.run``).
RESULT_PREFIX = "BENCH "


def free_port() -> int:
    """A TCP port nothing listens on now (on loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterServer:
    """``python -m jupyter_server`` in a subprocess with isolated dirs.

    ``base_url``: the server's prefix (JupyterHub's look: ``/user/<name>/``);
    ``env``: extra environment for the server and its kernels.  The server's
    log goes to ``tmp/server.log``.
    """

    #: what runs: ``jupyter_server`` here, ``jupyterlab`` for the browser tests
    MODULE = "jupyter_server"
    ARGS: tuple[str, ...] = ()

    def __init__(self, tmp: Path, base_url: str = "/", env: dict | None = None):
        self.tmp = tmp
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.runtime = tmp / "runtime"
        self.data = tmp / "data"
        config = tmp / "config"
        root = tmp / "root"
        for folder in (self.runtime, self.data, config, root, tmp / "ipython"):
            folder.mkdir(parents=True)
        (config / "jupyter_server_config.json").write_text(
            json.dumps({"ServerApp": {"jpserver_extensions": {"dvvr_jupyter.serverext": True}}})
        )
        self.env = {
            **os.environ,
            "JUPYTER_RUNTIME_DIR": str(self.runtime),
            "JUPYTER_DATA_DIR": str(self.data),
            "JUPYTER_CONFIG_DIR": str(config),
            "IPYTHONDIR": str(tmp / "ipython"),
            "DVVR_CACHE_DIR": str(tmp / "dvvr-cache"),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.MODULE, *self.ARGS, "--no-browser", f"--port={self.port}", "--ip=127.0.0.1",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.base_url={base_url}",
             f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
             *(["--allow-root"] if os.geteuid() == 0 else [])],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT, cwd=root)
        self.base = f"http://127.0.0.1:{self.port}{base_url}"
        self.root = root

    def api(self, method: str, path: str, body: dict | None = None, timeout: float = 30):
        """A request to the server's REST API (``path`` below the base URL), with its token."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Authorization": f"token {self.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def wait_ready(self, timeout: float = 90) -> float:
        """Seconds until ``api/status`` answered."""
        began = time.time()

        def answers() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Jupyter server exited ({self.proc.returncode}); see {self.tmp}/server.log")
            try:
                self.api("GET", "api/status", timeout=2)
                return True
            except (OSError, urllib.error.URLError):
                return False

        wait_until(answers, timeout, "the Jupyter server did not answer")
        return time.time() - began

    def vr_url(self) -> str:
        """The VR client's base URL through this server (its token file, once written)."""
        token = wait_file(token_path(self.data), 10).read_text().strip()
        return f"{self.base}dvvr/vr/{token}/"

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.api("POST", "api/shutdown", timeout=5)
            except (OSError, urllib.error.URLError):
                pass
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        self.log.close()


class Kernel:
    """A kernel of that server, driven by a BlockingKernelClient."""

    def __init__(self, server: JupyterServer):
        from jupyter_client.blocking import BlockingKernelClient

        self.server = server
        self.id = server.api("POST", "api/kernels", {"name": "python3"})["id"]
        connection = wait_file(server.runtime / f"kernel-{self.id}.json", 60)
        self.client = BlockingKernelClient()
        self.client.load_connection_file(str(connection))
        # a busy machine (a browser rendering on the CPU beside it) can leave one heartbeat
        # unanswered for a second while the kernel starts: that is not a dead kernel
        self.client.hb_channel.time_to_dead = 10.0
        self.client.start_channels()
        self.client.wait_for_ready(timeout=90)

    def run(self, code: str, timeout: float = 180) -> list[dict]:
        """Execute ``code``; the JSON of the ``BENCH {json}`` lines it printed.
        Raises ``RuntimeError`` with the cell's output if the cell failed."""
        outputs = []

        def hook(msg):
            content = msg["content"]
            if msg["msg_type"] == "stream":
                outputs.append(content["text"])
            elif msg["msg_type"] == "error":
                outputs.append("\n".join(content["traceback"]))

        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=hook)
        text = "".join(outputs)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"kernel cell failed:\n{text}")
        return [json.loads(line[len(RESULT_PREFIX):]) for line in text.splitlines() if line.startswith(RESULT_PREFIX)]

    def registration(self) -> dict:
        """What this kernel wrote for the server after ``%load_ext dvvr`` (port, secret, pid)."""
        path = entry_path(self.id, self.server.runtime)
        return wait_until(lambda: read_entry(path), 10, f"{path} did not appear")

    def shutdown(self) -> None:
        try:
            self.client.stop_channels()
        finally:
            try:
                self.server.api("DELETE", f"api/kernels/{self.id}", timeout=20)
            except (OSError, urllib.error.URLError):
                pass
