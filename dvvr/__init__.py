"""``import dvvr``: the short import name of dvvr_jupyter's public API.

Attributes resolve lazily through ``dvvr_jupyter``, so importing is cheap.
``%load_ext dvvr`` loads the kernel side (``dvvr_jupyter.kernel``).
"""

import dvvr_jupyter as _impl

__version__ = _impl.__version__
__all__ = _impl.__all__


def __getattr__(name):
    return getattr(_impl, name)


def __dir__():
    return sorted(__all__)


def load_ipython_extension(ipython):
    from dvvr_jupyter.kernel import load
    from dvvr_jupyter.widgets.network_display import register_in_kernel

    load(ipython)
    register_in_kernel()  # a network as a cell's last line shows its explorer


def unload_ipython_extension(ipython):
    from dvvr_jupyter.kernel import unload

    unload(ipython)
