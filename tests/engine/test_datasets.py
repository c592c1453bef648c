import io

import numpy as np
import pytest
import torch
from PIL import Image

from dvvr import Dataset, ImageFolder, NoiseGenerator
from dvvr_jupyter.errors import NotFound


def test_image_folder_sorted_classes_without_background(tmp_path):
    for name in ["b_class", "A_class", "BACKGROUND_Google"]:
        (tmp_path / name).mkdir()
        Image.new("RGB", (10, 8), "red").save(tmp_path / name / "x.png")
    (tmp_path / "notes.txt").write_text("not a class")
    data = ImageFolder(tmp_path)
    assert data.class_names == ["A_class", "b_class"] and len(data) == 2
    assert data.item(1)[1] == 1 and data.item(1)[0].size == (10, 8)


def test_image_folder_missing_path_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ImageFolder(tmp_path / "nowhere")


def test_page_samples_evenly_and_caches_its_pngs():
    items = [(torch.full((3, 4, 4), i / 100), i // 10) for i in range(100)]
    data = Dataset(items, class_names=[str(i) for i in range(10)])
    assert len(data) == 16 and data.indices[0] == 0 and data.indices[-1] == 99
    assert data.labels() == [i // 10 for i in data.indices]
    png = data.png(15)
    assert png is data.png(15) and Image.open(io.BytesIO(png)).size == (4, 4)
    with pytest.raises(NotFound, match="imageID 16"):
        data.item(16)


def test_dict_items_and_normalised_tensors_display():
    data = Dataset([{"data": torch.randn(3, 6, 5) * 3, "label": 1}], class_names=["a", "b"])
    image, label = data.item(0)
    assert label == 1 and image.size == (5, 6)
    assert np.asarray(image).min() == 0 and np.asarray(image).max() == 255


def test_noise_generator_new_image_each_time():
    noise = NoiseGenerator((12, 20), seed=1)
    first, second = noise.generate(), noise.generate()
    assert first.size == (20, 12) and noise.current is second
    assert not np.array_equal(np.asarray(first), np.asarray(second))
    with pytest.raises(ValueError, match="noise kind"):
        NoiseGenerator(kind="pink")
