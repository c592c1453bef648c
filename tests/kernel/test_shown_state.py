"""The kernel's answer-store state file (``kernel/shown_state.py``): what
each view shows, rewritten before a change can be read; gone when the
server stops or when it cannot be written."""

import json

import pytest

from dvvr_jupyter.bridge import shown
from dvvr_jupyter.kernel.shown_state import ShownState

import tiny


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    return tmp_path / "runtime"


def state(kernel_id="k"):
    return json.loads(shown.state_path(kernel_id).read_text())


def attach(session, name):
    return session.attach(tiny.TinyTracked(), tiny.tiny_images(), name=name, input_size=(32, 36))


def test_the_file_follows_every_view(session, runtime):
    first = attach(session, "a")
    before = first.set_input(1)
    published = ShownState(session, "k")
    assert state()["shown"] == {"0": shown.tag(before.id)}  # what was shown already
    assert state()["process"] == shown.PROCESS and shown.state_path("k").stat().st_mode & 0o777 == 0o600
    second = attach(session, "b")
    result = second.set_input(2, view="alice")
    generation = state()["generation"]
    assert state()["shown"] == {"0": shown.tag(before.id), "1/alice": shown.tag(result.id)}
    session.detach(first)  # network 1 becomes 0
    assert state()["shown"] == {"0/alice": shown.tag(result.id)} and state()["generation"] > generation
    published.close()
    assert not shown.state_path("k").exists()
    second.set_input(3)
    assert not shown.state_path("k").exists()  # no listener any more


def test_a_file_that_cannot_be_written_is_not_left_behind(session, runtime, caplog):
    network = attach(session, "a")
    published = ShownState(session, "k")
    network.set_input(1)
    assert shown.state_path("k").exists()
    shown.state_path("k").unlink()
    shown.state_path("k").mkdir()  # the next write cannot replace it
    network.set_input(2)  # the engine goes on
    assert "could not write the answer store's state" in caplog.text
    network.set_input(3)
    published.close()
    assert shown.read_state(shown.state_path("k"), shown.PROCESS) is None  # what the server reads: nothing
