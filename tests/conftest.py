import importlib.util
import sys
from pathlib import Path

import pytest

# jp_serverapp, jp_fetch for tests/serverext; optional so that the engine and
# protocol tests also run where Jupyter is not installed (a GPU machine).
pytest_plugins = ["pytest_jupyter.jupyter_server"] if importlib.util.find_spec("pytest_jupyter") else []

HERE = Path(__file__).parent
REPO = HERE.parent
FIXTURES = HERE / "fixtures" / "deepvisionvr"  # recorded answers of the original server
sys.path.insert(0, str(HERE))  # tests/tiny.py

FOREVER = 10_000_000  # feature-visualization steps: a job that never ends by itself
#: Process exits while a feature visualization runs: its worker must not keep the interpreter
#: alive (the engine's jobs: the featvis work).  strict=False: these pass as soon as that lands.
JOBS_KEEP_PROCESS_ALIVE = pytest.mark.xfail(
    reason="a running feature-visualization job keeps the interpreter alive (engine side: featvis work)",
    strict=False)


@pytest.fixture
def session(tmp_path):
    from dvvr import Session

    session = Session(cache_dir=tmp_path / "cache")
    yield session
    session.close()


@pytest.fixture
def tiny_session(session):
    """A session with the tiny tracked model (in train mode) and a dataset."""
    import tiny

    model = tiny.TinyTracked()
    model.train()
    session.attach(model, tiny.tiny_images(), name="tiny", class_names=tiny.CLASSES, input_size=(32, 36))
    return session


@pytest.fixture
def serve():
    """Start a real protocol server on loopback: ``serve(session, **kw)``."""
    from dvvr import Server

    servers = []

    def start(session, **kwargs):
        server = Server(session, "127.0.0.1", 0, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def client_for():
    from dvvr_jupyter.protocol.client import VRClient

    clients = []

    def make(url, **kwargs):
        client = VRClient(url, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
