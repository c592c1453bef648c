"""notebooks/demo.ipynb runs end to end in a real kernel (nbclient)."""

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import REPO


@pytest.mark.jupyter
@pytest.mark.slow
def test_demo_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("DVVR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the kernel imports this checkout's dvvr
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    notebook = nbformat.read(REPO / "notebooks" / "demo.ipynb", as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(REPO / "notebooks")}})
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "after:  [('space shuttle'" in text
