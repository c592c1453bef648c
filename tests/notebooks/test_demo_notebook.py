"""notebooks/demo.ipynb runs end to end in a real kernel (nbclient)."""

import pytest

from notebook_run import execute_notebook


@pytest.mark.jupyter
@pytest.mark.slow
def test_demo_notebook_executes(tmp_path, monkeypatch):
    text = execute_notebook("demo.ipynb", tmp_path, monkeypatch)
    assert "after:  [('space shuttle'" in text
