"""The kernel's loopback server decides from the headers, before reading a
body: without its secret 403, over the limit 413.  A local user without the
secret once grew a kernel's memory by 300 MB with one ``POST /explorer/ping``."""

import socket

import pytest

from dvvr_jupyter.explore.requests import ExplorerRequests
from dvvr_jupyter.kernel.explorer_route import ExplorerRouteHandler
from dvvr_jupyter.protocol.server import Server

SECRET = "kernel-secret"
HUGE = 300 * (1 << 20)


@pytest.fixture
def loopback(tiny_session):
    routes = [(r"/explorer/(.*)", ExplorerRouteHandler, {"requests": ExplorerRequests(tiny_session), "secret": SECRET})]
    server = Server(tiny_session, "127.0.0.1", 0, secret=SECRET, extra_routes=routes).start()
    yield server.port
    server.stop()


def answer_without_body(port: int, head: str) -> bytes:
    """Send only the request's head (its body never comes): the server must answer from it."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head.encode())
        return sock.recv(4096)  # a server waiting for the body would time out here


@pytest.mark.parametrize("path", ["/explorer/ping", "/network/0/prepareforinput"])
def test_no_secret_no_body_read(loopback, path):
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {HUGE}\r\n\r\n"
    assert answer_without_body(loopback, head).startswith(b"HTTP/1.1 403")


def test_over_the_limit_no_body_read(loopback):
    head = (f"POST /explorer/network/0/input HTTP/1.1\r\nHost: x\r\nX-Dvvr-Secret: {SECRET}\r\nX-Dvvr-Explorer: 1\r\n"
            f"Content-Length: {HUGE}\r\n\r\n")
    assert answer_without_body(loopback, head).startswith(b"HTTP/1.1 413")
