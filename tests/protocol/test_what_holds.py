"""What held under an adversarial review, kept so: answers never mix inputs
while headsets switch at once, results are freed once neither cached nor
shown (so memory stays flat over many switches), and a training run is
bit-identical with or without dvvr serving it."""

from __future__ import annotations

import gc
import random
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

import tiny


def test_headsets_switching_at_once_each_get_their_own_answers(tiny_session, serve, client_for):
    network = tiny_session.networks[0]
    server = serve(tiny_session)
    quiet = client_for(server.url + "h/quiet/")
    layers = quiet.get("network/0")["architecture"]
    reference = {}
    for image_id in range(6):  # quiet references, one image at a time
        reference[image_id] = quiet.switch(0, layers, {"mode": 1, "imageID": image_id}).answers
    headsets = [client_for(server.url + f"h/student-{i}/", concurrency=8) for i in range(4)]

    def explore(i: int) -> int:
        checked = 0
        for round_ in range(10):
            image_id = (i + round_) % 6
            answers = headsets[i].switch(0, layers, {"mode": 1, "imageID": image_id}).answers
            assert answers == reference[image_id], (i, image_id)  # every byte of every answer: its own input
            checked += len(answers)
        return checked

    with ThreadPoolExecutor(4) as class_:
        assert sum(class_.map(explore, range(4))) == 4 * 10 * len(reference[0])
    assert sorted(network.views()) == ["quiet", "student-0", "student-1", "student-2", "student-3"]


def test_results_are_freed_once_neither_cached_nor_shown(session, serve, client_for):
    """Memory stays flat over many switches because only the result cache
    (within its budget) and the views on screen keep results: every other
    result made along the way is freed.  (The RSS over hundreds of switches
    is a figure of benchmarks/memory.py.)"""
    from dvvr_jupyter.engine.result_cache import ResultCache

    session.results = ResultCache(1, shown=session._shown)  # 1 MB: eviction at work all along
    network = session.attach(tiny.TinyTracked(), tiny.tiny_images(), name="tiny", class_names=tiny.CLASSES,
                             input_size=(32, 36))
    client = client_for(serve(session).url)
    layers = client.get("network/0")["architecture"]
    made: list[weakref.ref] = []  # every distinct result shown along the way
    for i in range(20):  # a new noise image each time: a new input for the cache every switch
        client.get("noiseimage/0")
        client.switch(0, layers, {"mode": 4 if i % 2 else 1, "imageID": i % 6})
        current = network.result()
        if not any(ref() is current for ref in made):
            made.append(weakref.ref(current))
    gc.collect()
    alive = [ref() for ref in made if ref() is not None]
    kept = session.results.stats()
    assert kept["mb"] <= 1.0
    assert len(made) > kept["entries"] + 1  # more results than fit: some had to go
    assert len(alive) <= kept["entries"] + 1, f"{len(alive)} results alive, {kept['entries']} cached, 1 shown"


def train(model, steps: int, hammer=None) -> dict:
    """A fixed training run; ``hammer()`` runs between steps (a client at work)."""
    torch.manual_seed(1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(steps):
        x = torch.randn(4, 3, 32, 36)
        y = torch.randint(0, 3, (4,))
        loss = torch.nn.functional.cross_entropy(model(x), y)  # dropout in train mode draws from the RNG
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if hammer is not None:
            hammer()
    return {"state": {k: v.clone() for k, v in model.state_dict().items()}, "torch_rng": torch.get_rng_state(),
            "numpy_rng": np.random.get_state()[1].copy(), "python_rng": random.getstate()}


def test_training_is_bit_identical_with_a_client_hammering(session, serve, client_for):
    torch.manual_seed(0)
    alone = tiny.TinyTracked().train()
    served = tiny.TinyTracked().train()
    served.load_state_dict(alone.state_dict())
    np.random.seed(3)
    random.seed(3)
    without = train(alone, 12)

    session.attach(served, tiny.tiny_images(), name="served", class_names=tiny.CLASSES, input_size=(32, 36))
    client = client_for(serve(session).url)
    layers = client.get("network/0")["architecture"]
    counter = iter(range(10_000))

    def hammer():  # every kind of request, with the live weights copied on each switch
        i = next(counter)
        client.get("noiseimage/0")
        client.switch(0, layers, {"mode": (1, 4, 0)[i % 3], "imageID": i % 6})

    np.random.seed(3)
    random.seed(3)
    with_dvvr = train(served, 12, hammer)
    for key, value in without["state"].items():
        assert torch.equal(value, with_dvvr["state"][key]), key
    assert torch.equal(without["torch_rng"], with_dvvr["torch_rng"])
    assert (without["numpy_rng"] == with_dvvr["numpy_rng"]).all() and without["python_rng"] == with_dvvr["python_rng"]
