"""The feature-visualization store: keyed by layer and weights, checked, atomic, bounded."""

from __future__ import annotations

import logging
import os
import threading

import pytest
import torch
from torch import nn

from dvvr_jupyter.engine.featvis.store import FeatVisStore, weights_fingerprint

W1, W2 = "00aa11bb22cc33dd", "ffee00112233aabb"


def _images(n=4, seed=0):
    return torch.randint(0, 256, (n, 3, 6, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _files(root):
    return sorted(p.name for p in root.iterdir())


def test_roundtrip_per_layer_and_weights(tmp_path):
    store = FeatVisStore(tmp_path / "net")
    assert store.load(2, W1) is None and not store.has(2, W1) and store.channel(2, W1, 0) is None
    images = _images()
    store.save(2, W1, images)
    store.save(3, W1, _images(2, seed=1))
    assert store.has(2, W1) and torch.equal(store.load(2, W1), images)
    assert torch.equal(store.channel(2, W1, 1), images[1])
    assert store.channel(2, W1, 4) is None and store.channel(2, W1, -1) is None
    assert store.load(2, W2) is None  # other weights: not these pictures
    assert len(_files(tmp_path / "net")) == 2 and not any(n.endswith(".tmp") for n in _files(tmp_path / "net"))
    store.delete_all()
    assert not store.has(2, W1) and not store.has(3, W1) and store.load(3, W1) is None


def test_other_weights_are_stale_not_current(tmp_path):
    store = FeatVisStore(tmp_path)
    store.save(1, W1, _images())
    assert store.stale(1, W2) == [W1] and store.stale(1, W1) == [] and store.stale(0, W2) == []
    store.save(1, W2, _images(seed=3))
    assert store.stale(1, W2) == [W1]
    store.save(1, W2, _images(seed=4))  # saving again replaces, never piles up
    assert len(_files(tmp_path)) == 2 and torch.equal(store.load(1, W2), _images(seed=4))


def test_shape_mismatch_and_bad_arguments(tmp_path):
    store = FeatVisStore(tmp_path)
    store.save(0, W1, _images())
    assert store.load(0, W1, shape=(4, 3, 6, 5)) is not None
    assert store.load(0, W1, shape=(4, 3, 7, 5)) is None  # another input size: recomputed
    with pytest.raises(ValueError):
        store.save(0, W1, torch.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError):
        store.save(0, "../x", _images())


@pytest.mark.parametrize("damage", ["truncate-0", "truncate-40", "truncate-200", "flip"])
def test_corrupt_or_truncated_file_counts_as_missing(tmp_path, caplog, damage):
    store = FeatVisStore(tmp_path)
    for reader in (lambda: store.load(1, W1), lambda: store.channel(1, W1, 0)):
        store.save(1, W1, _images())
        (path,) = tmp_path.iterdir()
        data = bytearray(path.read_bytes())
        if damage == "flip":
            data[-7] ^= 0x10  # one bit of the pixels: the file still parses
        else:
            data = data[:int(damage.split("-")[1])]
        path.write_bytes(bytes(data))
        with caplog.at_level(logging.WARNING, logger="dvvr.featvis"):
            assert reader() is None
        assert not path.exists() and "unreadable" in caplog.text


def test_least_recently_used_go_first(tmp_path):
    size = len(_images().numpy().tobytes()) + 128  # the header
    store = FeatVisStore(tmp_path, limit_bytes=3 * size)
    for layer in range(3):
        store.save(layer, W1, _images(seed=layer))
        path = next(p for p in tmp_path.iterdir() if p.name.startswith(f"layer_{layer}-"))
        os.utime(path, ns=(layer * 10**9, layer * 10**9))  # saved at t = 0, 1, 2 s
    assert store.load(0, W1) is not None  # layer 0 is used now: the most recent
    store.save(3, W1, _images(seed=3))
    assert store.has(0, W1) and not store.has(1, W1) and store.has(2, W1) and store.has(3, W1)


def test_unwritable_folder_raises_oserror(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError):
        FeatVisStore(blocker / "featvis").save(0, W1, _images())


def test_concurrent_writers_and_readers(tmp_path):
    store = FeatVisStore(tmp_path)
    errors = []

    def work(seed):
        try:
            for i in range(20):
                store.save(i % 3, W1, _images(3, seed))
                loaded = store.load(i % 3, W1)
                assert loaded is not None and loaded.shape == (3, 3, 6, 5)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert [name.split("-")[0] for name in _files(tmp_path)] == ["layer_0", "layer_1", "layer_2"]


def test_weights_fingerprint_follows_values_not_objects():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    same = weights_fingerprint(model)
    assert weights_fingerprint(model) == same and len(same) == 16
    clone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    clone.load_state_dict(model.state_dict())
    assert weights_fingerprint(clone) == same
    with torch.no_grad():
        model[0].weight[0, 0, 0, 0] += 1e-3
    assert weights_fingerprint(model) != same
