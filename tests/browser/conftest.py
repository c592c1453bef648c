import pytest


@pytest.fixture
def jp_asyncio_loop():
    """Overrides pytest-jupyter's autouse loop: Playwright's sync API runs its
    own asyncio loop in this thread, which that fixture would pick up and
    then try to close."""
    yield None


@pytest.fixture
def jp_server_cleanup():
    """Overrides pytest-jupyter's autouse cleanup: JupyterLab runs in a
    subprocess here, so there is nothing to clean up in this process."""
    yield
