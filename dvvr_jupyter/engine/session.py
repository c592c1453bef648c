"""A session: the networks, datasets and noise generators one server shows.

Ids on the wire are indexes into these lists.  Attaching the same model (or
a model under the same name) again replaces it in place, so re-running a
notebook cell keeps the ids the VR client already knows.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from PIL import Image

from ..errors import BadRequest, NotFound
from .datasets import Dataset, as_dataset
from .network import Network
from .noise import NoiseGenerator

MODES = {0: "Unknown", 1: "DatasetImage", 2: "Activation", 3: "FeatureVisualization", 4: "NoiseImage"}


def default_cache_dir() -> Path:
    root = os.environ.get("DVVR_CACHE_DIR")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dvvr"


def _pick(items: list, index: int, what: str, field: str):
    if isinstance(index, bool) or not isinstance(index, int):
        raise BadRequest(f"{field} must be an integer, got {index!r}", field=field)
    if not 0 <= index < len(items):
        hint = f"0..{len(items) - 1}" if items else "none exist"
        raise NotFound(f"{what} {index} does not exist ({len(items)} {what}s: {hint})", field=field)
    return items[index]


class Session:
    def __init__(self, cache_dir: Path | str | None = None, workers: int | None = None):
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.networks: list[Network] = []
        self.datasets: list[Dataset] = []
        self.noise_generators: list[NoiseGenerator] = []
        self._lock = threading.RLock()
        self.pool = ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 2) + 2),
                                       thread_name_prefix="dvvr-encode")

    # --- registration --------------------------------------------------------
    def add_dataset(self, dataset, class_names=None) -> Dataset:
        with self._lock:
            for known in self.datasets:
                if known is dataset or getattr(known, "data", None) is dataset:
                    return known
            wrapped = as_dataset(dataset, class_names)
            self.datasets.append(wrapped)
            return wrapped

    def add_noise_generator(self, generator: NoiseGenerator | None = None) -> NoiseGenerator:
        generator = generator if generator is not None else NoiseGenerator()
        if not isinstance(generator, NoiseGenerator):
            raise TypeError(f"expected a dvvr.NoiseGenerator, got {type(generator).__name__}")
        with self._lock:
            if generator not in self.noise_generators:
                self.noise_generators.append(generator)
        return generator

    def attach(self, model, dataset=None, *, name=None, class_names=None, transform=None, input_size=None,
               softmax=None, track=None, device=None, adopt: bool = False) -> Network:
        """Register ``model``; see ``dvvr.attach``.  ``adopt=True`` (``dvvr
        serve``) lets the engine use the model object itself instead of a
        private copy: only for models nobody else holds or trains."""
        # The network's class names label the dataset only if it has none of its own.
        own_classes = getattr(dataset, "classes", None) is not None or isinstance(dataset, Dataset)
        wrapped = self.add_dataset(dataset, None if own_classes else class_names) if dataset is not None else None
        with self._lock:
            # Re-running a cell (the same model, or the same explicit name) replaces the
            # network in place; another model of the same class is a new one.
            same = next((i for i, known in enumerate(self.networks)
                         if known.model is model or (name is not None and known.name == name)), None)
            if name is None:  # the name it had, or the class name made unique
                name = self.networks[same].name if same is not None else self._free_name(type(model).__name__)
        network = Network(model, name=name, dataset=wrapped, class_names=class_names, transform=transform,
                          input_size=input_size, softmax=softmax, track=track, device=device, pool=self.pool,
                          cache_dir=self.cache_dir, adopt=adopt)
        with self._lock:
            if not self.noise_generators:
                self.noise_generators.append(NoiseGenerator(network.input_size))
            if same is not None and same < len(self.networks):
                self.networks[same].featvis.close()
                network.network_id = same
                self.networks[same] = network
                return network
            network.network_id = len(self.networks)
            self.networks.append(network)
        return network

    def _free_name(self, base: str) -> str:
        taken = {known.name for known in self.networks}
        name, counter = base, 2
        while name in taken:
            name, counter = f"{base} ({counter})", counter + 1
        return name

    def detach(self, network: Network) -> None:
        with self._lock:
            self.networks.remove(network)
            for index, known in enumerate(self.networks):
                known.network_id = index
        network.featvis.close()

    # --- lookups -------------------------------------------------------------
    def network(self, index: int, field: str = "networkid") -> Network:
        return _pick(self.networks, index, "network", field)

    def dataset(self, index: int) -> Dataset:
        return _pick(self.datasets, index, "dataset", "datasetID")

    def noise_generator(self, index: int) -> NoiseGenerator:
        return _pick(self.noise_generators, index, "noise generator", "noiseGeneratorID")

    def counts(self) -> dict:
        return {"nnetworks": len(self.networks), "ndatasets": len(self.datasets),
                "nnoiseGenerators": len(self.noise_generators)}

    # --- choosing an input ---------------------------------------------------
    def input_for(self, network: Network, choice: dict) -> torch.Tensor:
        """The network input an ``ActivationImage`` (validated dict) asks for."""
        mode = choice["mode"]
        if mode == 1:
            raw, _ = self.dataset(choice["datasetID"]).item(choice["imageID"])
            return network.pipeline(raw)
        if mode == 3:
            source = self.network(choice["networkID"], field="networkID")
            image = source.featvis.stored_channel(choice["layerID"], choice["channelID"])
            return network.pipeline.from_pixels(network.pipeline.fit(image.float() / 255))
        if mode == 4:
            image: Image.Image = self.noise_generator(choice["noiseGeneratorID"]).current
            return network.pipeline(image)
        if mode == 2:
            raise BadRequest("mode 2 (Activation) cannot be an input: choose a dataset image (1), "
                             "a feature visualization (3) or noise (4)", field="mode")
        if mode == 0:
            return network._zero_input()
        raise BadRequest(f"mode must be one of {sorted(MODES)}, got {mode}", field="mode")

    def prepare_for_input(self, network_id: int, choice: dict):
        network = self.network(network_id)
        return network.compute(self.input_for(network, choice), dict(choice))

    def close(self) -> None:
        for network in self.networks:
            network.featvis.close()
        self.pool.shutdown(wait=False, cancel_futures=True)


_default: Session | None = None
_default_lock = threading.Lock()


def default_session() -> Session:
    """The process-wide session that ``dvvr.attach`` and ``dvvr.serve`` use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Session()
        return _default

