"""The method of feature visualization: for each channel of a layer, an input
maximising it.

The render loop.  Each batch of channels starts from the current input (one
copy per channel) in a parameterisation (``parameterisations``).  Each step the
picture is first smoothed in place (blur, a pull towards the standardised
image, a random roll: the seed's regularisers, batched on the device), then
moves up the gradient of the mean activation of its own channel by a step of
fixed length (the seed's normalised rule, as a root-mean-square change per
input value; decaying over the run).  The last steps
skip the smoothing, so the picture ends on the objective.  The forward pass
stops at the target layer.  Batches may be spread over several devices, one
thread each.  The model is the engine's copy: it is only read, no gradient
is ever written to it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..maps import channel_objective
from .config import CPU_BATCH, DEFAULT_LR, GPU_BATCH, FeatVisConfig
from .fold import fold_batchnorm
from .parameterisations import gaussian_kernel, make_image
from .redirect import install as install_redirect
from .redirect import redirecting
from .transforms import random_affine

log = logging.getLogger("dvvr.featvis")
_DEFAULTS = FeatVisConfig()  # frozen: one shared default is safe


class FeatVisCancelled(Exception):
    """``should_stop()`` answered True: the visualization was abandoned."""


def is_channels_last(model: nn.Module) -> bool:
    """Whether the model's convolution weights are stored channels-last."""
    weight = next((p for p in model.parameters() if p.dim() == 4), None)
    return weight is not None and weight.is_contiguous(memory_format=torch.channels_last) and not \
        weight.is_contiguous()


def prepare_model(model: nn.Module, device, channels_last: bool, capture=None,
                  probe: torch.Tensor | None = None) -> nn.Module:
    """``model`` (a copy the caller owns) on ``device``; with ``capture`` and
    ``probe`` (a network input [1, C, H, W]) its BatchNorms folded into their
    convolutions where that computes the same values (``fold``);
    channels-last if asked (measured 20-25 % faster convolutions on a CPU too:
    benchmarks/README.md); its ReLUs able to redirect gradients (``redirect_steps``)."""
    model = model.to(device)
    if capture is not None and probe is not None:
        model = fold_batchnorm(model, capture, probe.to(device))
    model = install_redirect(model)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def _pixel_stats(value, default, n: int, device) -> torch.Tensor:
    value = default if value is None else value
    tensor = torch.as_tensor(value, dtype=torch.float32, device=device).flatten()
    if tensor.numel() == 1:
        tensor = tensor.expand(n)
    if tensor.numel() != n:
        msg = f"expected {n} per-channel values, got {tensor.numel()}"
        raise ValueError(msg)
    return tensor.view(1, n, 1, 1)


def _model_dtype(model: nn.Module) -> torch.dtype:
    param = next(model.parameters(), None)
    return param.dtype if param is not None and param.is_floating_point() else torch.float32


def channel_means(act: torch.Tensor) -> torch.Tensor:
    """[N, C, ...] -> [N, C]: the mean over everything after the channel axis."""
    if act.dim() < 2:
        msg = f"cannot visualize a layer whose activation has shape {tuple(act.shape)}"
        raise ValueError(msg)
    return act.flatten(2).mean(2) if act.dim() > 2 else act


def target_values(capture, model, x, layer_index: int) -> torch.Tensor:
    """[N, C] channel means of layer ``layer_index`` (an attention head's
    peak: ``maps.channel_objective``); the pass stops there."""
    _, activations = capture.run(model, x, stop_at=layer_index, keep_graph=True)
    act = activations[layer_index]
    if act is None:
        msg = f"layer {layer_index} recorded no activation; it cannot be visualized"
        raise ValueError(msg)
    return channel_objective(capture.layers[layer_index].view, act)


@dataclass
class _Run:
    """What every batch of one ``visualize`` call shares."""

    capture: object
    layer_index: int
    start: torch.Tensor  # [C, H, W] pixels on the CPU
    mean: object
    std: object
    config: FeatVisConfig
    should_stop: Callable[[], bool] | None
    on_step: Callable[[int], None] | None


class _Device:
    """One device's model copy and the per-device constants of a run."""

    def __init__(self, model: nn.Module, run: _Run):
        self.model = model
        param = next(model.parameters(), None)
        self.device = param.device if param is not None else run.start.device
        self.dtype = _model_dtype(model)
        c = run.start.shape[0]
        self.mean = _pixel_stats(run.mean, 0.0, c, self.device)
        self.std = _pixel_stats(run.std, 1.0, c, self.device)
        cuda = self.device.type == "cuda"
        # inputs follow the model's memory format (the service converts its copies when
        # ``channels_last`` is on; this function never changes the model it is given)
        self.channels_last = run.config.channels_last and is_channels_last(model)
        self.autocast = cuda and run.config.autocast

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Network inputs in the model's dtype and memory format."""
        x = x.to(self.dtype)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def from_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.prepare((pixels - self.mean) / self.std)

    def amp(self):
        if self.autocast:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()


def _optimise_batch(dev: _Device, run: _Run, targets: Sequence[int], seed: int) -> torch.Tensor:
    """Gradient ascent for one batch: image b maximises channel ``targets[b]``.
    Returns pixels [len(targets), C, H, W] in [0, 1] on the device."""
    cfg = run.config
    n = len(targets)
    gen = torch.Generator().manual_seed(seed)  # per batch: results do not depend on the device split
    lr = cfg.lr if cfg.lr is not None else DEFAULT_LR[cfg.param]
    image = make_image(cfg.param, run.start.to(dev.device), n, dev.mean, dev.std)
    kernel = gaussian_kernel(cfg.blur)
    params = image.parameters()
    rows = torch.arange(n, device=dev.device)
    index = torch.as_tensor(list(targets), device=dev.device)
    redirect = False  # on only while some picture has no gradient at all: it costs Python-level ReLUs
    for step in range(cfg.steps):
        if run.should_stop is not None and run.should_stop():
            msg = f"feature visualization of layer {run.layer_index} was cancelled"
            raise FeatVisCancelled(msg)
        smoothed = step < cfg.steps - cfg.plain_last
        shift = (0, 0)
        if smoothed and cfg.jitter > 0:
            shift = tuple(torch.randint(-cfg.jitter, cfg.jitter + 1, (2,), generator=gen).tolist())
        if smoothed:
            image.smooth(kernel, cfg.blend, shift)
        x = image.inputs()
        if smoothed:
            x = random_affine(x, jitter=0, rotate=cfg.rotate, scale=cfg.scale, p_warp=cfg.p_warp, gen=gen)
        with dev.amp(), redirecting(redirect and step < cfg.redirect_steps):
            values = target_values(run.capture, dev.model, dev.prepare(x), run.layer_index)
        objective = values[rows, index].float().sum()  # a sum: each image's gradient is its own
        # autograd.grad, not backward(): nothing but the image's parameters may ever receive a .grad;
        # the gradient of a loss (-objective), which redirected ReLUs expect
        grads = torch.autograd.grad(-objective, params)
        if step + 1 < cfg.redirect_steps:
            redirect = bool((grads[0].flatten(1).abs().amax(1) == 0).any())
        image.step(list(grads), lr * (1 - (1 - cfg.lr_end) * step / max(1, cfg.steps - 1)))
        if run.on_step is not None:
            run.on_step(n)
    return image.pixels().clamp(0, 1)


def _check_channels(dev: _Device, run: _Run, channels: Sequence[int]) -> None:
    with torch.no_grad(), dev.amp():
        values = target_values(run.capture, dev.model, dev.from_pixels(run.start.to(dev.device).unsqueeze(0)),
                               run.layer_index)
    bad = [c for c in channels if not 0 <= c < values.shape[1]]
    if bad:
        msg = f"layer {run.layer_index} has {values.shape[1]} channels; cannot visualize channel(s) {bad[:5]}"
        raise IndexError(msg)


class _Spans:
    """The channels still to do, as ``[first, last)`` offsets, shared by the device threads."""

    def __init__(self, total: int):
        self._lock = threading.Lock()
        self._spans = [(0, total)]
        self._done = 0

    def take(self, size: int) -> tuple[int, int] | None:
        with self._lock:
            if not self._spans:
                return None
            first, last = self._spans.pop(0)
            if last - first > size:
                self._spans.insert(0, (first + size, last))
                last = first + size
            return first, last

    def give_back(self, first: int, last: int) -> None:
        with self._lock:
            self._spans.insert(0, (first, last))

    def finished(self, count: int) -> int:
        with self._lock:
            self._done += count
            return self._done


def _is_oom(error: BaseException) -> bool:
    return isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in str(error)


def _first_batch(dev: _Device, cfg: FeatVisConfig, remaining: int) -> int:
    if cfg.batch_size:
        return max(1, cfg.batch_size)
    return min(remaining, GPU_BATCH if dev.device.type == "cuda" else CPU_BATCH)


def visualize(model: nn.Module | Sequence[nn.Module], capture, layer_index: int, start: torch.Tensor,
              channels: Sequence[int], *, mean, std, config: FeatVisConfig = _DEFAULTS,
              progress: Callable[[int, int], None] | None = None,
              should_stop: Callable[[], bool] | None = None,
              on_step: Callable[[int], None] | None = None,
              on_batch: Callable[[torch.Tensor, int, int], None] | None = None) -> torch.Tensor:
    """One image per channel of layer ``layer_index``: uint8 [len(channels), 3, H, W] on the CPU.

    ``model`` is one model, or one copy per device (batches of channels are
    then spread over them, a thread each).  ``start`` is the current input in
    pixel space ([C, H, W] in [0, 1]); ``mean``/``std`` map pixels to network
    inputs (``None``: identity).  ``progress(done, total)`` follows finished
    channels, ``on_step(n)`` each step of a batch of ``n``, ``on_batch(out,
    first, last)`` each finished batch (``out[first:last]`` is final).  Raises
    ``FeatVisCancelled`` once ``should_stop()`` is true, ``IndexError`` for a
    channel the layer does not have.
    """
    channels = [int(c) for c in channels]
    models = [model] if isinstance(model, nn.Module) else list(model)
    start = start.detach().float().cpu()
    out = torch.empty((len(channels), *start.shape), dtype=torch.uint8)
    if not channels:
        return out
    stop = threading.Event()
    run = _Run(capture, layer_index, start, mean, std, config,
               lambda: stop.is_set() or (should_stop is not None and should_stop()), on_step)
    devices = [_Device(m, run) for m in models]
    began = time.monotonic()
    with torch.enable_grad():
        _check_channels(devices[0], run, channels)
        work = _Spans(len(channels))
        errors: list[BaseException] = []
        per_device = -(-len(channels) // len(devices))

        def worker(dev: _Device) -> None:
            size = _first_batch(dev, config, per_device)
            try:
                while not stop.is_set():
                    span = work.take(size)
                    if span is None:
                        return
                    first, last = span
                    try:
                        images = _optimise_batch(dev, run, channels[first:last], config.seed + first)
                    except RuntimeError as error:
                        if config.batch_size or size == 1 or not _is_oom(error):
                            raise
                        # as many channels as memory allows: halve and put the span back
                        work.give_back(first, last)
                        size //= 2
                        torch.cuda.empty_cache()
                        log.info("layer %d: out of memory on %s; %d channels per batch now", layer_index,
                                 dev.device, size)
                        continue
                    out[first:last] = (images * 255).round().to(torch.uint8).cpu()
                    del images
                    done = work.finished(last - first)
                    if on_batch is not None:
                        on_batch(out, first, last)
                    log.debug("layer %d: %d/%d channels, %.1f s", layer_index, done, len(channels),
                             time.monotonic() - began)
                    if progress is not None:
                        progress(done, len(channels))
            except BaseException as error:  # noqa: BLE001 - raised in the calling thread below
                errors.append(error)
                stop.set()

        if len(devices) == 1:
            worker(devices[0])
        else:
            threads = [threading.Thread(target=worker, args=(dev,), name=f"dvvr-featvis-{dev.device}", daemon=True)
                       for dev in devices]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    if errors:
        # a device's own failure, not the cancellation it caused on the others
        failures = [e for e in errors if not isinstance(e, FeatVisCancelled)]
        raise (failures or errors)[0]
    return out

