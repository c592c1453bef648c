"""``import dvvr``: the short import name of dvvr_jupyter's public API.

Attributes resolve lazily through ``dvvr_jupyter``, so importing is cheap.
"""

import dvvr_jupyter as _impl

__version__ = _impl.__version__
__all__ = _impl.__all__


def __getattr__(name):
    return getattr(_impl, name)


def __dir__():
    return sorted(__all__)
