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

    load(ipython)


def unload_ipython_extension(ipython):
    from dvvr_jupyter.kernel import unload

    unload(ipython)
