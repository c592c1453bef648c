"""The explorer widget (an anywidget: ES modules linked by ``module_linker``,
binary buffers, no build step).

Two directions, two channels:

- kernel -> browser: the widget's comm.  The session's events (an input
  chosen in the headset, a new result, a re-track, feature-visualization
  progress) are pushed from the event dispatch thread as they happen; iopub
  is not held up by a running cell, and the kernel runs no polling loop.
- browser -> kernel: HTTP through the Jupyter server's authenticated route
  to the kernel's own server thread (``serverext/explorer.py``), which does
  not wait for the shell: clicks work while a training cell runs.  Where no
  Jupyter server extension answers (a plain kernel, VS Code) the browser
  sends the same requests as comm messages instead.

Layer selection and paging live in the browser (each view its own); what
the headset sees (the input) is the engine's shared view.
"""

from __future__ import annotations

from pathlib import Path

import anywidget
import traitlets

from ..engine.events import FeatVisProgress, InputChanged, NetworksChanged, ResultReady
from ..explore.requests import ExplorerRequests, job_json
from .module_linker import link

#: The browser side: ES modules that import each other (``explorer.js`` is the entry).
STATIC = Path(__file__).parent / "static"


class Explorer(anywidget.AnyWidget):
    """The explorer of one network (``dvvr.explorer()``)."""

    _esm = link(STATIC, "explorer.js")
    _css = (STATIC / "explorer.css").read_text(encoding="utf-8")

    kernel_id = traitlets.Unicode("").tag(sync=True)
    network_id = traitlets.Int(0).tag(sync=True)
    #: ``raw`` (uint8 pixels) or ``png`` (one PNG per page): how channel pages travel
    grid_format = traitlets.Unicode("raw").tag(sync=True)
    #: the state when displayed: the first paint needs no request
    initial = traitlets.Dict().tag(sync=True)

    def __init__(self, network=None, *, session=None, **kwargs):
        if session is None:
            from ..engine.session import default_session

            session = default_session()
        if network is not None and network not in session.networks:
            msg = f"{network!r} is not attached to this session (pass session=, or dvvr.attach it)"
            raise ValueError(msg)
        if network is None:
            if not session.networks:
                msg = "no network is attached yet: dvvr.attach(model, dataset) first, then dvvr.explorer()"
                raise ValueError(msg)
            network = session.networks[0]
        self.session = session
        service = _kernel_service()
        # the kernel's dispatcher where it serves this session (one for its HTTP route and every widget)
        self.requests = service.explorer if service is not None and service.session is session else \
            ExplorerRequests(session)
        if service is not None and service.session is session:
            service.explorer_shown = True  # the %load_ext panel leaves the URLs and QR codes to this one
        super().__init__(kernel_id=service.kernel_id if service else "", network_id=network.id,
                         initial=self.requests.state(network), **kwargs)
        self.on_msg(self._on_request)
        self._subscription = session.events.subscribe(self._on_event, InputChanged, ResultReady, NetworksChanged,
                                                      FeatVisProgress)
        self.requests.notices.append(self._notice)

    @property
    def network(self):
        return self.session.network(self.network_id)

    def __repr__(self) -> str:
        """The text a saved notebook shows where the widget cannot run
        (GitHub, nbviewer, a plain-text viewer): what it showed, in words."""
        try:
            state = self.initial
            layers = sum(1 for layer in state["layers"] if layer["kind"] != "info")
            top = ", ".join(f"{name} {value:g}{state['result'].get('top_unit', '')}"
                            for name, value in state["result"]["top"][:3])
            return (f"dvvr explorer of network {state['network']} ({state['name']}): {layers} layers with channels, "
                    f"input {state['input']['describe']}" + (f"; top classes: {top}" if top else "") +
                    " (run the notebook to explore it)")
        except (KeyError, TypeError, AttributeError):
            return "dvvr explorer (run the notebook to explore it)"

    # --- kernel -> browser ----------------------------------------------------------
    def _on_event(self, event) -> None:
        """On the session's dispatch thread: push what changed (never the
        headsets' own views, only the shared one)."""
        if getattr(event, "view", None) is not None:
            return
        if isinstance(event, FeatVisProgress):
            if event.network.id == self.network_id:
                job = event.network.featvis.job(event.layer)
                self.send({"type": "featvis", "layer": event.layer, "job": job_json(job) if job is not None else {
                    "state": event.state, "done": event.done, "total": event.total, "error": event.message or None}})
            return
        if isinstance(event, InputChanged):
            return  # its ResultReady follows with everything the widget shows
        network = event.network
        if network.id != self.network_id or network not in self.session.networks:
            return
        result = event.result if isinstance(event, ResultReady) else network.peek()
        if result is None or result.layers is not network.layers:
            return  # a re-track's own refresh follows
        self.send({"type": "state", "state": self.requests.state(network, result),
                   "origin": getattr(event, "origin", None), "change": getattr(event, "change", None)})

    def _notice(self, notice: dict) -> None:
        if notice.get("network") == self.network_id:
            self.send({"type": "notice", **notice})

    # --- browser -> kernel, where HTTP cannot reach the kernel ------------------------
    def _on_request(self, widget, content, buffers) -> None:
        if not isinstance(content, dict) or content.get("type") != "request":
            return
        request_id = content.get("id")
        body = bytes(buffers[0]) if buffers else b""

        def reply(done):
            answer = done.result()  # handle() never raises
            self.send({"type": "reply", "id": request_id, "status": answer.status,
                       "content_type": answer.content_type}, buffers=[answer.body])

        # off the shell thread: a request may wait for a forward pass
        self.requests.submit(str(content.get("method", "GET")), str(content.get("path", "")), body) \
            .add_done_callback(reply)

    def close(self) -> None:
        subscription, self._subscription = getattr(self, "_subscription", None), None
        if subscription is not None:
            subscription.close()
        requests = getattr(self, "requests", None)  # None: __init__ refused the network
        if requests is not None and self._notice in requests.notices:
            requests.notices.remove(self._notice)
        super().close()


def _kernel_service():
    """This kernel's dvvr service, started (its server thread answers the
    explorer's HTTP route), or ``None`` outside a Jupyter kernel."""
    from ..kernel.explorer_route import running_kernel

    if running_kernel() is None:
        return None
    from ..kernel.service import current

    return current().start()
