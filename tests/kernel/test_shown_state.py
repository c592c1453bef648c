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


class Consistent:
    """A listener told before the state file's (``ShownState``): whenever it is
    told anything, each view the file names must exist and show that result,
    so that the server never answers a result a view does not show."""

    def __init__(self, session, kernel_id="k", on_forget=None):
        self.session, self.kernel_id, self.on_forget = session, kernel_id, on_forget
        self.wrong: list = []

    def check(self, when):
        views = shown.read_state(shown.state_path(self.kernel_id), shown.PROCESS) or {}
        networks = list(self.session.networks)
        for key, tag in views.items():
            network_id, _, view = key.partition("/")
            network = networks[int(network_id)] if int(network_id) < len(networks) else None
            now = network.peek(view or None) if network is not None else None
            if now is None or shown.tag(now.id) != tag:
                self.wrong.append((when, key, tag, None if now is None else shown.tag(now.id)))

    def shown(self, network_id, changes):
        self.check(("shown", network_id))

    def forget(self, network_ids):
        self.check(("forget", list(network_ids)))
        if self.on_forget is not None:
            on_forget, self.on_forget = self.on_forget, None
            on_forget()


def test_a_switch_during_a_detach_never_leaves_an_id_showing_another_network_s_result(session, runtime):
    """A headset switches the later network while an earlier one is detached
    (the ids move down): at no moment may the file say that an id shows a
    result its network now does not (another network's, or a gone id's)."""
    import threading

    first, second = attach(session, "a"), attach(session, "b")
    first.set_input(1)
    second.set_input(2)
    switched = second.set_input(3)  # image 3's result: kept, shown again below
    second.set_input(2)

    def switch_meanwhile():  # in another thread, as the kernel's server would, while the detach runs
        thread = threading.Thread(target=second.set_input, args=(3,))
        thread.start()
        thread.join()

    probe = Consistent(session)
    session.shown.add(probe)  # told before the state file is written
    published = ShownState(session, "k")
    session.shown.add(Consistent(session, on_forget=switch_meanwhile))  # told after: the ids are forgotten
    session.detach(first)
    assert second.peek() is switched
    probe.check("after")
    assert probe.wrong == []
    assert state()["shown"] == {"0": shown.tag(switched.id)}
    published.close()


class Interrupt:
    """A listener told after the state file's, where Ctrl+C in the cell
    making the change lands: the file is written, the change not yet made."""

    def __init__(self):
        self.armed = False

    def shown(self, network_id, changes):
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt

    def forget(self, network_ids):
        self.shown(None, {})


def test_an_interrupted_switch_leaves_the_file_saying_what_is_shown(session, runtime):
    """Ctrl+C while a cell switches (a loop of set_input calls on kept
    results spends most of its time writing the file): the change is not
    made, and the file must not say it was, or the server would answer the
    interrupted result's kept answers while the kernel answers the old one's."""
    network = attach(session, "a")
    network.set_input(1)  # kept: the interrupted switch below is to a result with kept answers
    second = network.set_input(2)
    network.set_input(2, view="alice")
    published = ShownState(session, "k")
    interrupt = Interrupt()
    session.shown.add(interrupt)
    interrupt.armed = True
    with pytest.raises(KeyboardInterrupt):
        network.set_input(1)  # image 1's kept result
    assert network.peek() is second
    assert state()["shown"] == {"0": shown.tag(second.id), "0/alice": shown.tag(second.id)}
    interrupt.armed = True
    with pytest.raises(KeyboardInterrupt):
        network.retrack(["conv1", "conv2"])  # the views are forgotten first: interrupted there
    assert network.peek() is second and network.peek("alice") is second
    assert state()["shown"] == {"0": shown.tag(second.id), "0/alice": shown.tag(second.id)}
    again = network.set_input(1)  # and the next switch is told as always
    assert state()["shown"] == {"0": shown.tag(again.id), "0/alice": shown.tag(second.id)}
    published.close()
