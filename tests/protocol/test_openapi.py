"""``openapi.json``: the protocol as this project serves it.  Kept true by
these tests: every route of ``protocol/app.py`` is in it, real answers
validate against its schemas, and a bounded property-based fuzz run from it
finds no 5xx and no answer outside the schemas."""

import itertools
import json
import re
import urllib.parse

import pytest
import tornado.web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from dvvr_jupyter.protocol import handlers as h
from dvvr_jupyter.protocol.app import routes
from dvvr_jupyter.protocol.openapi import document
from dvvr_jupyter.testing.probes import raw_request as fetch

DOC = document()
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def validator(schema_name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{schema_name}", "components": DOC["components"]})


def answer_schema(path: str, method: str, status: int) -> str:
    responses = DOC["paths"][path][method]["responses"]
    if status == 200:
        return responses["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    return "Error"


def check_answer(template: str, method: str, status: int, headers, raw: bytes) -> str | None:
    """Checks an answer against the document; the error found, or None.
    JSON answers validate against their schema; a PNG atlas has its layout
    header; the 3D client's files have a documented type; a redirect its Location."""
    success = DOC["paths"][template][method]["responses"]
    kind = (headers.get("Content-Type") or "").split(";")[0]
    if status == 302 and "302" in success:
        return None if headers.get("Location") == "xr/" and not raw else f"302 to {headers.get('Location')!r}"
    if status == 200 and set(success["200"]["content"]) != {"application/json"}:
        if kind not in success["200"]["content"]:
            return f"{kind} is not a documented type"
        if kind == "image/png":
            if not raw.startswith(b"\x89PNG\r\n\x1a\n"):
                return "not a PNG"
            errors = list(validator("AtlasLayout").iter_errors(json.loads(headers["X-Dvvr-Atlas"])))
            return errors[0].message if errors else None
        return None
    if kind != "application/json":
        return f"answered {kind}, not JSON"
    answer = json.loads(raw)
    name = answer_schema(template, method, status)
    errors = sorted(validator(name).iter_errors(answer), key=str)
    if errors:
        return f"{errors[0].message} in {name}"
    if status != 200 and answer["status"] != status:
        return f"status {answer['status']} in the body"
    return None



def template_regex(template: str) -> re.Pattern:
    pattern = re.escape(template).replace(r"\{path\}", ".+")  # a file's path may hold folders
    return re.compile("^" + re.sub(r"\\{[a-z]+\\}", "[^/]+", pattern) + "$")


TEMPLATES = [(template_regex(path), path) for path in DOC["paths"]]


def find_template(path: str) -> str | None:
    matches = [template for regex, template in TEMPLATES if regex.match(path)]
    assert len(matches) <= 1, matches
    return matches[0] if matches else None


def samples(pattern: str) -> list[str]:
    """Concrete paths a route's pattern matches (every alternative of its groups)."""
    if "(.*)" in pattern:  # a folder's files: the folder itself and a file in it
        return samples(pattern.replace("(.*)", "", 1)) + samples(pattern.replace("(.*)", "index.html", 1))
    pattern = pattern.replace("/?", "").replace("?", "")
    pattern = pattern.replace("([^/]*)", "someone").replace("([^/]+)", "0")
    choices = re.findall(r"\(([a-z|]+)\)", pattern)
    skeleton = re.sub(r"\([a-z|]+\)", "{}", pattern)
    return [skeleton.format(*combo) for combo in itertools.product(*(c.split("|") for c in choices))]


def handler_methods(handler) -> set[str]:
    return {m for m in METHODS if getattr(handler, m) is not getattr(tornado.web.RequestHandler, m)}


@pytest.mark.parametrize("token", [False, True])
def test_every_route_is_documented_with_its_methods(tiny_session, token):
    documented = set()
    for pattern, handler, _ in routes(tiny_session, token=token):
        if handler is h.UnknownRouteHandler:
            continue
        for path in samples(pattern):
            if token:
                path = path if path != "/0" else "/0/"  # the base URL itself, with or without its slash
                assert path.startswith("/0/"), path
                path = path[2:]  # the token's segment is the base URL's, not a documented path
            template = find_template(path)
            assert template is not None, f"{pattern} ({handler.__name__}) is not in openapi.json"
            assert handler_methods(handler) == set(DOC["paths"][template]), (template, handler.__name__)
            documented.add(template)
    assert documented == set(DOC["paths"])  # and nothing is documented that is not served


def test_the_document_is_served_under_the_base_url(serve, tiny_session, client_for):
    for server in (serve(tiny_session), serve(tiny_session, token="t0ken")):
        client = client_for(server.url)
        for resource in ("openapi.json", "h/someone/openapi.json"):
            served = client.get(resource)
            assert served == DOC
    assert DOC["openapi"].startswith("3.") and DOC["servers"] == [{"url": ".", "description": DOC["servers"][0]["description"]}]
    for schema in DOC["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


class ValidatingClient:
    """Sends requests and checks every answer against the document."""

    def __init__(self, url):
        self.url = url
        self.seen: set[tuple[str, str, int]] = set()

    def check(self, method: str, resource: str, body=None, expect: int | None = None):
        status, headers, raw = fetch(self.url, resource, method.upper(), body)
        template = find_template("/" + resource)
        assert template is not None and method in DOC["paths"][template], resource
        error = check_answer(template, method, status, headers, raw)
        assert error is None, f"{method} {resource} -> {status}: {error}"
        if expect is not None:
            assert status == expect, raw[:300]
        self.seen.add((method, template, status))
        return json.loads(raw) if headers.get("Content-Type", "").startswith("application/json") else raw


def test_real_answers_validate_against_the_schemas(serve, tiny_session, client_for):
    network = tiny_session.networks[0]
    network.featvis.config = type(network.featvis.config)(steps=2, batch_size=8)
    v = ValidatingClient(serve(tiny_session).url)
    activation_image = json.dumps({"networkID": 0, "datasetID": 0, "noiseGeneratorID": 0, "imageID": 3, "layerID": 0,
                                   "channelID": 0, "className": "", "mode": 1, "isRGB": True, "zeroValue": 0.0,
                                   "nDim": 2, "tex": None})
    for prefix in ("", "h/someone/"):
        v.check("get", prefix, expect=200)
        v.check("get", prefix + "openapi.json", expect=200)
        counts = v.check("get", prefix + "network", expect=200)
        for d in range(counts["ndatasets"]):
            v.check("get", f"{prefix}dataset/{d}/images", expect=200)
        for g in range(counts["nnoiseGenerators"]):
            v.check("get", f"{prefix}noiseimage/{g}", expect=200)
        for action in ("load", "gen", "delete", "load"):
            v.check("put", f"{prefix}network/0/setnetwork{action}featvis", "dummy", expect=200)
        architecture = v.check("get", f"{prefix}network/0", expect=200)
        v.check("put", f"{prefix}network/0/prepareforinput", activation_image, expect=200)
        for layer_id, layer in enumerate(architecture["architecture"]):
            status = 200 if layer["data_type"] != "None" else 400
            for kind in ("activation", "weighthistogram", "activationhistogram", "featurevisualization"):
                v.check("get", f"{prefix}network/0/{kind}/layerid/{layer_id}",
                        expect=200 if kind == "weighthistogram" else status)
        v.check("get", f"{prefix}network/0/classificationresult", expect=200)
        v.check("get", f"{prefix}network/0/input", expect=200)
        v.check("get", f"{prefix}events/0", expect=200)
        for resource in ("xr", "xr/", "xr/index.html"):
            v.check("get", prefix + resource, expect=302 if resource == "xr" else 200)
        v.check("get", f"{prefix}xr/../setup.py", expect=404)
        for layer_id, layer in enumerate(architecture["architecture"]):
            v.check("get", f"{prefix}network/0/atlas/layerid/{layer_id}",
                    expect=200 if layer["data_type"] != "None" else 404)
        v.check("get", f"{prefix}network/0/featurevisualization/progress", expect=200)
        v.check("put", f"{prefix}network/0/prepareforinput", json.dumps({"mode": 3, "layerID": 1, "channelID": 2}),
                expect=200)
        for mode in (2, 3):
            v.check("put", f"{prefix}network/0/export/layerid/1", json.dumps({"mode": mode}), expect=200)
        v.check("get", f"{prefix}network/5", expect=404)
        v.check("put", f"{prefix}network/0/prepareforinput", "[]", expect=400)
    assert {template for _, template, status in v.seen if status in (200, 302)} == set(DOC["paths"])


# --- the fuzz run: bounded in examples so CI (2 cores) stays fast -------------------------
OPERATIONS = [(method, template) for template, item in DOC["paths"].items() for method in item]

ids = st.one_of(st.integers(0, 3).map(str), st.integers(-5, 10**12).map(str),
                st.text(st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=12),
                st.sampled_from(["1_0", " 1", "٣", "²", "0x1", "1e3", "+1", "00", "%2F", ".."]))
headsets = st.one_of(st.sampled_from(["a", "headset-2", "x" * 64]),
                     st.text(st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=70))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)
field_values = st.one_of(st.integers(-3, 8), st.integers(), st.text(max_size=12), st.floats(), st.none(),
                         st.booleans(), json_values)
activation_images = st.fixed_dictionaries(
    {}, optional={field: field_values for field in ("mode", "networkID", "datasetID", "noiseGeneratorID", "imageID",
                                                    "layerID", "channelID", "className", "tex")})
bodies = st.one_of(
    activation_images.map(lambda body: json.dumps(body).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=64),
    st.sampled_from([b"dummy", b"[" * 2000, b'{"mode": 1, "imageID": ' + b"9" * 5000 + b"}", b'{"mode": NaN}']),
)


@st.composite
def requests(draw):
    method, template = draw(st.sampled_from(OPERATIONS))
    if draw(st.integers(0, 19)) == 0:  # now and then a method the route does not have
        method = draw(st.sampled_from(["post", "delete", "propfind", "get", "put"]))
    path = template
    for name in re.findall(r"\{([a-z]+)\}", template):
        value = draw(headsets if name == "headset" else ids)
        path = path.replace("{" + name + "}", urllib.parse.quote(value, safe=""), 1)
    body = draw(bodies) if method in ("put", "post") else None
    return method.upper(), template, path, body


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory):
    from dvvr import Server, Session

    import tiny

    session = Session(cache_dir=tmp_path_factory.mktemp("fuzz-cache"))
    network = session.attach(tiny.TinyTracked(), tiny.tiny_images(), name="tiny", class_names=tiny.CLASSES,
                             input_size=(32, 36))
    network.featvis.config = type(network.featvis.config)(steps=2, batch_size=8)  # bounded work per request
    server = Server(session, "127.0.0.1", 0).start()
    server.app.settings["dvvr_poll_seconds"] = 0.05  # an events poll with nothing new answers at once
    yield server
    server.stop()
    session.close()


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=requests())
def test_fuzz_no_5xx_and_every_answer_in_the_schema(fuzzed_server, request):
    method, template, path, body = request
    status, headers, raw = fetch(fuzzed_server.url, path[1:], method, body)
    assert status < 500, (method, path, body, raw[:300])
    documented = method.lower() in DOC["paths"][template] and find_template(urllib.parse.unquote(path)) == template
    if documented:
        error = check_answer(template, method.lower(), status, headers, raw)
    else:
        answer = json.loads(raw)
        errors = list(validator("Error").iter_errors(answer))
        error = errors[0].message if errors else None if answer["status"] == status else "status in the body"
    assert error is None, (method, path, status, error)


@pytest.mark.parametrize("body", [
    {"mode": 1, "imageID": "abc"}, {"mode": 1, "imageID": "٣"}, {"mode": 1, "imageID": "1_0"},
    {"mode": 1, "imageID": 2**40}, {"mode": 1, "imageID": "99999999999"}, {"mode": "one"}, {"mode": 7},
    {"mode": 1, "layerID": 1.5}, {"mode": 1, "datasetID": [0]},
])
def test_the_schema_refuses_what_the_server_refuses(serve, tiny_session, client_for, body):
    # schema and server agree: a body the server answers 400 for does not validate (a fuzzer's "schema mismatch")
    answer = client_for(serve(tiny_session).url).request("PUT", "network/0/prepareforinput", json.dumps(body))
    assert answer.status == 400, (body, answer.body)
    assert list(validator("ActivationImage").iter_errors(body)), f"the schema admits {body}"


@pytest.mark.parametrize("body", [{"mode": 1, "imageID": 2}, {"mode": "1", "imageID": " 2 "}, {"mode": 0},
                                  {"mode": 4, "noiseGeneratorID": None}, {"mode": 1, "imageID": 1.0}])
def test_the_schema_admits_what_the_server_accepts(serve, tiny_session, client_for, body):
    answer = client_for(serve(tiny_session).url).request("PUT", "network/0/prepareforinput", json.dumps(body))
    assert answer.status == 200, (body, answer.body)
    assert not list(validator("ActivationImage").iter_errors(body))
