"""Run a notebook of notebooks/ end to end in a real kernel (nbclient),
with this checkout's dvvr and private Jupyter folders."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from conftest import REPO


def execute_notebook(name: str, tmp_path, monkeypatch) -> str:
    """Execute ``notebooks/<name>``; assert no cell failed; return its printed text."""
    monkeypatch.setenv("DVVR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the kernel imports this checkout's dvvr
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    notebook = nbformat.read(REPO / "notebooks" / name, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(REPO / "notebooks")}})
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
