"""dvvr-jupyter: walk through a live PyTorch network in virtual reality.

``import dvvr`` is the short name of this package's public API.  Importing
has no side effects; torch and tornado load on first use.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "attach": ".api",
    "serve": ".api",
    "load_project": ".api",
    "refresh": ".api",
    "networks": ".api",
    "watch": ".api",
    "detach": ".api",
    "import_file": ".engine.project",
    "TrackerModule": ".engine.markers",
    "Dataset": ".engine.datasets",
    "ImageFolder": ".engine.datasets",
    "NoiseGenerator": ".engine.noise",
    "Network": ".engine.network",
    "Session": ".engine.session",
    "default_session": ".engine.session",
    "Server": ".protocol.server",
    "FeatVisConfig": ".engine.featvis.config",
    "trackable_modules": ".engine.autotrack",
    "DatasetImage": ".engine.inputs",
    "NoiseImage": ".engine.inputs",
    "FeatVisImage": ".engine.inputs",
    "Blank": ".engine.inputs",
    "explorer": ".widgets",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dvvr' has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


def __dir__():
    return sorted(__all__)
