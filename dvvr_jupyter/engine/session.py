"""A session: the networks, datasets and noise generators one server shows,
and the events that happen to them.

Ids on the wire are indexes into these lists.  Attaching the same model (or
a model under the same name) again replaces it in place, so re-running a
notebook cell keeps the ids the VR client already knows.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from ..errors import BadRequest, NotFound
from .datasets import Dataset, as_dataset
from .events import ATTACHED, DETACHED, REPLACED, EventHub, NetworksChanged
from .network import Network
from .noise import NoiseGenerator
from .options import AttachOptions, with_attach_signature
from .paths import default_cache_dir
from .result_cache import DEFAULT_BUDGET_MB, ResultCache
from .shown import ShownListeners


def _pick(items: list, index: int, what: str, field: str):
    if isinstance(index, bool) or not isinstance(index, int):
        raise BadRequest(f"{field} must be an integer, got {index!r}", field=field)
    if not 0 <= index < len(items):
        hint = f"0..{len(items) - 1}" if items else "none exist"
        raise NotFound(f"{what} {index} does not exist ({len(items)} {what}s: {hint})", field=field)
    return items[index]


class Session:
    """What one server shows.  ``events.subscribe(listener)`` follows it
    (inputs, results, networks, feature-visualization progress)."""

    def __init__(self, cache_dir: Path | str | None = None, workers: int | None = None,
                 result_cache_mb: float = DEFAULT_BUDGET_MB):
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        #: results shared by views showing the same input with the same weights
        self.results = ResultCache(result_cache_mb, shown=self._shown)
        self.networks: list[Network] = []
        self.datasets: list[Dataset] = []
        self.noise_generators: list[NoiseGenerator] = []
        #: project file -> (datasets, noise generators) it added when last loaded (a reload replaces them)
        self.projects: dict[Path, tuple[list, list]] = {}
        self.events = EventHub()
        #: told each view's new result before it can be read (``shown``; the kernel's answer-store state)
        self.shown = ShownListeners()
        self._lock = threading.RLock()
        self.pool = ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 2) + 2),
                                       thread_name_prefix="dvvr-encode")

    # --- registration --------------------------------------------------------
    def add_dataset(self, dataset, class_names=None, *, replacing: Dataset | None = None) -> Dataset:
        """Show ``dataset`` (once, however often it is added); a new one takes
        the place (and id) of ``replacing`` if that is shown (a cell run again)."""
        with self._lock:
            for known in self.datasets:
                if known is dataset or getattr(known, "data", None) is dataset:
                    return known
            wrapped = as_dataset(dataset, class_names)
            _put(self.datasets, wrapped, replacing)
            return wrapped

    def add_noise_generator(self, generator: NoiseGenerator | None = None, *,
                            replacing: NoiseGenerator | None = None) -> NoiseGenerator:
        generator = generator if generator is not None else NoiseGenerator()
        if not isinstance(generator, NoiseGenerator):
            raise TypeError(f"expected a dvvr.NoiseGenerator, got {type(generator).__name__}")
        with self._lock:
            if not any(known is generator for known in self.noise_generators):
                _put(self.noise_generators, generator, replacing)
        return generator

    def attach(self, model, dataset=None, *, adopt: bool = False, **options) -> Network:
        """Show ``model`` (see ``dvvr.attach``).  ``adopt=True`` (``dvvr
        serve``) lets the engine use the model object itself instead of a
        private copy: only for models nobody else holds or trains."""
        options = AttachOptions.from_keywords(options)
        with self._lock:
            # Re-running a cell (the same model, or the same explicit name) replaces the
            # network in place; another model of the same class is a new one.
            same = next((i for i, known in enumerate(self.networks)
                         if known.model is model or (options.name is not None and known.name == options.name)), None)
            if options.name is None:  # the name it had, or the class name made unique
                name = self.networks[same].name if same is not None else self._free_name(type(model).__name__)
                options = replace(options, name=name)
            # ... and its dataset, unless another network shows it too
            old = self.networks[same].dataset if same is not None else None
            if old is not None and any(n.dataset is old for i, n in enumerate(self.networks) if i != same):
                old = None
        # The network's class names label the dataset only if it has none of its own.
        own_classes = getattr(dataset, "classes", None) is not None or isinstance(dataset, Dataset)
        wrapped = None
        if dataset is not None:
            wrapped = self.add_dataset(dataset, None if own_classes else options.class_names, replacing=old)
        network = Network(model, wrapped, options, pool=self.pool, events=self.events, cache_dir=self.cache_dir,
                          cache=self.results, adopt=adopt, shown=self.shown)
        with self._lock:
            if not self.noise_generators:
                self.noise_generators.append(NoiseGenerator(network.input_size))
            if same is not None and same < len(self.networks):
                replaced = self.networks[same]
                network.id = same
                replaced.mute_views()
                self.shown.forget([same])  # before the new network answers under the id
                self.networks[same] = network
                change = REPLACED
            else:
                replaced = None
                network.id = len(self.networks)
                self.networks.append(network)
                change = ATTACHED
        if replaced is not None:
            replaced.close()
        self.events.emit(NetworksChanged(network, change))
        network.featvis.warm_up()  # on an accelerator: its kernels load in the background, not on the first job
        return network

    def _shown(self, result) -> bool:
        return any(result is current for network in list(self.networks) for current in network._views.results())

    def _free_name(self, base: str) -> str:
        taken = {known.name for known in self.networks}
        name, counter = base, 2
        while name in taken:
            name, counter = f"{base} ({counter})", counter + 1
        return name

    def detach(self, network: Network) -> None:
        """Stop showing ``network``; the ids of later networks move down by one."""
        with self._lock:
            if network not in self.networks:
                msg = f"{network!r} is not attached to this session"
                raise ValueError(msg)
            moved = list(range(self.networks.index(network), len(self.networks)))
            network.mute_views()
            self.shown.forget(moved)  # before later networks answer under lower ids
            self.networks.remove(network)
            for index, known in enumerate(self.networks):
                known.id = index
            self.shown.forget(moved)  # what they showed meanwhile, under their old ids
            for known in self.networks[moved[0]:]:
                known.announce_views()  # under their new ids
        network.close()
        self.events.emit(NetworksChanged(network, DETACHED))

    # --- lookups -------------------------------------------------------------
    def network(self, index: int, field: str = "networkid") -> Network:
        return _pick(self.networks, index, "network", field)

    def dataset(self, index: int, field: str = "datasetID") -> Dataset:
        return _pick(self.datasets, index, "dataset", field)

    def noise_generator(self, index: int, field: str = "noiseGeneratorID") -> NoiseGenerator:
        return _pick(self.noise_generators, index, "noise generator", field)

    def close(self) -> None:
        for network in self.networks:
            network.close()
        self.events.close()
        self.pool.shutdown(wait=False, cancel_futures=True)


def _put(items: list, item, replacing) -> None:
    """Append ``item``, or put it where ``replacing`` is (same id for the client)."""
    index = next((i for i, known in enumerate(items) if known is replacing), None) if replacing is not None else None
    if index is None:
        items.append(item)
    else:
        items[index] = item


with_attach_signature(Session.attach)

_default: Session | None = None
_default_lock = threading.Lock()


def default_session() -> Session:
    """The process-wide session that ``dvvr.attach`` and ``dvvr.serve`` use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Session()
        return _default
