"""Idle-time precomputation: the next switch needs no forward pass."""

import json

from dvvr_jupyter.testing.waiting import wait_until


def test_idle_server_computes_the_page_ahead(tiny_session, serve, client_for):
    network = tiny_session.networks[0]
    server = serve(tiny_session, precompute=True)
    page = len(network.dataset)
    wait_until(lambda: server._precomputer.computed >= page + 1, 60, "dataset page and noise precomputed")
    client = client_for(server.url)
    forwards = tiny_session.results.stats()["misses"]
    hits = tiny_session.results.stats()["hits"]
    for image_id in range(page):
        client.put("network/0/prepareforinput", json.dumps({"mode": 1, "imageID": image_id}))
        assert len(client.get("network/0/activation/layerid/1")["tensors"]) == 8
    client.put("network/0/prepareforinput", json.dumps({"mode": 4}))
    stats = tiny_session.results.stats()
    assert stats["hits"] - hits == page + 1 and stats["misses"] == forwards  # every switch came from the cache


def test_precompute_respects_the_budget(session, serve):
    from dvvr_jupyter.engine.result_cache import ResultCache

    import tiny

    session.results = ResultCache(0.05, shown=session._shown)  # 50 KB: one result of the tiny net at most
    network = session.attach(tiny.TinyTracked(), tiny.tiny_images(), input_size=(32, 36))
    network.result()  # what a view shows stays, whatever the budget
    server = serve(session, precompute=True)
    wait_until(lambda: server._precomputer.settled, 60, "one idle pass")
    assert session.results.stats()["entries"] <= 1
