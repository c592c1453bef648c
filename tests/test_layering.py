"""Dependencies between the packages of ``dvvr_jupyter`` point one way.

Every module is parsed (not imported): each ``import`` and ``from ... import``
anywhere in it, inside functions too, relative ones resolved, is checked
against the allowed directions, and the graph of packages has no circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "dvvr_jupyter"

#: What each part may import, besides itself.  Bottom to top: ``errors`` and
#: ``bridge`` (shared by the kernel and the Jupyter server) -> ``engine``
#: (torch) -> ``protocol`` (the VR client's wire format, tornado) and
#: ``explore`` (the notebook explorer's requests) -> ``kernel`` (IPython) ->
#: ``widgets``.  ``serverext`` (jupyter_server) needs only the bridge.
BELOW = {
    "errors": set(),
    "bridge": {"errors"},
    "engine": {"errors", "bridge"},
    "protocol": {"errors", "bridge", "engine"},
    "explore": {"errors", "bridge", "engine"},
    "kernel": {"errors", "bridge", "engine", "protocol", "explore"},
    "widgets": {"errors", "bridge", "engine", "protocol", "explore", "kernel"},
    "serverext": {"errors", "bridge"},
    # the browser 3D client's static files (ES modules), served by the protocol; no Python of its own
    "xr": set(),
}
#: The facades and the command line sit on top of everything; nothing imports them.
TOP = {"api", "cli", "dvvr"}
#: Test support: may import anything; nothing in the package imports it.
TESTING = "testing"
#: The package root (``__version__``, the lazy names of ``import dvvr``) is
#: loaded before any of its modules anyway: importing it adds nothing.
PACKAGE_ROOT = "<root>"


def lazy_names() -> dict[str, str]:
    """The package root's ``_EXPORTS`` (a name -> the module its ``__getattr__``
    imports on first use), as absolute module names: ``from .. import explorer``
    imports ``widgets``, not just the root."""
    tree = ast.parse((ROOT / PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_EXPORTS" for t in node.targets):
            return {name: PACKAGE + module for name, module in ast.literal_eval(node.value).items()}
    return {}


LAZY = lazy_names()


def module_files() -> dict[str, Path]:
    files = {}
    for folder in (ROOT / PACKAGE, ROOT / "dvvr"):
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


def part_of(module: str) -> str:
    """``dvvr_jupyter.engine.featvis`` -> ``engine``; ``dvvr_jupyter.cli`` -> ``cli``."""
    parts = module.split(".")
    if parts[0] == "dvvr":
        return "dvvr"
    return parts[1] if len(parts) > 1 else PACKAGE_ROOT


def imports_of(module: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int]]:
    """The package's own modules that ``module`` imports (anywhere in it), with line numbers."""
    is_package = path.name == "__init__.py"
    here = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module
            # `from x import y`: y is a module of its own, or a name defined in x
            # (the package root's lazy names are defined where they are loaded from)
            names = [f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known
                     else LAZY.get(alias.name, origin) if origin == PACKAGE else origin
                     for alias in node.names]
        else:
            continue
        found += [(name, node.lineno) for name in names if name.split(".")[0] in (PACKAGE, "dvvr")]
    return found


def edges() -> list[tuple[str, str, str]]:
    """(importer's part, imported part, where) for every import across parts."""
    known = module_files()
    result = []
    for module, path in sorted(known.items()):
        for target, line in imports_of(module, path, known):
            source, imported = part_of(module), part_of(target)
            if source != imported:
                result.append((source, imported, f"{path.relative_to(ROOT)}:{line} imports {target}"))
    return result


def allowed(source: str, imported: str) -> bool:
    if imported == PACKAGE_ROOT:
        return True
    if imported == TESTING:
        return False  # test support is not part of what runs
    if source == TESTING or source in TOP:
        return True
    if imported in TOP:
        return False
    return imported in BELOW.get(source, set())


def test_every_part_is_placed():
    parts = {part_of(module) for module in module_files()}
    assert parts <= set(BELOW) | TOP | {TESTING, PACKAGE_ROOT}, parts - set(BELOW) - TOP


def test_imports_point_one_way():
    wrong = [where for source, imported, where in edges() if not allowed(source, imported)]
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_packages_have_no_import_circle():
    graph: dict[str, set[str]] = {}
    for source, imported, _ in edges():
        if imported != PACKAGE_ROOT:
            graph.setdefault(source, set()).add(imported)
    done: set[str] = set()

    def visit(part: str, path: list[str]) -> None:
        if part in path:
            raise AssertionError("import circle: " + " -> ".join([*path[path.index(part):], part]))
        if part in done:
            return
        for imported in sorted(graph.get(part, ())):
            visit(imported, [*path, part])
        done.add(part)

    for part in sorted(graph):
        visit(part, [])


def test_the_check_sees_imports_inside_functions(tmp_path):
    """The kind of import that made the old circle (engine -> widgets, inside
    a method) is found, relative and all."""
    module = tmp_path / "network.py"
    module.write_text("def show(self):\n    from ..widgets import explorer\n    return explorer(self)\n")
    known = {"dvvr_jupyter.widgets": tmp_path}
    found = imports_of("dvvr_jupyter.engine.network", module, known)
    assert found == [("dvvr_jupyter.widgets", 2)]
    assert not allowed(part_of("dvvr_jupyter.engine.network"), part_of(found[0][0]))


def test_the_check_sees_the_package_roots_lazy_names(tmp_path):
    """``from .. import explorer`` reads like an import of the package root,
    which adds nothing; but the root hands out ``explorer`` from ``widgets``
    on first use (its ``__getattr__``): the check sees where the name comes from."""
    module = tmp_path / "network.py"
    module.write_text("def show(self):\n    from .. import explorer, __version__\n    return explorer(self)\n")
    found = imports_of("dvvr_jupyter.engine.network", module, module_files())
    assert found == [("dvvr_jupyter.widgets", 2), (PACKAGE, 2)]
    assert not allowed(part_of("dvvr_jupyter.engine.network"), part_of(found[0][0]))


def test_the_standalone_server_needs_no_jupyter():
    """``dvvr serve`` and the protocol it serves import without any Jupyter
    package installed (``pip install .[demo]``): the bridge's registry needs
    jupyter_core, and the protocol's handlers import the bridge."""
    import subprocess
    import sys

    code = """
import importlib.abc, sys
class NoJupyter(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('jupyter_core', 'jupyter_server', 'jupyter_client', 'ipykernel', 'IPython'):
            raise ImportError('not installed: ' + name)
sys.meta_path.insert(0, NoJupyter())
import dvvr_jupyter.cli, dvvr_jupyter.protocol.server, dvvr_jupyter.protocol.app, dvvr_jupyter.protocol.handlers
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
