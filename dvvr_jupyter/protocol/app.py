"""The DeepVisionVR protocol as a tornado Application (no Jupyter imports)."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import tornado.web

from ..bridge.throttle import WrongTokenThrottle
from . import handlers as h
from .xr_static import XRFileHandler, XRRedirectHandler

if TYPE_CHECKING:
    from ..engine.session import Session

access_log = logging.getLogger("dvvr.access")

# An id's segment matches any text: the handler parses it (``wire.parse_id``), so a bad id
# answers 400 naming the field instead of a bare 404.
ID_SEGMENT = r"([^/]+)"
TOKEN = r"/([^/]+)/"  # the token's segment: compared by the handler, literally (never a pattern)


def routes(session: Session, token: bool = False) -> list:
    """URL rules for ``session``: the shared view at ``/`` (``/<token>/`` with
    ``token``), a headset's own at ``h/<name>/`` below it."""
    prefix = TOKEN if token else "/"
    args = {"session": session, "token_arg": token}
    table = [
        ("", h.RootHandler),
        ("openapi.json", h.OpenAPIHandler),
        ("network", h.CountsHandler),
        (f"network/{ID_SEGMENT}", h.ArchitectureHandler),
        (f"network/{ID_SEGMENT}/setnetwork(gen|load|delete)featvis", h.FeatVisModeHandler),
        (f"network/{ID_SEGMENT}/(weight|activation)histogram/layerid/{ID_SEGMENT}", h.HistogramHandler),
        (f"network/{ID_SEGMENT}/activation/layerid/{ID_SEGMENT}", h.ActivationHandler),
        (f"network/{ID_SEGMENT}/atlas/layerid/{ID_SEGMENT}", h.AtlasHandler),
        (f"network/{ID_SEGMENT}/input", h.InputHandler),
        (f"network/{ID_SEGMENT}/classificationresult", h.ClassificationHandler),
        (f"network/{ID_SEGMENT}/prepareforinput", h.PrepareForInputHandler),
        (f"network/{ID_SEGMENT}/featurevisualization/layerid/{ID_SEGMENT}", h.FeatureVisualizationHandler),
        (f"network/{ID_SEGMENT}/featurevisualization/progress", h.FeatureVisualizationProgressHandler),
        (f"network/{ID_SEGMENT}/export/layerid/{ID_SEGMENT}", h.ExportHandler),
        (f"dataset/{ID_SEGMENT}/images", h.DatasetImagesHandler),
        (f"noiseimage/{ID_SEGMENT}", h.NoiseImageHandler),
        (f"events/{ID_SEGMENT}", h.EventsHandler),
    ]
    # the browser client's files: exact paths (a trailing slash names a folder's index.html)
    files = [("xr", XRRedirectHandler), ("xr/(.*)", XRFileHandler)]
    rules = [(prefix + path, handler, args) for path, handler in files]
    rules += [(prefix + path + "/?" if path else prefix + ("?" if token else ""), handler, args)
              for path, handler in table]
    # A headset's own view: the same routes under h/<name>/ (its own current input per network).
    headset = {**args, "headset": True}
    rules += [(prefix + "h/([^/]*)/" + path, handler, headset) for path, handler in files]
    rules += [(prefix + "h/([^/]*)/" + path + ("/?" if path else ""), handler, headset) for path, handler in table]
    rules.append((prefix + ".*", h.UnknownRouteHandler, args))
    return rules


class _SwitchSummary:
    """One INFO line per input switch instead of one per request (a switch
    is followed by dozens of image requests): answered requests are counted,
    and the count since the last switch is logged with the next one."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.ms = 0.0

    def count(self, handler, ms: float) -> None:
        path = h.log_path(handler)
        with self.lock:
            if "prepareforinput" not in path:
                self.requests += 1
                self.ms += ms
                return
            requests, total, self.requests, self.ms = self.requests, self.ms, 0, 0.0
        access_log.info("input switch %s in %.0f ms (%d requests answered since the previous switch, %.0f ms in all)",
                        path, ms, requests, total)


_summary = _SwitchSummary()


def _log_request(handler: tornado.web.RequestHandler) -> None:
    """Answered requests at DEBUG (``--log-level debug`` lists them), a
    summary per switch at INFO, failures at WARNING (but wrong tokens, whose
    burst is logged once, at DEBUG)."""
    status = handler.get_status()
    ms = 1000.0 * handler.request.request_time()
    quiet = getattr(handler, "quiet", False)  # a burst of wrong tokens: the throttle says it once
    level = logging.DEBUG if status < 400 or quiet else logging.WARNING
    access_log.log(level, "%d %s %s %.1f ms", status, handler.request.method, h.log_path(handler), ms)
    if status < 400 and not quiet:
        _summary.count(handler, ms)


def make_app(session: Session, *, token: str | None = None, secret: str | None = None,
             log_function=None, extra_routes=()) -> tornado.web.Application:
    """The protocol app.  With ``token`` every route is under ``/<token>/``
    (a capability URL; wrong tokens are held back per address).  With
    ``secret`` only requests carrying it in the ``X-Dvvr-Secret`` header are
    answered (the kernel side behind Jupyter).  ``log_function(handler)``
    replaces the access log (the kernel counts clients with it: an access
    log would print into the running cell).  ``extra_routes`` come before the
    protocol's (the kernel's explorer routes)."""
    return tornado.web.Application(
        [*extra_routes, *routes(session, token=bool(token))],
        default_handler_class=h.UnknownRouteHandler,
        default_handler_args={"session": session},
        dvvr_secret=secret,
        dvvr_token=token or None,
        dvvr_throttle=WrongTokenThrottle(logging.getLogger("dvvr.protocol"), wrong=h.WRONG_TOKEN),
        log_function=log_function or _log_request,
        compress_response=False,
    )
