"""A real Jupyter server with the dvvr extension (pytest-jupyter) and real
kernels driven by a jupyter_client blocking client.

(``__init__.py`` makes this ``serverext.conftest``: ``tests/test_cli.py``
imports the top-level ``conftest`` by name.)"""

import pytest

from dvvr_jupyter.bridge.token import token_path

from .dvvr_kernels import Kernel


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"dvvr_jupyter.serverext": True}}}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DVVR_CACHE_DIR", str(tmp_path / "dvvr-cache"))


@pytest.fixture
def start_kernel(jp_serverapp):
    """``await start_kernel()``; pytest-jupyter's cleanup shuts the kernels down."""
    kernels = []

    async def start(notebook: str | None = None):
        """A kernel as JupyterLab starts it for ``notebook`` (a session), or a bare one."""
        if notebook:
            model = await jp_serverapp.session_manager.create_session(path=notebook, type="notebook")
            kernel_id = model["kernel"]["id"]
        else:
            kernel_id = await jp_serverapp.kernel_manager.start_kernel()
        kernel = Kernel(jp_serverapp.kernel_manager, kernel_id)
        kernels.append(kernel)
        return kernel

    yield start
    for kernel in kernels:
        kernel.client.stop_channels()


@pytest.fixture
def vr_token(http_server, jp_data_dir):
    """The VR capability token (the extension created it on start-up)."""
    return token_path(jp_data_dir).read_text().strip()


@pytest.fixture
def vr_url(http_server, jp_http_port, jp_base_url, jp_data_dir):
    """``vr_url()``: the VR client's base URL through the Jupyter port (the
    token read afresh); ``http_server``: pytest-jupyter's server listens on it."""

    def url(suffix: str = "") -> str:
        token = token_path(jp_data_dir).read_text().strip()
        return f"http://127.0.0.1:{jp_http_port}{jp_base_url}dvvr/vr/{token}/{suffix}"

    return url
