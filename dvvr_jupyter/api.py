"""The public functions behind ``import dvvr``, on the default session."""

from __future__ import annotations

from .engine.session import default_session


def attach(model, dataset=None, *, name=None, class_names=None, transform=None, input_size=None, softmax=None,
           track=None, device=None):
    """Show ``model`` in the VR client; returns its ``Network`` handle.

    ``dataset``: a torch Dataset / sequence of ``(image, label)`` or
    ``{"data", "label"}``, a ``dvvr.Dataset`` or a folder of class folders.
    ``transform`` turns a raw dataset image into the network input (a
    ``Normalize`` inside it is undone to show feature visualizations);
    ``track``: module names, a predicate ``(name, module) -> bool`` or
    ``"all"``; default: the model's TrackerModules, else chosen automatically.
    The model itself is never modified: the engine works on a private copy
    that follows its weights.
    """
    return default_session().attach(model, dataset, name=name, class_names=class_names, transform=transform,
                                    input_size=input_size, softmax=softmax, track=track, device=device)


def load_project(path):
    """Attach everything the project at ``path`` defines; returns its networks."""
    from .engine.project import load_project as load

    return load(path, default_session())


def serve(host: str = "127.0.0.1", port: int = 5570, *, token: str | None = None):
    """Serve the default session on a background thread; returns the running
    ``Server`` (``.url`` for the VR client, ``.stop()``)."""
    from .protocol.server import Server

    return Server(default_session(), host, port, token=token).start()


def refresh():
    """Recompute every network's current input with its current weights."""
    return [network.refresh() for network in default_session().networks]


def watch(every_n_steps: int = 10, networks=None):
    """Keep the VR view following a training loop: call ``.step()`` on the
    returned watcher after each optimizer step; every ``every_n_steps`` the
    attached networks (or ``networks``) are recomputed with the new weights,
    in the background."""
    from .engine.watch import Watcher

    session = default_session()
    return Watcher(session.networks if networks is None else networks, every_n_steps, session.pool)


def detach(network) -> None:
    """Stop showing ``network`` (the handle ``attach`` returned); the ids of
    later networks move down by one."""
    default_session().detach(network)


def networks():
    return list(default_session().networks)
