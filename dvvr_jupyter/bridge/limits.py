"""Limits on what a VR client may send, shared by the protocol server and
the Jupyter server's VR proxy (so both answer an oversized body the same way)."""

from ..errors import PayloadTooLarge

#: The largest request body either side reads.  The client's biggest body is
#: an ``ActivationImage`` (well under a kilobyte); anything larger is refused
#: with 413 before it is read.
MAX_BODY_BYTES = 1 << 20
#: A body declared larger than this is refused from its headers, unread (its
#: sender may see the connection closed while it still writes).  Up to it, an
#: oversized body is read and dropped before the 413 goes out, so an ordinary
#: client that sent a little too much reads the answer instead of a reset.
REFUSE_UNREAD_BYTES = 16 * MAX_BODY_BYTES


def body_too_large_message(size: int | None = None) -> str:
    """The words of the 413 answer."""
    given = f" ({size} bytes)" if size is not None else ""
    return f"the request body{given} is over the limit of {MAX_BODY_BYTES} bytes"


class LimitedBody:
    """For a tornado handler that streams its body (``stream_request_body``):
    keeps at most ``MAX_BODY_BYTES``, counts the rest, and ``body`` answers
    413 beyond the limit.  ``refuse_unread()`` (from ``prepare``) refuses a
    body declared larger than ``REFUSE_UNREAD_BYTES`` before it is read.
    Shared by the protocol server and the Jupyter server's VR proxy."""

    _received = 0

    def refuse_unread(self) -> None:
        declared = self.request.headers.get("Content-Length", "")
        if declared.strip().isdigit() and int(declared) > REFUSE_UNREAD_BYTES:
            raise PayloadTooLarge(body_too_large_message(int(declared)))

    def data_received(self, chunk: bytes) -> None:
        if not self._received:
            self._chunks: list[bytes] = []
        self._received += len(chunk)
        if self._received <= MAX_BODY_BYTES:  # beyond it: counted, dropped, refused in ``body``
            self._chunks.append(chunk)

    @property
    def body(self) -> bytes:
        """The request body (413 if it was over the limit)."""
        if self._received > MAX_BODY_BYTES:
            raise PayloadTooLarge(body_too_large_message(self._received))
        return b"".join(self._chunks) if self._received else b""
