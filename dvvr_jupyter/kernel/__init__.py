"""The kernel side of the Jupyter integration (IPython, no jupyter_server).

``%load_ext dvvr`` serves this kernel's session to the Jupyter server's
dvvr extension, makes this kernel the target of the stable VR URL, adds the
``%dvvr`` magic and shows the URL; after a cell attaches networks the
status is shown again.
"""

from __future__ import annotations

from .service import KernelService, current

__all__ = ["KernelService", "current", "load", "unload"]

_hooks: dict = {}


def _signature(service) -> tuple:
    return tuple((id(n), n.name) for n in service.session.networks)


def load(ip) -> KernelService:
    from IPython.display import display

    from .display import Panel
    from .magics import DvvrMagics

    service = current().start()
    ip.register_magics(DvvrMagics)
    if ip not in _hooks:
        seen = {"networks": _signature(service)}

        def after_cell(result=None):
            # Why a hook: `dvvr.attach` (the engine) knows nothing of Jupyter;
            # the cell that attached shows the new status here.
            signature = _signature(service)
            if signature != seen["networks"] and service.running:
                seen["networks"] = signature
                display(Panel(service.status()))

        ip.events.register("post_run_cell", after_cell)
        _hooks[ip] = after_cell
    display(Panel(service.status()))
    return service


def unload(ip) -> None:
    hook = _hooks.pop(ip, None)
    if hook is not None:
        ip.events.unregister("post_run_cell", hook)
    service = current(create=False)
    if service is not None:
        service.stop()
