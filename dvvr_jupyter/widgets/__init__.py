"""Notebook widgets: ``dvvr.explorer()``, the explorer of the networks the
VR client shows, and the rich display of a ``Network`` (``network_display``).

The top of the chain: widgets build on the kernel side (its server thread
answers the widget's HTTP route), the explorer's requests and the engine;
nothing below imports them.  Imported on first use only: importing ``dvvr``
loads no IPython or widgets.
"""

from __future__ import annotations


def explorer(network=None, *, session=None):
    """The explorer widget of ``network`` (default: the first attached one):
    pick the input, browse layers and channels, choose tracked modules, run
    feature visualizations, see the VR URL; the headset and the widget show
    the same state, both ways, also while a cell runs.

    In a Jupyter kernel it starts this kernel's dvvr service as ``%load_ext
    dvvr`` does (its server thread answers the widget's clicks while cells
    run).  ``session``: another ``dvvr.Session`` than the default one."""
    from .explorer_widget import Explorer
    from .network_display import register_in_kernel

    register_in_kernel()  # from now on `net` alone shows it too
    return Explorer(network, session=session)


__all__ = ["explorer"]
