"""Small probes of a running protocol server, for tests and benchmarks."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import urllib.parse
import urllib.request

from .waiting import wait_until


def raw_request(url: str, resource: str, method: str = "GET", body=None, headers=None, timeout: float = 60):
    """Status, headers and raw body of one request for ``resource`` below ``url``
    (http.client: nothing follows redirects or decodes the body)."""
    address = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=timeout)
    try:
        connection.request(method, address.path + resource, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def start_featvis(url: str, network: int = 0, layer: int = 1, timeout: float = 60) -> None:
    """Ask the server at ``url`` for a layer's feature visualization (computed
    afresh, on a thread of this process) and return once its job runs."""
    urllib.request.urlopen(urllib.request.Request(f"{url}network/{network}/setnetworkgenfeatvis", data=b"dummy",
                                                  method="PUT"), timeout=30).close()

    def get():
        try:
            urllib.request.urlopen(f"{url}network/{network}/featurevisualization/layerid/{layer}", timeout=3600).close()
        except OSError:
            pass  # the server stopped under it

    threading.Thread(target=get, name="dvvr-probe-featvis", daemon=True).start()

    def running():
        with urllib.request.urlopen(f"{url}network/{network}/featurevisualization/progress", timeout=30) as resp:
            return json.load(resp)["layers"].get(str(layer), {}).get("state") == "running"

    wait_until(running, timeout, "the feature visualization did not start")


def refuses(url: str) -> bool:
    """Does nothing listen on ``url``'s port any more?"""
    address = urllib.parse.urlsplit(url)
    try:
        socket.create_connection((address.hostname, address.port), timeout=5).close()
        return False
    except OSError:
        return True
