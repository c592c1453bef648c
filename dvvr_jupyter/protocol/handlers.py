"""Tornado handlers for every route of the DeepVisionVR protocol.

Heavy work (forward passes, PNG encoding, feature visualization) runs on
worker threads; the IO loop only awaits it, so dozens of concurrent requests
are served together.  Errors become JSON in exactly one place:
``ProtocolHandler.write_error``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import traceback
from typing import TYPE_CHECKING

import tornado.web
from tornado.ioloop import IOLoop

from ..bridge.headers import SECRET_HEADER
from ..errors import BadRequest, DvvrError, NotFound, Unavailable
from .activation_image import parse_activation_image

if TYPE_CHECKING:
    from ..engine.session import Session

log = logging.getLogger("dvvr.protocol")


def log_path(handler: tornado.web.RequestHandler) -> str:
    """The request path as logs may show it: a capability prefix redacted."""
    path, prefix = handler.request.path, handler.settings.get("dvvr_prefix", "/")
    if prefix != "/" and path.startswith(prefix):
        return "/<token>/" + path[len(prefix):]
    return path


def parse_id(text: str, field: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"{field} in the path must be an integer, got {text!r}", field=field) from None


class ProtocolHandler(tornado.web.RequestHandler):
    """Base of every route.  ``session`` is a Session, or a future of one
    while ``dvvr serve`` is still loading the project (so the base URL can
    answer at once and the other routes wait for the project)."""

    session: Session
    waits_for_session = True

    def initialize(self, session):
        self._session_slot = session

    async def prepare(self):
        secret = self.settings.get("dvvr_secret")
        if secret:
            given = self.request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), secret.encode()):
                raise tornado.web.HTTPError(403, reason="this server only answers requests carrying its secret")
        slot = self._session_slot
        if hasattr(slot, "add_done_callback"):  # still loading
            if not slot.done() and not self.waits_for_session:
                self.session = None
                return
            try:
                slot = await asyncio.wrap_future(slot)
            except Exception as exc:  # noqa: BLE001 - reported to the client
                raise Unavailable(f"the project failed to load: {exc}") from None
        self.session = slot

    def set_default_headers(self):
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")

    def answer(self, body: dict) -> None:
        self.finish(json.dumps(body, ensure_ascii=False))

    async def offload(self, fn, *args):
        return await IOLoop.current().run_in_executor(self.session.pool, fn, *args)

    def network(self, network_id: str):
        return self.session.network(parse_id(network_id, "networkid"))

    # --- the one place where errors become answers --------------------------
    def write_error(self, status_code: int, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, DvvrError):
            self.set_status(exc.status)
            body = exc.to_json()
        elif isinstance(exc, tornado.web.HTTPError):
            message = exc.log_message or exc.reason or self._reason
            body = {"error": self._reason, "message": message % exc.args if exc.args else message,
                    "status": status_code}
        else:
            body = {"error": "InternalServerError", "message": "the server failed on this request (see its log)",
                    "status": status_code}
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(body))

    def log_exception(self, typ, value, tb):
        if isinstance(value, DvvrError):
            log.info("%s %s -> %d %s", self.request.method, log_path(self), value.status, value.message)
        elif isinstance(value, tornado.web.HTTPError):
            log.info("%s %s -> %d", self.request.method, log_path(self), value.status_code)
        else:
            log.error("%s %s failed:\n%s", self.request.method, log_path(self),
                      "".join(traceback.format_exception(typ, value, tb)))


class RootHandler(ProtocolHandler):
    waits_for_session = False  # the client gives the base URL 2 seconds

    def get(self):
        if self.session is None:
            self.answer({"service": "dvvr", "status": "loading"})
            return
        self.answer({"service": "dvvr", "status": "ok", **self.session.counts(),
                     "networks": [n.name for n in self.session.networks]})


class CountsHandler(ProtocolHandler):
    def get(self):
        self.answer(self.session.counts())


class ArchitectureHandler(ProtocolHandler):
    def get(self, network_id):
        self.answer(self.network(network_id).architecture())


class FeatVisModeHandler(ProtocolHandler):
    """``setnetworkgenfeatvis`` / ``setnetworkloadfeatvis`` / ``setnetworkdeletefeatvis``."""

    async def put(self, network_id, action):
        network = self.network(network_id)
        if action == "gen":
            network.featvis.set_mode("generate")
        elif action == "load":
            network.featvis.set_mode("load")
        else:
            await self.offload(network.featvis.delete)
        self.answer({"networkid": network.network_id, "featvis_mode": network.featvis.mode})


class ActivationHandler(ProtocolHandler):
    async def get(self, network_id, layer_id):
        network = self.network(network_id)
        layer = parse_id(layer_id, "layerid")
        result = network.peek() or await self.offload(network.result)
        activation, _ = await asyncio.wrap_future(result.layer_answers(layer))
        self.finish(activation)


class HistogramHandler(ProtocolHandler):
    async def get(self, network_id, kind, layer_id):
        network = self.network(network_id)
        layer = parse_id(layer_id, "layerid")
        result = network.peek() or await self.offload(network.result)
        if kind == "weight":
            self.answer(await self.offload(result.weight_histogram, layer))
        else:
            _, histogram = await asyncio.wrap_future(result.layer_answers(layer, "activation histogram"))
            self.finish(histogram)


class ClassificationHandler(ProtocolHandler):
    async def get(self, network_id):
        network = self.network(network_id)
        result = network.peek() or await self.offload(network.result)
        self.finish(result.classification)


class PrepareForInputHandler(ProtocolHandler):
    async def put(self, network_id):
        network = self.network(network_id)
        choice = parse_activation_image(self.request.body)
        result = await self.offload(self.session.prepare_for_input, network.network_id, choice)
        self.answer({"networkid": network.network_id, "input_id": result.input_id, "mode": choice["mode"]})


class FeatureVisualizationHandler(ProtocolHandler):
    async def get(self, network_id, layer_id):
        network = self.network(network_id)
        layer = parse_id(layer_id, "layerid")
        images = await asyncio.wrap_future(network.featvis.images(layer))
        from ..engine.encode import rgb_pngs

        tensors = await self.offload(rgb_pngs, images)
        self.answer({"tensors": tensors, "networkid": network.network_id, "layerID": layer,
                     "mode": "FeatureVisualization"})


class FeatureVisualizationProgressHandler(ProtocolHandler):
    def get(self, network_id):
        network = self.network(network_id)
        self.answer({"networkid": network.network_id, **network.featvis.progress()})


class ExportHandler(ProtocolHandler):
    async def put(self, network_id, layer_id):
        from ..engine.export import export_activation, export_featvis

        network = self.network(network_id)
        layer = parse_id(layer_id, "layerid")
        choice = parse_activation_image(self.request.body)
        if choice["mode"] == 2:
            result = await self.offload(network.result)
            path, count = await self.offload(export_activation, network, result, layer)
        elif choice["mode"] == 3:
            images = await asyncio.wrap_future(network.featvis.images(layer))
            path, count = await self.offload(export_featvis, network, layer, images)
        else:
            raise BadRequest(f"export needs mode 2 (Activation) or 3 (FeatureVisualization), got {choice['mode']}",
                             field="mode")
        self.answer({"networkid": network.network_id, "layerID": layer, "mode": choice["mode"],
                     "files": count, "path": str(path.relative_to(network.cache_dir.parent))})


class DatasetImagesHandler(ProtocolHandler):
    async def get(self, dataset_id):
        dataset = self.session.dataset(parse_id(dataset_id, "datasetid"))
        self.answer(await self.offload(dataset.page))


class NoiseImageHandler(ProtocolHandler):
    async def get(self, noise_id):
        generator = self.session.noise_generator(parse_id(noise_id, "noiseid"))

        def make():
            from ..engine.encode import pil_to_base64_png

            return pil_to_base64_png(generator.generate())

        self.answer({"tensor": await self.offload(make)})


class UnknownRouteHandler(ProtocolHandler):
    waits_for_session = False

    async def prepare(self):
        await super().prepare()
        raise NotFound(f"no such resource: {self.request.method} {log_path(self)}")
