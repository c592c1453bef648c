"""The Jupyter server's answer store (``serverext/store.py``) with a real
server and real kernels: what it answers is byte for byte what the kernel
answers now, never an answer of a result the view no longer shows (after a
switch through Jupyter, ``set_input`` in a cell, new weights, a retrack, a
restart), per headset view, per kernel; it does answer (its counters), and
stays within its budget."""

import asyncio
import json

import pytest
from tornado.httpclient import AsyncHTTPClient

from dvvr_jupyter.bridge.registry import entry_path, read_entry, shown_path

from .dvvr_kernels import SETUP

pytestmark = [pytest.mark.jupyter, pytest.mark.slow]  # real Jupyter servers and kernels

NET = "import dvvr_jupyter.engine.session as _s\n_net = _s.default_session().networks[0]\n"


class Paths:
    """GETs through Jupyter and straight to the kernel (with its secret)."""

    def __init__(self, vr_url, entry):
        self.vr_url, self.entry = vr_url, entry
        self.http = AsyncHTTPClient()

    async def jupyter(self, path, method="GET", body=None):
        return await self.http.fetch(self.vr_url() + path, method=method, body=body, raise_error=False)

    async def direct(self, path):
        return await self.http.fetch(f"http://127.0.0.1:{self.entry['port']}/{path}", raise_error=False,
                                     headers={"X-Dvvr-Secret": self.entry["secret"]})

    async def switch(self, image, view=""):
        answer = await self.jupyter(f"{view}network/0/prepareforinput", "PUT", json.dumps({"mode": 1, "imageID": image}))
        assert answer.code == 200, answer.body

    async def answers(self, paths, view=""):
        """{path: body through Jupyter}, each checked against the kernel's own answer now."""
        bodies = {}
        for path in paths:
            through, direct = await self.jupyter(view + path), await self.direct(view + path)
            assert through.code == direct.code == 200, (path, through.code, through.body[:200])
            assert through.body == direct.body, path
            assert through.headers["Content-Type"] == direct.headers["Content-Type"]
            bodies[path] = through.body
        return bodies


def kept_paths(architecture: dict) -> list[str]:
    layers = architecture["architecture"]
    maps = [i for i, layer in enumerate(layers) if layer["data_type"] == "2D_feature_map"][:2]
    paths = ["network/0/classificationresult", "network/0/input"]
    for layer in maps:
        paths += [f"network/0/activation/layerid/{layer}", f"network/0/activationhistogram/layerid/{layer}",
                  f"network/0/weighthistogram/layerid/{layer}", f"network/0/atlas/layerid/{layer}"]
    return paths


@pytest.fixture
def store(jp_serverapp):
    return jp_serverapp.web_app.settings["dvvr"].store


async def test_the_store_answers_only_what_the_kernel_answers_now(start_kernel, vr_url, store, jp_runtime_dir):
    kernel = await start_kernel()
    await kernel.run(SETUP)
    entry = read_entry(entry_path(kernel.id, jp_runtime_dir))
    paths = Paths(vr_url, entry)
    kept = kept_paths(json.loads((await paths.direct("network/0")).body))

    await paths.switch(1)
    misses, hits = store.misses, store.hits
    image1 = await paths.answers(kept)  # first time through Jupyter: forwarded, kept
    assert (store.misses - misses, store.hits - hits) == (len(kept), 0)
    first = {path: await paths.jupyter(path) for path in kept[:3]}  # from the store
    assert store.hits - hits == 3  # answered by the server: no request reached the kernel
    again = await paths.answers(kept)
    assert again == image1 and store.hits - hits == 3 + len(kept)
    kept_answer = await paths.jupyter(kept[0])  # from the store: the forwarded answer's headers (but the date)
    store.budget, budget = 0, store.budget  # off: forwarded (and what was kept is dropped)
    forwarded = await paths.jupyter(kept[0])
    store.budget = budget
    assert kept_answer.body == forwarded.body == first[kept[0]].body
    assert {k: v for k, v in kept_answer.headers.get_all() if k != "Date"} == \
           {k: v for k, v in forwarded.headers.get_all() if k != "Date"}
    assert "X-Dvvr-Result" not in forwarded.headers and "X-Dvvr-Result" not in kept_answer.headers
    await paths.answers(kept)  # kept again

    # a switch through Jupyter: the new input's answers, then back: the first one's (the same result)
    await paths.switch(2)
    image2 = await paths.answers(kept)
    assert all(image2[p] != image1[p] for p in kept if "weighthistogram" not in p)
    await paths.switch(1)
    hits = store.hits
    assert await paths.answers(kept) == image1 and store.hits - hits == len(kept)

    # set_input in a cell, new weights (refresh), a retrack: each time the kernel's answers now
    await kernel.run(NET + "_net.set_input(3)")
    image3 = await paths.answers(kept)
    assert image3["network/0/input"] not in (image1["network/0/input"], image2["network/0/input"])
    await kernel.run(NET + "import torch\nwith torch.no_grad():\n    [p.mul_(-2) for p in model.parameters()]\n"
                           "_net.refresh()")
    weights = await paths.answers(kept)
    changed = [p for p in kept if "weighthistogram" in p and weights[p] != image3[p]]
    assert changed, "new weights, same weight histograms"
    await kernel.run(NET + "_net.retrack(_net.options.track)")
    hits = store.hits
    await paths.answers(kept)
    assert store.hits == hits  # a new result: nothing kept for it yet

    # a headset's own view: its own result, the shared view's answers never given for it
    await paths.switch(4, "h/alice/")
    alice = await paths.answers(kept, "h/alice/")
    shared = await paths.answers(kept)
    assert alice["network/0/input"] != shared["network/0/input"]
    await paths.switch(4)  # now the shared view shows alice's result: its answers are shared
    hits = store.hits
    assert await paths.answers(kept) == alice and store.hits - hits == len(kept)

    # bad input is still the kernel's 4xx JSON, never kept
    for bad in ("network/0/activation/layerid/999", "network/x/input", "network/7/classificationresult",
                "h/not%20a%20name/network/0/input"):
        answer = await paths.jupyter(bad)
        assert 400 <= answer.code < 500 and "message" in json.loads(answer.body), bad

    # the budget bounds it: least recently used answers go
    store.budget = max(len(image1[p]) for p in kept) * 2
    assert 0 < store.nbytes <= store.budget and len(store) < len(kept)
    await paths.switch(5)
    await paths.answers(kept)
    assert 0 < store.nbytes <= store.budget and len(store) < len(kept)
    assert shown_path(kernel.id, jp_runtime_dir).exists()
    await kernel.run(UNSTOP)
    assert not shown_path(kernel.id, jp_runtime_dir).exists()


UNSTOP = "%dvvr stop"


async def test_kernels_and_restarts_never_share_answers(start_kernel, vr_url, store, jp_runtime_dir):
    first, second = await start_kernel(), await start_kernel()
    for kernel in (first, second):
        await kernel.run(SETUP)
    await second.run(NET + "import torch\nwith torch.no_grad():\n    [p.mul_(-2) for p in model.parameters()]")

    def session(kernel):
        entry = read_entry(entry_path(kernel.id, jp_runtime_dir))
        return Paths(lambda: vr_url(f"s/{kernel.id}/"), entry)

    a, b = session(first), session(second)
    kept = kept_paths(json.loads((await a.direct("network/0")).body))
    for paths in (a, b):
        await paths.switch(1)
        await paths.answers(kept)
    hits = store.hits
    answers_a, answers_b = await a.answers(kept), await b.answers(kept)
    assert store.hits - hits == 2 * len(kept)
    assert any(answers_a[p] != answers_b[p] for p in kept)  # other weights: other answers, each its kernel's

    # the same kernel id restarted: a new process, whose results are numbered from 1 again
    await first.restart()
    await first.run(SETUP)
    a = session(first)
    await a.switch(1)
    hits = store.hits
    await a.answers(kept)
    assert store.hits == hits  # nothing of the old process answered

    # a kernel that goes away: its answers go (at the next answer kept)
    await second.shutdown()
    await a.switch(2)
    await a.answers(kept)
    assert {key[0] for key in store._answers} == {first.id}


async def test_a_class_following_one_view_reaches_the_kernel_once_per_answer(start_kernel, vr_url, store,
                                                                             jp_runtime_dir):
    """Eight headsets that follow the shared view ask each answer of a switch
    at the same moment: the first request is forwarded, the others take its
    answer (in flight, or kept by then), each byte for byte the kernel's."""
    kernel = await start_kernel()
    await kernel.run(SETUP)
    paths = Paths(vr_url, read_entry(entry_path(kernel.id, jp_runtime_dir)))
    kept = kept_paths(json.loads((await paths.direct("network/0")).body))
    for image in (1, 2):
        await paths.switch(image)  # the lecturer's switch; the class then asks everything at once
        before = store.hits, store.misses, store.joined
        answers = await asyncio.gather(*(paths.jupyter(path) for path in kept for _ in range(8)))
        hits, misses, joined = (now - then for now, then in zip((store.hits, store.misses, store.joined), before, strict=True))
        assert misses - joined == len(kept)  # one forward per answer
        assert hits + joined == 7 * len(kept)
        for index, path in enumerate(kept):
            bodies = {answer.body for answer in answers[index * 8:(index + 1) * 8]}
            assert len(bodies) == 1 and bodies == {(await paths.direct(path)).body}, path
