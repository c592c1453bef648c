"""projects/caltech101: the seed's network, answering as the original did."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import FIXTURES, REPO

FIXTURE = FIXTURES / "network_architecture_resource.json"


@pytest.fixture(scope="module")
def caltech_dir(tmp_path_factory):
    """A generated Caltech-101 layout: 101 class folders (+ BACKGROUND_Google)."""
    class_names = json.loads(FIXTURE.read_text())["class_names"]
    root = tmp_path_factory.mktemp("caltech") / "101_ObjectCategories"
    rng = np.random.default_rng(0)
    for name in [*class_names, "BACKGROUND_Google"]:
        (root / name).mkdir(parents=True)
        pixels = (rng.random((60 + len(name), 80, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(root / name / "image_0001.jpg")
    return root


def test_architecture_equals_the_original_servers(caltech_dir, session, monkeypatch, serve, client_for):
    from dvvr_jupyter.engine.project import load_project

    monkeypatch.setenv("CALTECH101_DIR", str(caltech_dir))
    load_project(REPO / "projects" / "caltech101", session)
    client = client_for(serve(session).url)
    state = client.start_up()
    answer = client.get("network/0")
    expected = json.loads(FIXTURE.read_text())
    assert answer["architecture"] == expected["architecture"]
    assert answer["class_names"] == expected["class_names"]
    assert answer["layer_id_to_output_index"] == expected["layer_id_to_output_index"]
    assert state["datasets"][0]["class_names"] == expected["class_names"]
    assert state["datasets"][0]["len"] == 16
    stats = client.switch(0, state["networks"][0], {"mode": 1, "imageID": 5})
    probabilities = stats.answers[("act", 31)]
    assert len(probabilities["tensors"]) == 101


def test_missing_folder_names_the_variable_and_path(tmp_path):
    env = {**os.environ, "CALTECH101_DIR": str(tmp_path / "nowhere"), "DVVR_CACHE_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "dvvr_jupyter.cli", "serve", str(REPO / "projects" / "caltech101"),
                           "--port", "0"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "CALTECH101_DIR" in proc.stderr and "nowhere" in proc.stderr


def test_dataset_answer_has_the_fixture_shape(caltech_dir, session, monkeypatch):
    from dvvr_jupyter.engine.project import load_project

    monkeypatch.setenv("CALTECH101_DIR", str(caltech_dir))
    load_project(REPO / "projects" / "caltech101", session)
    from dvvr_jupyter.protocol import wire

    page = json.loads(wire.dataset_page(session.datasets[0]))
    fixture = json.loads((FIXTURES / "data_images_resource.json").read_text())
    assert page.keys() == fixture.keys()
    assert [type(page[k]) for k in page] == [type(fixture[k]) for k in page]
    assert page["class_names"] == fixture["class_names"]
    names = page["class_names"]
    assert "BACKGROUND_Google" not in names


def test_weights_from_caltech101_weights(caltech_dir, session, monkeypatch, tmp_path):
    import torch

    import dvvr
    from dvvr_jupyter.engine.project import load_project

    resnet = dvvr.import_file(REPO / "projects" / "caltech101" / "resnet.py")
    trained = resnet.ResNet(blocks=(2, 1, 1, 1), n_classes=101)
    torch.save(trained.state_dict(), tmp_path / "weights.pt")
    monkeypatch.setenv("CALTECH101_DIR", str(caltech_dir))
    monkeypatch.setenv("CALTECH101_WEIGHTS", str(tmp_path / "weights.pt"))
    (network,) = load_project(REPO / "projects" / "caltech101", session)
    for key, value in trained.state_dict().items():
        assert torch.equal(network.model.state_dict()[key], value), key
    monkeypatch.setenv("CALTECH101_WEIGHTS", str(tmp_path / "missing.pt"))
    with pytest.raises(FileNotFoundError, match="CALTECH101_WEIGHTS"):
        load_project(REPO / "projects" / "caltech101", session)
