"""The synchronous shown-listeners (``engine/shown.py``): told each view's
new result before anyone can read it, and told to forget a network id
before another network answers under it (the Jupyter server's answer store
relies on both: ``serverext/store.py``)."""

from __future__ import annotations

import tiny


class Recorder:
    """What the listeners were told, and what each view showed while they were told."""

    def __init__(self, session):
        self.session = session
        self.calls: list = []

    def shown(self, network_id, changes):
        network = self.session.networks[network_id] if network_id < len(self.session.networks) else None
        before = {view: network.peek(view) if network is not None else None for view in changes}
        self.calls.append(("shown", network_id, dict(changes), before))

    def forget(self, network_ids):
        self.calls.append(("forget", list(network_ids), [n.id for n in self.session.networks]))


def attach(session, name="tiny"):
    return session.attach(tiny.TinyTracked(), tiny.tiny_images(), name=name, input_size=(32, 36))


def test_a_view_s_new_result_is_told_before_it_can_be_read(session):
    network = attach(session)
    recorder = Recorder(session)
    session.shown.add(recorder)
    first = network.set_input(1)
    _, network_id, changes, before = recorder.calls[-1]
    assert (network_id, changes) == (0, {None: first})
    assert before[None] is not first  # not yet readable while the listener ran
    assert network.peek() is first

    alice = network.set_input(2, view="alice")
    _, _, changes, before = recorder.calls[-1]
    assert changes == {"alice": alice} and before["alice"] is None
    again = network.set_input(1)  # the kept result of image 1: the same result, told again
    assert again is first and recorder.calls[-1][2] == {None: first}

    weights = next(network.model.parameters())
    weights.data.mul_(2)
    refreshed = network.refresh()  # new weights: a new result
    assert refreshed is not first and recorder.calls[-1][2] == {None: refreshed}
    assert recorder.calls[-1][3][None] is first


def test_a_retrack_forgets_every_view_before_the_new_layers_answer(session):
    network = attach(session)
    network.set_input(1)
    network.set_input(2, view="alice")
    recorder = Recorder(session)
    session.shown.add(recorder)
    network.retrack(["conv1", "conv2"])
    kinds = [(call[0], call[2]) for call in recorder.calls]
    forgotten = next(changes for kind, changes in kinds if kind == "shown" and None in changes and changes[None] is None)
    assert forgotten == {None: None, "alice": None}
    assert recorder.calls[-1][2] == {None: network.peek()}  # the shared view's new result, after
    assert network.peek("alice") is None


def test_a_late_listener_is_told_what_is_shown_now(session):
    network = attach(session)
    shown = network.set_input(3)
    recorder = Recorder(session)
    session.shown.add(recorder)
    network.announce_views()
    assert recorder.calls == [("shown", 0, {None: shown}, {None: shown})]


def test_detach_and_replace_forget_the_ids_before_another_network_answers_under_them(session):
    first, second = attach(session, "a"), attach(session, "b")
    first.set_input(1)
    kept = second.set_input(2)
    recorder = Recorder(session)
    session.shown.add(recorder)
    session.detach(first)
    forgets = [call for call in recorder.calls if call[0] == "forget"]
    assert forgets[0] == ("forget", [0, 1], [0, 1])  # before the ids moved
    assert forgets[1] == ("forget", [0, 1], [0])  # and after
    assert recorder.calls[-1][:3] == ("shown", 0, {None: kept})  # the moved network's view, under its new id
    recorder.calls.clear()
    first.set_input(3)  # the detached network: told nothing (its id is another's)
    assert recorder.calls == []

    replacement = session.attach(tiny.TinyTracked(), tiny.tiny_images(), name="b", input_size=(32, 36))
    assert replacement.id == 0 and recorder.calls[0][:2] == ("forget", [0])
    recorder.calls.clear()
    second.set_input(4)  # the replaced network
    assert recorder.calls == []
    session.shown.remove(recorder)
    replacement.set_input(1)
    assert recorder.calls == []
