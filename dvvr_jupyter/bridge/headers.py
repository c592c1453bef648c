"""The headers of a VR request the Jupyter server forwards to a kernel, and
the check of the kernel's secret among them."""

import hmac

from ..errors import Forbidden

#: The kernel's secret (from its registration): its loopback server answers
#: only requests carrying it.
SECRET_HEADER = "X-Dvvr-Secret"
#: The headset's address, for the kernel's "VR clients in the last minute".
CLIENT_HEADER = "X-Dvvr-Client"
#: Set only by the server extension's authenticated explorer route: the
#: kernel answers its explorer routes only with it, so the VR capability URL
#: (whose forwarder never sets it) cannot reach them.
EXPLORER_HEADER = "X-Dvvr-Explorer"

NO_SECRET = "this server only answers requests carrying its secret"


def check_secret(headers, secret: str) -> None:
    """Raise ``Forbidden`` unless ``headers`` (a mapping) carry ``secret`` in
    ``SECRET_HEADER``.  Compared in constant time; call it before reading a body."""
    given = headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), secret.encode()):
        raise Forbidden(NO_SECRET)
