"""Tornado handlers for every route of the DeepVisionVR protocol.

Each handler resolves the network (an object, once) and passes it to the
engine and to ``wire`` (the bodies).  Heavy work (forward passes, PNG
encoding, feature visualization) runs on worker threads; the IO loop only
awaits it, so dozens of concurrent requests are served together.  Errors
become JSON in one place for every route: ``bridge.answers.JSONErrors``
(``errors.error_answer``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from typing import TYPE_CHECKING

import tornado.web
from tornado.ioloop import IOLoop

from ..bridge.answers import JSONErrors
from ..bridge.headers import check_secret
from ..bridge.limits import LimitedBody
from ..bridge.redact import redact_path, shorten
from ..bridge.shown import RESULT_HEADER, tag
from ..errors import DvvrError, NotFound, Unavailable
from . import wire

# The engine is imported where a handler uses it, never at module level:
# ``dvvr serve`` imports this module before it listens (see ``wire``).
if TYPE_CHECKING:
    from ..engine.session import Session

log = logging.getLogger("dvvr.protocol")


WRONG_TOKEN = "no such VR URL: use the one the server printed when it started (dvvr serve ... --token)"


def log_path(handler: tornado.web.RequestHandler) -> str:
    """The request path as logs (and 404 messages) may show it: the token's
    segment redacted, and cut to ``MAX_LOGGED_PATH`` characters (a 60 KB path
    is a log flood, not information)."""
    return shorten(redact_path(handler.request.path, handler.settings.get("dvvr_token")))


@tornado.web.stream_request_body  # so that an oversized body is refused before it is read
class ProtocolHandler(JSONErrors, LimitedBody, tornado.web.RequestHandler):
    """Base of every route.  ``session`` is a Session, or a future of one
    while ``dvvr serve`` is still loading the project (so the base URL can
    answer at once and the other routes wait for the project).  On a server
    with a token, the first path argument is the token; under ``h/<name>/``
    the next one names a headset's own view."""

    session: Session
    waits_for_session = True
    view: str | None = None
    quiet = False  # a wrong token: its burst is logged once (bridge.throttle), not each request

    def initialize(self, session, headset: bool = False, token_arg: bool = False):
        self._session_slot = session
        self._headset = headset
        self._token_arg = token_arg

    counts_as_activity = True  # idle-time work pauses while such a request runs

    async def prepare(self):
        # in flight until answered or gone: a stopping server lets these answer first (``Server.stop``)
        self.settings.setdefault("dvvr_in_flight", set()).add(self)
        self._activity = self.settings.get("dvvr_activity") if self.counts_as_activity else None
        if self._activity is not None:
            self._activity.started()
        token = self.settings.get("dvvr_token")
        if token:
            self._check_token(token, self.path_args.pop(0) if self._token_arg and self.path_args else None)
        secret = self.settings.get("dvvr_secret")
        if secret:
            check_secret(self.request.headers, secret)
        self.refuse_unread()
        if self._headset and self.path_args:
            self.view = wire.parse_view(self.path_args.pop(0))
        slot = self._session_slot
        if hasattr(slot, "add_done_callback"):  # still loading
            if not slot.done() and not self.waits_for_session:
                self.session = None
                return
            try:
                slot = await asyncio.wrap_future(slot)
            except KeyboardInterrupt:  # Ctrl+C while the project loaded: the server is going away
                raise Unavailable("the server is stopping (interrupted while it loaded the project)") from None
            except Exception as exc:  # noqa: BLE001 - reported to the client
                raise Unavailable(f"the project failed to load: {exc}") from None
        self.session = slot

    def _check_token(self, token: str, given: str | None) -> None:
        """Compare the path's token literally, in constant time; wrong tokens
        from one address are held back (``bridge.throttle``)."""
        try:
            self.settings["dvvr_throttle"].check(self.request.remote_ip or "?", given, token)
        except DvvrError:
            self.quiet = True  # the throttle logs each burst once
            raise

    def _done(self) -> None:
        self.settings.get("dvvr_in_flight", set()).discard(self)
        activity, self._activity = getattr(self, "_activity", None), None
        if activity is not None:
            activity.finished()

    def on_finish(self):
        self._done()

    def on_connection_close(self):
        self._done()
        super().on_connection_close()

    def set_default_headers(self):
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")

    def compute_etag(self):
        return None  # the client never revalidates; hashing every answer cost ~8 % of the server's CPU

    def answer(self, body: dict | bytes) -> None:
        self.finish(body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False))

    def answer_of(self, result, body: dict | bytes) -> None:
        """``answer``, for a body built from ``result`` alone (kept by it, so
        the same every time): behind Jupyter, the result's tag goes with it,
        and the server may answer it again itself while the view shows that
        result (``bridge.shown``)."""
        if self.settings.get("dvvr_secret"):
            self.set_header(RESULT_HEADER, tag(result.id))
        self.answer(body)

    async def offload(self, fn, *args):
        return await IOLoop.current().run_in_executor(self.session.pool, fn, *args)

    def network(self, network_id: str):
        return self.session.network(wire.parse_id(network_id, "networkid"))

    async def featvis_images(self, network, layer: int):
        """A layer's feature visualizations as the client's mode asks (the input layer: black images).
        Off the IO loop: finding them may read a large file or wait for the weights' lock."""
        if network.featvis.is_input(layer):
            return wire.input_layer_images(network, layer)
        # not waiting for the cache folder's copy: the answer is encoded while it is written
        return await asyncio.wrap_future(await self.offload(lambda: network.featvis.images(layer, stored=False)))

    async def current_result(self, network):
        return network.peek(self.view) or await self.offload(network.result, self.view)

    def log_exception(self, typ, value, tb):
        if self.quiet:
            log.debug("%s %s -> %s", self.request.method, log_path(self), value)
        elif isinstance(value, DvvrError):
            log.info("%s %s -> %d %s", self.request.method, log_path(self), value.status, value.message)
        elif isinstance(value, tornado.web.HTTPError):
            log.info("%s %s -> %d", self.request.method, log_path(self), value.status_code)
        else:
            log.error("%s %s failed:\n%s", self.request.method, log_path(self),
                      "".join(traceback.format_exception(typ, value, tb)))


async def settled(future):
    """A concurrent future's result: at once when it is done (most answers are
    already computed; waking the event loop from a thread costs more than
    the answer), else awaited."""
    if future.done():
        return future.result()
    return await asyncio.wrap_future(future)


class RootHandler(ProtocolHandler):
    waits_for_session = False  # the client gives the base URL 2 seconds
    counts_as_activity = False  # a health check polled by monitors must not keep the server "busy"

    def get(self):
        body = wire.root(self.session)
        idle_work = self.settings.get("dvvr_activity")
        if idle_work is not None and self.session is not None:
            body["precompute"] = "settled" if idle_work.settled else "working"
        self.answer(body)


class OpenAPIHandler(ProtocolHandler):
    """``openapi.json``: this protocol described (``protocol/openapi.py``)."""

    waits_for_session = False
    counts_as_activity = False

    def get(self):
        from .openapi import document

        self.answer(document())


class CountsHandler(ProtocolHandler):
    def get(self):
        self.answer(wire.counts(self.session))


class ArchitectureHandler(ProtocolHandler):
    def get(self, network_id):
        self.answer(wire.architecture(self.network(network_id)))


class FeatVisModeHandler(ProtocolHandler):
    """``setnetworkgenfeatvis`` / ``setnetworkloadfeatvis`` / ``setnetworkdeletefeatvis``."""

    async def put(self, network_id, action):
        from ..engine.featvis.modes import GENERATE, LOAD

        network = self.network(network_id)
        if action == "gen":
            network.featvis.set_mode(GENERATE)
        elif action == "load":
            network.featvis.set_mode(LOAD)
        else:
            await self.offload(network.featvis.delete)
        self.answer(wire.featvis_mode(network))


class ActivationHandler(ProtocolHandler):
    async def get(self, network_id, layer_id):
        network = self.network(network_id)
        layer = wire.parse_id(layer_id, "layerid")
        result = await self.current_result(network)
        self.answer_of(result, await settled(wire.activation(network, result, layer)))


class AtlasHandler(ProtocolHandler):
    """``atlas/layerid/{l}``: the layer's channel maps as one grayscale PNG
    (binary), its tile layout in the ``X-Dvvr-Atlas`` header."""

    async def get(self, network_id, layer_id):
        network = self.network(network_id)
        layer = wire.parse_id(layer_id, "layerid")
        result = await self.current_result(network)
        png, layout = await settled(wire.atlas(network, result, layer))
        self.set_header("Content-Type", "image/png")
        self.set_header("X-Dvvr-Atlas", layout)
        self.answer_of(result, png)


class InputHandler(ProtocolHandler):
    """``network/{n}/input``: this view's current input and its picture."""

    async def get(self, network_id):
        network = self.network(network_id)
        result = await self.current_result(network)
        self.answer_of(result, await settled(wire.current_input(self.session, network, result)))


class EventsHandler(ProtocolHandler):
    """``events/{since}``: a long poll (``protocol/live.py``).  A client that
    goes away, or a server that stops, ends the wait at once."""

    counts_as_activity = False  # a waiting poll must not pause idle-time work
    _gone = False
    _waiter = None

    async def get(self, since):
        from . import live

        since = wire.parse_id(since, "since")
        feed = live.feed_for(self.session)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.get("dvvr_poll_seconds", live.POLL_SECONDS)
        polls = self.settings.setdefault("dvvr_polls", set())
        polls.add(self)
        try:
            while True:
                self._waiter = feed.waiter()  # before reading: an event in between still wakes it
                answer, ready = feed.read(since, self.view)
                remaining = deadline - loop.time()
                if ready or self._gone or remaining <= 0 or self.settings.get("dvvr_stopping"):
                    break
                try:
                    await asyncio.wait_for(asyncio.shield(self._waiter), remaining)
                except asyncio.TimeoutError:
                    pass
                feed.discard(self._waiter)
        finally:
            feed.discard(self._waiter)
            polls.discard(self)
        if not self._gone:
            self.answer(answer)

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def on_connection_close(self):
        self._gone = True
        self.wake()
        super().on_connection_close()


class HistogramHandler(ProtocolHandler):
    async def get(self, network_id, kind, layer_id):
        network = self.network(network_id)
        layer = wire.parse_id(layer_id, "layerid")
        if kind == "weight":
            network.layer(layer)  # an unknown layer: the client's words now, not from a worker
            result = network.peek(self.view)
            # answered at once if made for the weights the shown result was computed with (the same
            # answer as that result keeps, so it carries the result's tag for Jupyter's answer store)
            known = None if result is None else \
                wire.known_weight_histogram(network, layer, generation=result.weights_version)
            if known is not None and result.weights_version == network.shadow.generation:
                self.answer_of(result, known)
                return
            result = await self.current_result(network)
            self.answer_of(result, await settled(result.once(("wire.weighthistogram", network.id, layer),
                                                             lambda: wire.weight_histogram(network, layer))))
            return
        result = await self.current_result(network)
        self.answer_of(result, await settled(wire.activation_histogram(network, result, layer)))


class ClassificationHandler(ProtocolHandler):
    async def get(self, network_id):
        network = self.network(network_id)
        result = await self.current_result(network)
        self.answer_of(result, wire.classification(network, result))


class PrepareForInputHandler(ProtocolHandler):
    async def put(self, network_id):
        from ..engine.events import ORIGIN_VR

        network = self.network(network_id)
        choice = wire.parse_activation_image(self.body)
        source = wire.input_source(self.session, choice)
        result = await self.offload(lambda: network.set_input(source, origin=ORIGIN_VR, view=self.view))
        self.answer(wire.prepared(network, result, choice["mode"]))


class FeatureVisualizationHandler(ProtocolHandler):
    async def get(self, network_id, layer_id):
        network = self.network(network_id)
        layer = wire.parse_id(layer_id, "layerid")
        images = await self.featvis_images(network, layer)
        self.answer(await self.offload(wire.feature_visualization, network, layer, images))


class FeatureVisualizationProgressHandler(ProtocolHandler):
    def get(self, network_id):
        self.answer(wire.featvis_progress(self.network(network_id)))


class ExportHandler(ProtocolHandler):
    async def put(self, network_id, layer_id):
        from ..engine.export import export_activation, export_featvis

        network = self.network(network_id)
        layer = wire.parse_id(layer_id, "layerid")
        mode = wire.export_mode(wire.parse_activation_image(self.body))
        if mode == 2:
            result = await self.current_result(network)
            path, count = await self.offload(export_activation, network, result, layer)
        else:
            images = await self.featvis_images(network, layer)
            path, count = await self.offload(export_featvis, network, layer, images)
        relative = str(path.relative_to(network.cache_dir.parent))  # no server paths leak
        self.answer(wire.exported(network, layer, mode, relative, count))


class DatasetImagesHandler(ProtocolHandler):
    async def get(self, dataset_id):
        dataset = self.session.dataset(wire.parse_id(dataset_id, "datasetid"))
        self.answer(await self.offload(wire.dataset_page, dataset))


class NoiseImageHandler(ProtocolHandler):
    async def get(self, noise_id):
        generator = self.session.noise_generator(wire.parse_id(noise_id, "noiseid"))
        self.answer(await self.offload(lambda: wire.noise_image(generator.generate())))


class UnknownRouteHandler(ProtocolHandler):
    waits_for_session = False

    async def prepare(self):
        await super().prepare()
        raise NotFound(f"no such resource: {self.request.method} {log_path(self)}")
