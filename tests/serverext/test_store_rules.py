"""The answer store's rules on their own (``serverext/store.py``,
``bridge/shown.py``): which paths are kept, which state file counts, the
budget.  The store with a real server and kernels: ``test_answer_store.py``."""

import pytest

from dvvr_jupyter.bridge import shown
from dvvr_jupyter.serverext.store import Answer, AnswerStore, lookup_of


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    return tmp_path


def answer(size: int) -> Answer:
    return Answer(200, "OK", (("Cache-Control", "no-store"),), "application/json", b"x" * size)


@pytest.mark.parametrize(("path", "view_key", "keyed"), [
    ("network/0/activation/layerid/3", "0", "network/0/activation/layerid/3"),
    ("network/12/classificationresult/", "12", "network/12/classificationresult"),
    ("h/alice/network/1/input", "1/alice", "network/1/input"),
    ("h/a.b-c/network/0/weighthistogram/layerid/0", "0/a.b-c", "network/0/weighthistogram/layerid/0"),
    ("network/0/atlas/layerid/2", "0", "network/0/atlas/layerid/2"),
])
def test_the_routes_built_from_one_result_are_kept(path, view_key, keyed):
    found = lookup_of(path)
    assert (found.view_key, found.path) == (view_key, keyed)


@pytest.mark.parametrize("path", [
    "network", "network/0", "network/0/prepareforinput", "network/0/featurevisualization/layerid/1",
    "network/01/input", "network/0/activation/layerid/+1", "network/0/activation/layerid/1/x",
    "h//network/0/input", "h/a b/network/0/input", "events/0", "dataset/0/images", "s/x/network/0/input",
])
def test_other_routes_and_odd_ids_are_always_forwarded(path):
    assert lookup_of(path) is None


def test_only_the_result_the_state_file_names_is_answered(runtime):
    store = AnswerStore(10_000)
    entry = {"kernel_id": "k1", shown.PROCESS_FIELD: shown.PROCESS}
    where = lookup_of("network/0/input")
    store.put(entry, where, shown.tag(7), answer(10))
    assert store.get(entry, where) is None  # no state file: forwarded
    shown.write_state("k1", 1, {"0": shown.tag(7)})
    assert store.get(entry, where) == answer(10)
    assert store.get(entry, lookup_of("h/bob/network/0/input")) is None  # bob's view is not in the state
    shown.write_state("k1", 2, {"0": shown.tag(8)})
    assert store.get(entry, where) is None  # the view moved on
    shown.write_state("k1", 3, {"0": shown.tag(7), "0/bob": shown.tag(7)})
    assert store.get(entry, lookup_of("h/bob/network/0/input")) == answer(10)  # the same result in bob's view
    assert (store.hits, store.misses) == (2, 3)

    other = {**entry, shown.PROCESS_FIELD: "another process"}  # the kernel id restarted
    assert store.get(other, where) is None  # the state file is the old process's
    store.put(other, where, shown.tag(7), answer(10))  # a tag of another process than the entry's
    assert len(store) == 1
    store.put(other, where, "another process.7", answer(10))  # the new process: the old one's answers go
    assert len(store) == 1 and store.get(entry, where) is None
    store.keep_kernels(frozenset())
    assert len(store) == 0 and store.nbytes == 0
    shown.remove_state("k1")
    assert not shown.state_path("k1").exists()


def test_the_budget_drops_the_least_recently_used(runtime):
    store = AnswerStore(3 * answer(100).nbytes)
    entry = {"kernel_id": "k1", shown.PROCESS_FIELD: shown.PROCESS}
    shown.write_state("k1", 1, {"0": shown.tag(1)})
    paths = [lookup_of(f"network/0/activation/layerid/{layer}") for layer in range(4)]
    for where in paths[:3]:
        store.put(entry, where, shown.tag(1), answer(100))
    assert store.get(entry, paths[0]) is not None  # used: the most recent now
    store.put(entry, paths[3], shown.tag(1), answer(100))
    assert store.get(entry, paths[1]) is None and store.get(entry, paths[0]) is not None
    assert len(store) == 3 and store.nbytes == 3 * answer(100).nbytes
    store.put(entry, paths[2], shown.tag(1), answer(10_000))  # larger than the budget: not kept
    assert len(store) == 3
    store.budget = answer(100).nbytes
    assert len(store) == 1
