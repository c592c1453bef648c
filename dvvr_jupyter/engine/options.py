"""The options of ``attach``, written once.

``dvvr.attach``, ``Session.attach`` and ``Network`` all take these; their
signatures are generated from this class so help() and tab completion show
every option with its default.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class AttachOptions:
    """How a model is shown.

    - ``name``: shown in the VR client; default: the model's class name, made unique.
      Attaching the same model (or a model under the same name) again replaces it
      under the same network id.
    - ``class_names``: labels of the output classes; default: the dataset's.
    - ``transform``: raw image -> network input (a ``Normalize`` inside it is
      found and undone to show inputs and feature visualizations as pictures).
    - ``input_size``: ``(H, W)``; default: the size of the transformed first
      dataset image.  Every input is resized to it, so layer sizes never change.
    - ``softmax``: ``None``/``True``: confidences in percent after softmax;
      ``False``: raw scores.
    - ``track``: ``None`` (the model's TrackerModules, else automatic), a list of
      module names (see ``dvvr.trackable_modules(model)``), a predicate
      ``(name, module) -> bool``, or ``"all"``.
    - ``device``: where the engine's private copy runs (default: the model's device).
    """

    name: str | None = None
    class_names: Sequence[str] | None = None
    transform: Callable | None = None
    input_size: tuple[int, int] | None = None
    softmax: bool | None = None
    track: Any = None
    device: Any = None

    def __post_init__(self):
        def wrong(name: str, what: str) -> TypeError:
            return TypeError(f"attach(): {name} must be {what}, got {getattr(self, name)!r}")

        if self.name is not None and not isinstance(self.name, str):
            raise wrong("name", "a string")
        if self.class_names is not None and (isinstance(self.class_names, (str, bytes))
                                             or not isinstance(self.class_names, Iterable)):
            raise wrong("class_names", "a list of strings")
        if self.transform is not None and not callable(self.transform):
            raise wrong("transform", "a callable (raw image -> tensor)")
        if self.softmax is not None and not isinstance(self.softmax, bool):
            raise wrong("softmax", "None, True or False")
        size = self.input_size
        if size is not None and not (isinstance(size, (tuple, list)) and len(size) == 2
                                     and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in size)):
            raise wrong("input_size", "(height, width), two positive ints")

    @classmethod
    def from_keywords(cls, options: dict) -> AttachOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            msg = f"attach() got unknown option(s) {unknown}; the options are {sorted(known)}"
            raise TypeError(msg)
        return cls(**options)


def with_attach_signature(function: Callable) -> Callable:
    """Give ``function(model, dataset=None, **options)`` a signature listing
    every option (for help() and tab completion) and the options' docs."""
    options = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default)
               for f in fields(AttachOptions)]
    own = list(inspect.signature(function).parameters.values())
    positional = [p for p in own if p.kind is not inspect.Parameter.VAR_KEYWORD]
    function.__signature__ = inspect.Signature([*positional, *options])
    function.__doc__ = f"{function.__doc__ or ''}\n\n{AttachOptions.__doc__}"
    return function
