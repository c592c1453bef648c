"""Projects: a folder with ``project.py`` (or a ``.py`` file) that defines
what to serve, with the seed's function names:

- ``get_datasets()`` -> list of datasets (``dvvr.Dataset``, ``dvvr.ImageFolder``,
  a torch Dataset, a folder path);
- ``get_dl_networks()`` -> list of dicts of ``dvvr.attach`` keyword arguments
  plus ``"model"``; ``"dataset"`` may be an index into ``get_datasets()``;
- ``get_noise_generators()`` -> list of ``dvvr.NoiseGenerator`` (optional).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import types
from pathlib import Path

from ..errors import ProjectError
from .session import Session

PROJECT_FILE = "project.py"


def project_file(path) -> Path:
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / PROJECT_FILE
    if not path.is_file():
        msg = f"no project at {str(path)!r}: expected a folder holding {PROJECT_FILE} or a .py file"
        raise FileNotFoundError(msg)
    return path.resolve()


def import_file(file, *, fresh: bool = False) -> types.ModuleType:
    """Import a ``.py`` file by path as a module of its own (once per path).

    Projects load their sibling files with it (``dvvr.import_file(here /
    "model.py")``): unlike ``import model`` it needs no ``sys.path`` change
    and cannot collide with another project's ``model.py``.
    """
    file = Path(file).resolve()
    digest = hashlib.sha1(str(file).encode()).hexdigest()[:10]
    module_name = f"dvvr_file_{file.stem}_{digest}"
    if module_name in sys.modules and not fresh:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None:
        msg = f"cannot import {str(file)!r}: not a Python file"
        raise ImportError(msg)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def import_project(path) -> types.ModuleType:
    """Execute a project file as a module of its own and return it."""
    return import_file(project_file(path), fresh=True)  # new models on every load


def _nth(items, index: int):
    return items[index] if index < len(items) else None


def load_project(path, session: Session, *, adopt: bool = False) -> list:
    """Attach everything a project defines to ``session``; returns the networks.

    ``adopt=True`` (``dvvr serve``): the project's models belong to the server,
    which then keeps no second copy of their weights."""
    module = import_project(path)
    file = project_file(path)
    for name in ("get_dl_networks",):
        if not callable(getattr(module, name, None)):
            msg = f"project {str(file)!r} defines no {name}() function"
            raise ProjectError(msg)
    # Loading the same project again (a cell run twice) replaces what it added the last time.
    old_datasets, old_generators = session.projects.get(file, ((), ()))
    datasets = [session.add_dataset(d, replacing=_nth(old_datasets, i))
                for i, d in enumerate(getattr(module, "get_datasets", lambda: [])() or [])]
    generators = [session.add_noise_generator(g, replacing=_nth(old_generators, i))
                  for i, g in enumerate(getattr(module, "get_noise_generators", lambda: [])() or [])]
    session.projects[file] = (datasets, generators)
    networks = []
    for entry in module.get_dl_networks():
        if not isinstance(entry, dict) or "model" not in entry:
            msg = "get_dl_networks() must return dicts holding at least 'model' (and dvvr.attach keywords)"
            raise ProjectError(msg)
        kwargs = dict(entry)
        model = kwargs.pop("model")
        dataset = kwargs.pop("dataset", 0 if datasets else None)
        if isinstance(dataset, int):
            if not 0 <= dataset < len(datasets):
                msg = f"network {kwargs.get('name', model.__class__.__name__)!r} names dataset {dataset}, but the project has {len(datasets)}"
                raise ProjectError(msg)
            dataset = datasets[dataset]
        networks.append(session.attach(model, dataset, adopt=adopt, **kwargs))
    return networks
