"""The public functions behind ``import dvvr``, on the default session.

The only module called ``api``: the facade on top of every package (it may
use the kernel side and the widgets; nothing imports it back).
"""

from __future__ import annotations

import sys

from .engine.options import with_attach_signature
from .engine.session import default_session
from .widgets.network_display import register_in_kernel  # imports no widget library


def attach(model, dataset=None, **options):
    """Show ``model`` in the VR client; returns its ``Network`` handle.

    ``dataset``: a torch Dataset / sequence of ``(image, label)`` or
    ``{"data", "label"}`` (image: PIL or CHW tensor), a ``dvvr.Dataset``,
    ``dvvr.ImageFolder(path)`` or a folder of class folders.  The model
    itself is never modified: the engine works on a private copy that follows
    its weights.
    """
    network = default_session().attach(model, dataset, **options)
    register_in_kernel()  # in a Jupyter kernel, `net` as a cell's last line shows its explorer
    return network


with_attach_signature(attach)


def load_project(path):
    """Attach everything the project at ``path`` defines; returns its networks."""
    from .engine.project import load_project as load

    networks = load(path, default_session())
    register_in_kernel()
    return networks


def serve(host: str = "127.0.0.1", port: int = 5570, *, token: str | None = None):
    """Serve the default session directly to VR clients on a background
    thread; returns the running ``Server`` (``.url`` for the VR client,
    ``.stop()``).  ``token``: a capability in the URL path (``"random"``
    makes one).  In a kernel that loaded dvvr, ``%dvvr status`` shows it."""
    import secrets

    token = secrets.token_urlsafe(16) if token == "random" else token
    kernel = sys.modules.get("dvvr_jupyter.kernel.service")  # loaded by %load_ext dvvr only
    service = kernel.current(create=False) if kernel is not None else None
    if service is not None:
        return service.serve(port, host, token=token)
    from .protocol.server import serve as start

    return start(default_session(), host, port, token=token)


def refresh():
    """Recompute every network's current input with its current weights;
    returns the new results."""
    return [network.refresh() for network in default_session().networks]


def watch(every_n_steps: int = 10, networks=None):
    """Keep the VR view following a training loop: call ``.step()`` on the
    returned watcher after each optimizer step; every ``every_n_steps`` the
    attached networks (or ``networks``) are recomputed with the new weights,
    in the background."""
    from .engine.watch import Watcher

    session = default_session()
    return Watcher(session.networks if networks is None else networks, every_n_steps, session.pool)


def detach(network) -> None:
    """Stop showing ``network`` (the handle ``attach`` returned); the ids of
    later networks move down by one."""
    default_session().detach(network)


def networks():
    """The attached networks, in the order of their ids."""
    return list(default_session().networks)
