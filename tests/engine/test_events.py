"""The observable session: listeners hear inputs, results, networks and
feature-visualization progress, on a thread of their own."""

from __future__ import annotations

import logging
import threading

import pytest

import dvvr
from dvvr_jupyter.engine.events import FeatVisProgress, InputChanged, NetworksChanged, ResultReady

import tiny


class Recorder:
    def __init__(self, session, *types):
        self.events = []
        self.threads = set()
        self.subscription = session.events.subscribe(self, *types)
        self.session = session

    def __call__(self, event):
        self.events.append(event)
        self.threads.add(threading.current_thread().name)

    def flushed(self):
        assert self.session.events.flush(30)
        return self.events


def test_inputs_and_results_in_order(tiny_session):
    network = tiny_session.networks[0]
    heard = Recorder(tiny_session)
    result = network.set_input(3)
    again = network.refresh()
    events = heard.flushed()
    assert [type(e) for e in events] == [InputChanged, ResultReady, ResultReady]
    changed, ready, refreshed = events
    assert changed.network is network and changed.input is result.input and changed.origin == "notebook"
    assert changed.view is None and changed.input.source == dvvr.DatasetImage(network.dataset, 3)
    assert ready.result is result and refreshed.result is again and refreshed.origin == "refresh"
    assert again.input is result.input  # a refresh keeps the input: no InputChanged
    assert heard.threads == {"dvvr-events"}  # never the thread that computed (and held the engine's locks)


def test_listeners_may_call_back_into_the_engine(tiny_session):
    network = tiny_session.networks[0]
    seen = []

    def follow(event):
        # reading the result and even choosing another input from a listener is fine
        seen.append(event.network.result().top_classes(1))
        if len(seen) == 1:
            event.network.set_input(dvvr.Blank(), origin="widget")

    tiny_session.events.subscribe(follow, InputChanged)
    network.set_input(1)
    assert tiny_session.events.flush(30)
    assert len(seen) == 2 and isinstance(network.input.source, dvvr.Blank)


def test_a_failing_listener_breaks_nothing(tiny_session, caplog):
    network = tiny_session.networks[0]

    def broken(event):
        raise RuntimeError("a bug in a listener")

    tiny_session.events.subscribe(broken)
    heard = Recorder(tiny_session, ResultReady)
    with caplog.at_level(logging.ERROR, logger="dvvr.events"):
        network.set_input(2)
        network.set_input(4)
        events = heard.flushed()
    assert len(events) == 2 and network.input.source.index == 4
    assert "a bug in a listener" in caplog.text


def test_unsubscribe(tiny_session):
    heard = Recorder(tiny_session)
    heard.subscription.close()
    tiny_session.networks[0].set_input(1)
    assert heard.flushed() == []


def test_networks_attached_replaced_detached(session):
    heard = Recorder(session, NetworksChanged)
    model = tiny.TinyTracked()
    first = session.attach(model, tiny.tiny_images(), input_size=(32, 36))
    again = session.attach(model, session.datasets[0], input_size=(32, 36))
    session.detach(again)
    assert [(e.change, e.network) for e in heard.flushed()] == [
        ("attached", first), ("replaced", again), ("detached", again)]


def test_feature_visualization_progress(tiny_session):
    network = tiny_session.networks[0]
    network.featvis.config = dvvr.FeatVisConfig(steps=2, batch_size=4)
    heard = Recorder(tiny_session, FeatVisProgress)
    job = network.featvis.start(3)
    images = job.result(timeout=120)
    events = heard.flushed()
    assert images.shape == (8, 3, 32, 36) and job.state == "done" and (job.done, job.total) == (8, 8)
    assert [e.state for e in events][:2] == ["queued", "running"] and events[-1].state == "done"
    done = [e.done for e in events if e.state == "running"]  # reported per step: a batch's count may repeat
    assert done == sorted(done) and sorted(set(done)) == [0, 4, 8]
    assert all(e.layer == 3 and e.total == 8 for e in events)


def test_cancelling_a_job(tiny_session):
    network = tiny_session.networks[0]
    network.featvis.config = dvvr.FeatVisConfig(steps=100_000, batch_size=4)
    heard = Recorder(tiny_session, FeatVisProgress)
    job = network.featvis.start(3)
    assert network.featvis.start(3) is job  # one job per layer at a time
    job.cancel()
    with pytest.raises(Exception, match="cancelled"):
        job.result(timeout=120)
    assert job.state == "cancelled" and heard.flushed()[-1].state == "cancelled"
