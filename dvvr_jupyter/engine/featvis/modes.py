"""The VR client's two feature-visualization modes.

``load`` (the default) answers the stored pictures of the current weights
where they exist and computes the rest; ``generate`` always computes afresh.
The client switches with ``setnetworkloadfeatvis`` / ``setnetworkgenfeatvis``.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future

log = logging.getLogger("dvvr.featvis")

GENERATE, LOAD = "generate", "load"
MODES = (GENERATE, LOAD)


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"feature visualization mode must be {GENERATE!r} or {LOAD!r}")
    return mode


def images_for_mode(featvis, layer, mode: str, *, stored: bool = True) -> Future:
    """A future of ``layer``'s images (uint8 [C, 3, H, W]) as ``mode`` asks
    (``featvis``: the network's ``FeatVisService``); computed ones once they
    are stored, or (``stored=False``) as soon as they exist."""
    if mode == LOAD:
        kept = featvis.stored(layer)
        if kept is not None:
            done: Future = Future()
            done.set_result(kept)
            return done
        stale = featvis.results.stale(layer.id, featvis.current_weights())
        if stale:
            log.info("network %r layer %d: the stored feature visualizations are of other weights (%d "
                     "version(s)); computing them for the current weights", featvis.network.name, layer.id,
                     len(stale))
    job = featvis.start(layer)
    return job.future if stored else job.pictures
