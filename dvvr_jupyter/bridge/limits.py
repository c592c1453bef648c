"""Limits on what a VR client may send, shared by the protocol server and
the Jupyter server's VR proxy (so both answer an oversized body the same way)."""

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
