"""What each side of the Jupyter integration may import: checked in fresh
interpreters, since an import anywhere in a chain counts."""

import ast
import subprocess
import sys
from pathlib import Path

import dvvr_jupyter.serverext


def imported_after(code: str) -> set[str]:
    """The top-level packages in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    script = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    return set(out.split())


def test_the_jupyter_server_side_never_imports_torch():
    # The server extension runs in the Jupyter server: torch there would cost
    # ~700 MB and seconds of start-up for every user.
    assert "torch" not in imported_after("import dvvr_jupyter.serverext.app")


def test_the_bridge_imports_neither_side():
    # Both processes import the bridge: no torch, no tornado, no jupyter_server.
    code = "import dvvr_jupyter.bridge.headers, dvvr_jupyter.bridge.private, dvvr_jupyter.bridge.registry, " \
           "dvvr_jupyter.bridge.token, dvvr_jupyter.bridge.limits, dvvr_jupyter.bridge.throttle, " \
           "dvvr_jupyter.bridge.redact, dvvr_jupyter.errors"
    assert not imported_after(code) & {"torch", "tornado", "jupyter_server", "IPython"}


def test_serverext_modules_import_each_other_one_way():
    folder = Path(dvvr_jupyter.serverext.__file__).parent
    edges = {}
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        edges[path.stem] = {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
        }

    def reaches(start: str, goal: str, seen=()) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, (*seen, n))) for n in edges.get(start, ()))

    assert edges["app"] >= {"proxy", "pages", "routing"}
    assert [module for module in edges if reaches(module, module)] == []
