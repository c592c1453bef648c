"""Feature-visualization jobs of a network: all layers as one job, progress,
cancel, the cache that knows the weights, a cache folder that refuses writes,
several devices, and memory given back."""

from __future__ import annotations

import logging

import pytest
import torch

import dvvr
from dvvr_jupyter.engine.events import FeatVisProgress
from dvvr_jupyter.errors import BadRequest

import tiny

FAST = dvvr.FeatVisConfig(steps=2, batch_size=4)
CONV2 = 3  # tiny.TinyTracked's "Conv2" (8 channels)


@pytest.fixture
def network(tiny_session):
    network = tiny_session.networks[0]
    network.featvis.config = FAST
    return network


def _store_files(network):
    root = network.featvis.store.root
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_all_layers_as_one_job(network, tiny_session):
    heard = []
    tiny_session.events.subscribe(heard.append, FeatVisProgress)
    job = network.featvis.start_all()
    layers = [layer.id for layer in network.featvis.visualizable()]
    assert layers == [1, 3, 4, 5, 6, 7] and job.layers == tuple(layers)  # no info panel, no input
    assert job.total == sum(network.layer(i).channels for i in layers)
    results = job.wait(timeout=120)
    assert sorted(results) == layers and job.state == "done" and job.fraction == 1.0 and job.done == job.total
    assert all(results[i].shape == (network.layer(i).channels, 3, 32, 36) for i in layers)
    assert all(network.featvis.job(i) is part for i, part in zip(layers, job.parts, strict=True))
    assert tiny_session.events.flush(30)
    assert {e.layer for e in heard if e.state == "done"} == set(layers)
    assert job.stored and len(_store_files(network)) == len(layers)


def test_wait_draws_a_progress_bar(network, capsys):
    pytest.importorskip("tqdm")
    images = network.featvis.start(CONV2).wait(timeout=120, progress=True)
    assert images.shape == (8, 3, 32, 36)
    assert "feature visualization, layer 3" in capsys.readouterr().err


def test_cancel_an_all_layers_job(network):
    network.featvis.config = dvvr.FeatVisConfig(steps=100_000, batch_size=4)
    job = network.featvis.start_all()
    job.cancel()
    with pytest.raises(Exception, match="cancelled"):
        job.wait(timeout=120)
    assert job.state == "cancelled" and all(part.state == "cancelled" for part in job.parts)


def test_load_serves_the_current_weights_only(network, caplog):
    first = network.featvis.images(CONV2).result(timeout=120)  # "load" mode, nothing stored: computed
    job = network.featvis.job(CONV2)
    assert network.featvis.images(CONV2).result(timeout=5) is not None
    assert network.featvis.job(CONV2) is job  # answered from the store: no new job
    with torch.no_grad():
        network.model.conv2.weight.mul_(-1)  # training moved the weights on
    network.refresh()  # the engine copies them in
    with caplog.at_level(logging.INFO, logger="dvvr.featvis"):
        again = network.featvis.images(CONV2).result(timeout=120)
    assert network.featvis.job(CONV2) is not job  # computed anew, not served as current
    assert "other weights" in caplog.text
    assert not torch.equal(first, again)
    assert len(_store_files(network)) == 2  # both versions stored, each under its weights
    assert torch.equal(network.featvis.stored(CONV2), again)


def test_generate_mode_computes_afresh(network):
    network.featvis.images(CONV2).result(timeout=120)
    job = network.featvis.job(CONV2)
    network.featvis.set_mode("generate")
    network.featvis.images(CONV2).result(timeout=120)
    assert network.featvis.job(CONV2) is not job


def test_corrupt_file_is_recomputed(network, caplog):
    images = network.featvis.images(CONV2).result(timeout=120)
    job = network.featvis.job(CONV2)
    (path,) = network.featvis.store.root.iterdir()
    path.write_bytes(path.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger="dvvr.featvis"):
        again = network.featvis.images(CONV2).result(timeout=120)
    assert "unreadable" in caplog.text and network.featvis.job(CONV2) is not job
    assert torch.equal(images, again)  # same weights, same input, same seed
    assert len(_store_files(network)) == 1


def test_unwritable_cache_still_answers_and_keeps_results(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    session = dvvr.Session(cache_dir=blocker / "cache")
    try:
        network = session.attach(tiny.TinyTracked(), tiny.tiny_images(), input_size=(32, 36))
        network.featvis.config = FAST
        with caplog.at_level(logging.WARNING, logger="dvvr.featvis"):
            first = network.featvis.images(CONV2).result(timeout=120)
            job = network.featvis.job(CONV2)
            other = network.featvis.images(1).result(timeout=120)
        assert first.shape == (8, 3, 32, 36) and other.shape == (8, 3, 32, 36) and not job.stored
        assert caplog.text.count("cannot store feature visualizations") == 1  # one clear warning
        assert torch.equal(network.featvis.images(CONV2).result(timeout=5), first)
        assert network.featvis.job(CONV2) is job  # kept in memory: not recomputed
        assert torch.equal(network.featvis.stored_channel(CONV2, 2), first[2])  # usable as an input
    finally:
        session.close()


def test_input_from_a_visualization_needs_current_weights(network):
    network.featvis.images(CONV2).result(timeout=120)
    network.set_input(dvvr.FeatVisImage(network, CONV2, 1))
    with torch.no_grad():
        network.model.conv2.bias.add_(1)
    network.refresh()
    with pytest.raises(BadRequest, match="current weights"):
        network.set_input(dvvr.FeatVisImage(network, CONV2, 1))


def test_several_devices(network):
    network.featvis.config = dvvr.FeatVisConfig(steps=2, batch_size=2, devices=("cpu", "cpu"))
    images = network.featvis.start(CONV2).wait(timeout=120)
    network.featvis.config = dvvr.FeatVisConfig(steps=2, batch_size=2)
    assert torch.equal(network.featvis.start(CONV2).wait(timeout=120), images)


def test_close_cancels_and_later_jobs_never_run(network):
    network.featvis.config = dvvr.FeatVisConfig(steps=100_000, batch_size=4)
    running = network.featvis.start(CONV2)
    queued = network.featvis.start(1)
    network.featvis.close(wait=30)
    for job in (running, queued):
        with pytest.raises(Exception, match="cancelled|detached"):
            job.result(timeout=120)
    late = network.featvis.start(4)
    assert late.state == "cancelled"


def test_model_copy_released_when_idle(network):
    network.featvis.queue.idle_s = 0.1
    network.featvis.start(CONV2).wait(timeout=120)
    worker = network.featvis.queue.worker
    copies = network.featvis.copies
    with copies.changed:  # the worker drops its model copies once the queue is empty
        copies.changed.wait_for(lambda: not copies.held, timeout=60)
        assert not copies.held
    assert worker.daemon
    assert all(p.grad is None for p in network.shadow.model.parameters())


def test_jobs_in_a_row_share_the_model_copies(network):
    network.featvis.queue.idle_s = 600  # released only once the queue has been dry this long
    network.featvis.start(CONV2).wait(timeout=120)
    copies = network.featvis.copies
    assert copies.held
    models = copies.models(network.featvis.config)[0]
    network.featvis.start(1).wait(timeout=120)
    assert copies.held and copies.models(network.featvis.config)[0][0] is models[0]  # not prepared again
    network.featvis.close(wait=30)
    assert not copies.held


def test_protocol_gets_the_pictures_before_they_are_stored(network):
    early = network.featvis.images(CONV2, stored=False)
    job = network.featvis.job(CONV2)
    assert early is job.pictures and network.featvis.images(CONV2) is job.future
    pictures = early.result(timeout=120)
    assert job.result(timeout=120) is pictures and job.stored
    assert torch.equal(network.featvis.stored(CONV2), pictures)


def test_first_input_and_a_job_at_once_never_deadlock(session):
    # A job's model copies need the current input; computing that takes the
    # network's compute lock, then the copy's lock: the job must not hold the
    # second while it waits for the first (a forward pass in flight would wait forever).
    for round_ in range(6):
        network = session.attach(tiny.TinyTracked(), name=f"race {round_}", input_size=(16, 16))
        network.featvis.config = FAST
        shown = session.pool.submit(network.result)  # the first input's forward pass, in flight
        job = network.featvis.start(CONV2)
        assert shown.result(timeout=120) is not None
        assert job.future.result(timeout=120).shape[0] == 8
        session.detach(network)


def test_delete_while_a_result_is_being_stored(network):
    import threading

    held, gate = threading.Event(), threading.Event()
    save = network.featvis.store.save

    def slow_save(*args, **kwargs):  # the real save, held at its start
        held.set()
        gate.wait(60)
        return save(*args, **kwargs)

    network.featvis.store.save = slow_save
    job = network.featvis.start(CONV2)
    assert held.wait(120), "the job never reached its save"
    deleting = threading.Thread(target=network.featvis.delete)
    deleting.start()
    gate.set()
    deleting.join(60)
    job.future.exception(timeout=60)  # done or cancelled: either way nothing may stay stored
    assert network.featvis.stored(CONV2) is None
    assert [name for name in _store_files(network) if name.endswith(".npy")] == []


def test_pictures_held_in_memory_until_stored(tmp_path):
    from dvvr_jupyter.engine.featvis.results import Results
    from dvvr_jupyter.engine.featvis.store import FeatVisStore

    results = Results(FeatVisStore(tmp_path / "featvis"))
    images = torch.randint(0, 256, (4, 3, 5, 6), dtype=torch.uint8)
    results.hold(3, "ab12", images)  # computed, answered, not yet written
    assert results.has(3, "ab12") and results.load(3, "ab12", (4, 3, 5, 6)) is images
    assert torch.equal(results.channel(3, "ab12", 2, (4, 3, 5, 6)), images[2])
    assert not results.has(3, "cd34") and not list(tmp_path.glob("featvis/*.npy"))
    assert results.keep(3, "ab12", images, None)
    assert not results._held and len(list(tmp_path.glob("featvis/*.npy"))) == 1
    assert torch.equal(results.load(3, "ab12", (4, 3, 5, 6)), images)
    results.hold(4, "ab12", images)
    results.drop_held(4, "ab12")  # cancelled before it was stored
    assert not results.has(4, "ab12")
