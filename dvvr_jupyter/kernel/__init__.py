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

    from .display import Panel, refresh
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
                panel = Panel(service.status())
                if not refresh("status", panel.html()):  # the shown panel updates; else a new one
                    display(panel)

        ip.events.register("post_run_cell", after_cell)
        _hooks[ip] = after_cell
        _keep_live(service)
    display(Panel(service.status()))
    return service


def _keep_live(service, every: float = 3.0) -> None:
    """The shown panel follows the VR clients and networks while cells run or
    not (a daemon thread; a widget's value is sent on iopub, not the shell)."""
    import threading

    from .display import Panel, refresh

    def follow():
        while not stop.wait(every):
            if service.running:
                try:
                    refresh("status", Panel(service.status()).html())
                except Exception:  # noqa: BLE001 - a closed kernel or comm: the next look tries again
                    pass

    stop = threading.Event()
    _hooks["live"] = stop
    threading.Thread(target=follow, name="dvvr-status-panel", daemon=True).start()


def unload(ip) -> None:
    live = _hooks.pop("live", None)
    if live is not None:
        live.set()
    hook = _hooks.pop(ip, None)
    if hook is not None:
        ip.events.unregister("post_run_cell", hook)
    service = current(create=False)
    if service is not None:
        service.stop()
