"""A ``Network`` as the last line of a cell shows its explorer.

The engine knows nothing of Jupyter: its ``Network`` has a plain
``__repr__``.  How a kernel shows one is registered here, from above, with
IPython's display formatter: by ``%load_ext dvvr``, by ``dvvr.attach`` /
``dvvr.load_project`` in a kernel, and by ``dvvr.explorer()``.
"""

from __future__ import annotations

import sys


def kernel_shell():
    """The IPython shell of the Jupyter kernel this code runs in, or ``None``
    (a script, a terminal IPython).  Never imports IPython itself."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell if getattr(shell, "kernel", None) is not None else None


def register(shell) -> None:
    """Show every ``Network`` of the default session as its explorer in
    ``shell`` (others keep their repr: ``dvvr.explorer(net, session=...)``)."""
    from ..engine.network import Network

    shell.display_formatter.mimebundle_formatter.for_type(Network, explorer_bundle)


def register_in_kernel() -> bool:
    """``register`` on this kernel's shell; ``False`` outside a kernel."""
    shell = kernel_shell()
    if shell is None:
        return False
    register(shell)
    return True


def explorer_bundle(network) -> dict | None:
    """The explorer widget's display data, or ``None`` (IPython then shows the repr)."""
    from . import explorer

    try:
        widget = explorer(network)
    except ValueError:  # not on the default session
        return None
    return widget._repr_mimebundle_()
