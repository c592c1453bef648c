"""Bad input answers a clear 4xx JSON error; the server keeps serving."""

import json

import pytest

BAD_REQUESTS = [
    # method, resource, body, status, words the message must contain
    ("GET", "network/7", None, 404, "network 7 does not exist"),
    ("GET", "network/-1", None, 404, "network -1"),
    ("GET", "network/abc", None, 400, "networkid in the path must be an integer"),
    ("GET", "network/0/activation/layerid/99", None, 404, "layer id 99 is out of range"),
    ("GET", "network/0/activation/layerid/2", None, 400, "info panel"),
    ("GET", "network/0/activation/layerid/x", None, 400, "layerid"),
    ("GET", "network/0/weighthistogram/layerid/99", None, 404, "layer id 99"),
    ("GET", "network/0/activationhistogram/layerid/-3", None, 404, "layer id -3"),
    ("GET", "network/3/classificationresult", None, 404, "network 3"),
    ("GET", "dataset/5/images", None, 404, "dataset 5 does not exist"),
    ("GET", "noiseimage/9", None, 404, "noise generator 9"),
    ("GET", "network/0/featurevisualization/layerid/2", None, 400, "info panel"),
    ("GET", "network/0/featurevisualization/layerid/50", None, 404, "layer id 50"),
    ("GET", "no/such/route", None, 404, "no such resource"),
    ("POST", "network", "{}", 405, ""),
    ("PUT", "network/0/prepareforinput", "dummy", 400, "not JSON"),
    ("PUT", "network/0/prepareforinput", "[1, 2]", 400, "JSON object"),
    ("PUT", "network/0/prepareforinput", "{}", 400, "'mode' is required"),
    ("PUT", "network/0/prepareforinput", '{"mode": "one"}', 400, "'mode' must be an integer"),
    ("PUT", "network/0/prepareforinput", '{"mode": 1, "imageID": true}', 400, "'imageID' must be an integer"),
    ("PUT", "network/0/prepareforinput", '{"mode": 1, "imageID": 1.5}', 400, "'imageID' must be an integer"),
    ("PUT", "network/0/prepareforinput", '{"mode": 1, "imageID": 60}', 404, "imageID 60 is out of range"),
    ("PUT", "network/0/prepareforinput", '{"mode": 1, "datasetID": 2}', 404, "dataset 2"),
    ("PUT", "network/0/prepareforinput", '{"mode": 4, "noiseGeneratorID": 4}', 404, "noise generator 4"),
    ("PUT", "network/0/prepareforinput", '{"mode": 2}', 400, "mode 2"),
    ("PUT", "network/0/prepareforinput", '{"mode": 9}', 400, "mode must be one of"),
    ("PUT", "network/0/prepareforinput", '{"mode": 3, "networkID": 4}', 404, "network 4"),
    ("PUT", "network/0/prepareforinput", '{"mode": 3, "layerID": 77}', 404, "layer id 77"),
    ("PUT", "network/0/prepareforinput", b"\xff\xfe", 400, "not JSON"),
    ("PUT", "network/0/export/layerid/1", '{"mode": 1}', 400, "export needs mode 2"),
    ("PUT", "network/0/export/layerid/1", "nope", 400, "not JSON"),
    ("GET", "network/0/prepareforinput", None, 405, ""),
]


@pytest.fixture(scope="module")
def server_client(tmp_path_factory):
    from dvvr import Server, Session
    from dvvr_jupyter.protocol.client import VRClient

    import tiny

    session = Session(cache_dir=tmp_path_factory.mktemp("cache"))
    session.attach(tiny.TinyTracked(), tiny.tiny_images(), name="tiny", class_names=tiny.CLASSES, input_size=(32, 36))
    server = Server(session, "127.0.0.1", 0).start()
    client = VRClient(server.url)
    yield client
    client.close()
    server.stop()
    session.close()


@pytest.mark.parametrize(("method", "resource", "body", "status", "words"), BAD_REQUESTS)
def test_bad_input_is_a_clear_json_4xx(server_client, method, resource, body, status, words):
    answer = server_client.request(method, resource, body)
    assert answer.status == status, answer.body
    assert answer.body["status"] == status and words in answer.body["message"]
    # ...and the server keeps serving.
    assert server_client.request("GET", "network").status == 200


def test_missing_ids_count_as_zero(server_client):
    answer = server_client.request("PUT", "network/0/prepareforinput", json.dumps({"mode": 1}))
    assert answer.status == 200


def test_numeric_strings_are_read_as_numbers(server_client):
    answer = server_client.request("PUT", "network/0/prepareforinput", '{"mode": "1", "imageID": "2"}')
    assert answer.status == 200


def test_body_too_large_is_refused(server_client):
    answer_status = None
    try:
        answer_status = server_client.request("PUT", "network/0/prepareforinput", b"{" + b" " * (2 << 20) + b"}").status
    except OSError:
        answer_status = "closed"  # tornado may close the connection on an oversized body
    assert answer_status in (400, 413, "closed")
    assert server_client.request("GET", "network").status == 200
