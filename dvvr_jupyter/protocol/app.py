"""The DeepVisionVR protocol as a tornado Application (no Jupyter imports)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import tornado.web

from . import handlers as h

if TYPE_CHECKING:
    from ..engine.session import Session

access_log = logging.getLogger("dvvr.access")

NUM = r"([^/]+)"


def routes(session: Session, prefix: str = "/") -> list:
    """URL rules for ``session`` under ``prefix`` (which starts and ends with /):
    the shared view at ``prefix``, a headset's own at ``prefix + "h/<name>/"``."""
    if not (prefix.startswith("/") and prefix.endswith("/")):
        raise ValueError(f"prefix must start and end with '/', got {prefix!r}")
    args = {"session": session}
    table = [
        ("", h.RootHandler),
        ("network", h.CountsHandler),
        (f"network/{NUM}", h.ArchitectureHandler),
        (f"network/{NUM}/setnetwork(gen|load|delete)featvis", h.FeatVisModeHandler),
        (f"network/{NUM}/(weight|activation)histogram/layerid/{NUM}", h.HistogramHandler),
        (f"network/{NUM}/activation/layerid/{NUM}", h.ActivationHandler),
        (f"network/{NUM}/classificationresult", h.ClassificationHandler),
        (f"network/{NUM}/prepareforinput", h.PrepareForInputHandler),
        (f"network/{NUM}/featurevisualization/layerid/{NUM}", h.FeatureVisualizationHandler),
        (f"network/{NUM}/featurevisualization/progress", h.FeatureVisualizationProgressHandler),
        (f"network/{NUM}/export/layerid/{NUM}", h.ExportHandler),
        (f"dataset/{NUM}/images", h.DatasetImagesHandler),
        (f"noiseimage/{NUM}", h.NoiseImageHandler),
    ]
    rules = [(prefix + path + "/?" if path else prefix, handler, args) for path, handler in table]
    # A headset's own view: the same routes under h/<name>/ (its own current input per network).
    headset = {**args, "headset": True}
    rules += [(prefix + "h/([^/]*)/" + path + ("/?" if path else ""), handler, headset) for path, handler in table]
    rules.append((prefix + ".*", h.UnknownRouteHandler, args))
    return rules


def _log_request(handler: tornado.web.RequestHandler) -> None:
    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.WARNING
    access_log.log(level, "%d %s %s %.1f ms", status, handler.request.method, h.log_path(handler),
                   1000.0 * handler.request.request_time())


def make_app(session: Session, *, prefix: str = "/", secret: str | None = None,
             log_function=None, extra_routes=()) -> tornado.web.Application:
    """The protocol app.  With ``secret`` only requests carrying it in the
    ``X-Dvvr-Secret`` header are answered (the kernel side behind Jupyter).
    ``log_function(handler)`` replaces the access log (the kernel counts
    clients with it: an access log would print into the running cell).
    ``extra_routes`` come before the protocol's (the kernel's explorer routes)."""
    return tornado.web.Application(
        [*extra_routes, *routes(session, prefix)],
        default_handler_class=h.UnknownRouteHandler,
        default_handler_args={"session": session},
        dvvr_secret=secret,
        dvvr_prefix=prefix,
        log_function=log_function or _log_request,
        compress_response=False,
    )
