"""notebooks/transformers.ipynb runs end to end in a real kernel (nbclient):
the tiny ViT trains while dvvr watches, and its attention ends on the square."""

import nbformat
import pytest

from conftest import REPO
from notebook_run import execute_notebook

NOTEBOOK = REPO / "notebooks" / "transformers.ipynb"


def test_saved_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") and cell.get("execution_count") is None
               for cell in notebook.cells if cell.cell_type == "code")
    assert notebook.metadata.kernelspec.name == "python3"


@pytest.mark.jupyter
@pytest.mark.slow
def test_transformers_notebook_executes(tmp_path, monkeypatch):
    text = execute_notebook("transformers.ipynb", tmp_path, monkeypatch)
    assert "'encoder Encoder attention', (2, 4, 4)" in text
    assert "after training, the attention peaks on the square in" in text
