"""Forwarding one request to a kernel's own dvvr server (loopback, with the
kernel's secret), and its answer back: status, body and content type."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.web import RequestHandler

from ..bridge.headers import CLIENT_HEADER, SECRET_HEADER
from ..errors import BadGateway, BadRequest, GatewayTimeout, Unavailable
from .routing import NO_SESSION
from .shares import EVENTS_ROUTE, SLOW_ROUTE, ClientGone
from .store import Answer

# Only the kernel's status, body and these headers come back; hop-by-hop and
# framing headers are tornado's business.  The kernel's Content-Security-Policy
# replaces Jupyter's API one (which would block the 3D client's scripts).
_KEEP_HEADERS = ("Content-Type", "Cache-Control", "Location", "ETag", "X-Dvvr-Atlas", "Content-Security-Policy",
                 "X-Content-Type-Options", "Referrer-Policy")
# Request headers the kernel's answer depends on (a 3D client's file revalidated)
_PASS_HEADERS = ("Content-Type", "If-None-Match")


KERNEL_HUNG_UP = ("the kernel's dvvr server ended the connection without an answer "
                  "(the kernel may have died mid-request; see its notebook)")


def _timed_out(err: HTTPClientError) -> bool:
    # the request (not the connection) timed out: tornado's and libcurl's words for it
    return err.code == 599 and ("Timeout during request" in str(err) or "Operation timed out" in str(err))


# No connection could be made (refused, or not accepted in time): the kernel's
# server is gone.  tornado's and libcurl's words for it.
_NO_CONNECTION = ("onnection refused", "Couldn't connect", "Failed to connect", "while connecting",
                  "Connection timed out")


def _no_connection(err: BaseException) -> bool:
    text = str(err)
    return isinstance(err, (ConnectionRefusedError, asyncio.TimeoutError)) or any(w in text for w in _NO_CONNECTION)


async def _listening(port: int, timeout: float) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    return True


async def _failure(err: BaseException, port: int, timeout: float) -> Exception:
    """What a failed forward means: no session if nothing listens on the
    kernel's port (it died: a kept-alive connection is reset rather than
    refused), else the kernel's server hung up on this request."""
    if _no_connection(err) or not await _listening(port, timeout):
        return Unavailable(NO_SESSION)
    return BadGateway(KERNEL_HUNG_UP)


def abort_when(gone, timeout: float):
    """A libcurl setup that aborts the transfer within about a second once
    ``gone`` (a future) is done: the client hung up, so its slot is freed.
    libcurl calls the progress function only when it wakes for the transfer;
    a low-speed check (1 byte/s over the request timeout, which would end it
    then anyway) makes it wake each second while the kernel is silent."""
    def setup(curl) -> None:
        import pycurl

        curl.setopt(pycurl.NOPROGRESS, 0)
        curl.setopt(pycurl.XFERINFOFUNCTION, lambda *_: 1 if gone.done() else 0)
        curl.setopt(pycurl.LOW_SPEED_LIMIT, 1)
        curl.setopt(pycurl.LOW_SPEED_TIME, max(1, int(timeout) + 1))

    return setup


def share_of(path: str) -> str:
    """Which share of its kernel a VR request takes (``shares``)."""
    if SLOW_ROUTE.match(path):
        return "vr-slow"
    return "vr-events" if EVENTS_ROUTE.match(path) else "vr"


async def forward_to_kernel(handler: RequestHandler, entry: dict, path: str, body: bytes,
                            headers: dict | None = None, share: str = "vr"):
    """Send ``handler``'s request (with ``body`` and extra ``headers``) to the
    kernel of registry ``entry`` as ``/<path>``, finish ``handler`` with the
    kernel's answer and return that answer (tornado's ``HTTPResponse``).
    A kernel whose port refuses raises ``Unavailable`` (503: no session), one
    that hangs up mid-request ``BadGateway`` (502), one too slow
    ``GatewayTimeout`` (504)."""
    ext = handler.settings["dvvr"]
    if any(segment in (".", "..") for segment in path.split("/")):
        # tornado decoded %2e%2e and %2F; the HTTP client would resolve the dots and leave the route's prefix
        raise BadRequest("a path with '.' or '..' segments (plain or %-encoded) is not served here", field="path")
    headers = {**(headers or {}), SECRET_HEADER: entry["secret"], CLIENT_HEADER: handler.request.remote_ip or "?"}
    for name in _PASS_HEADERS:
        if name in handler.request.headers:
            headers[name] = handler.request.headers[name]
    method = handler.request.method
    gone = getattr(handler, "gone", None)
    async with ext.shares.slot(entry["kernel_id"], share, gone):
        response = await _fetch(ext, entry, path, body, headers, method, gone)
    answer(handler, answer_of(response))
    return response


def answer_of(response) -> Answer:
    """What of the kernel's ``response`` goes back to the client."""
    return Answer(response.code, response.reason,
                  tuple((name, response.headers[name]) for name in _KEEP_HEADERS if name in response.headers),
                  response.headers.get("Content-Type", "application/json"), response.body or b"")


def answer(handler: RequestHandler, kept: Answer) -> None:
    """Finish ``handler`` with a kernel's answer (just forwarded, or kept by the answer store)."""
    handler.set_status(kept.status, reason=kept.reason)
    for name, value in kept.headers:
        handler.set_header(name, value)
    # set_content_type: Jupyter's APIHandler would label every answer JSON
    handler.finish(kept.body, set_content_type=kept.content_type)


async def _fetch(ext, entry: dict, path: str, body: bytes, headers: dict, method: str, gone):
    request = HTTPRequest(
        # tornado decoded the path: encode it again (%20, %3F, CR/LF must not reach the URL raw)
        f"http://127.0.0.1:{entry['port']}/{quote(path, safe='/')}",
        method=method,
        headers=headers,
        body=body if method in ("PUT", "POST") else None,
        allow_nonstandard_methods=True,
        connect_timeout=ext.connect_timeout,
        request_timeout=ext.request_timeout,
        follow_redirects=False,
        decompress_response=False,
        prepare_curl_callback=abort_when(gone, ext.request_timeout) if gone is not None else None,
    )
    try:
        return await ext.http.fetch(request, raise_error=False)
    except HTTPClientError as err:  # 599: the kernel did not answer
        if gone is not None and gone.done():
            raise ClientGone("the client hung up (the forward was aborted)") from None
        if _timed_out(err):
            raise GatewayTimeout(
                f"the kernel took longer than {ext.request_timeout:g} s (DvvrExtension.request_timeout)"
            ) from None
        raise await _failure(err, entry["port"], ext.connect_timeout) from None
    except (OSError, asyncio.TimeoutError) as err:
        raise await _failure(err, entry["port"], ext.connect_timeout) from None
