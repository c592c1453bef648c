"""Bad input answers a clear 4xx JSON error; the server keeps serving."""

import json

import pytest

import dvvr

BAD_REQUESTS = [
    # method, resource, body, status, words the message must contain
    ("GET", "network/7", None, 404, "network 7 does not exist"),
    ("GET", "network/-1", None, 400, "networkid in the path must be an integer of ASCII digits"),
    ("GET", "network/abc", None, 400, "networkid in the path must be an integer"),
    ("GET", "network/0/activation/layerid/99", None, 404, "layer id 99 is out of range"),
    ("GET", "network/0/activation/layerid/2", None, 400, "info panel"),
    ("GET", "network/0/activation/layerid/x", None, 400, "layerid"),
    ("GET", "network/0/weighthistogram/layerid/99", None, 404, "layer id 99"),
    ("GET", "network/0/activationhistogram/layerid/-3", None, 400, "layerid in the path"),
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
    # ids are ASCII digits only (int() would read "1_0" as 10, "٣" as 3)
    ("GET", "network/0/activation/layerid/1_0", None, 400, "layerid in the path must be an integer of ASCII digits"),
    ("GET", "network/0/activation/layerid/%D9%A3", None, 400, "layerid in the path"),
    ("GET", "network/%200/classificationresult", None, 400, "networkid in the path"),
    ("GET", "network/0000000001/classificationresult", None, 400, "networkid in the path"),
    ("PUT", "network/0/prepareforinput", '{"mode": "\u0663"}', 400, "'mode' must be an integer"),
    ("PUT", "network/0/prepareforinput", '{"mode": "\u00b2"}', 400, "'mode' must be an integer"),
    ("PUT", "network/0/prepareforinput", '{"mode": "-+1"}', 400, "'mode' must be an integer"),
    ("PUT", "network/0/prepareforinput", '{"mode": 1, "imageID": "1_0"}', 400, "'imageID' must be an integer"),
    ("PUT", "network/0/prepareforinput", '{"mode": 1, "imageID": 1e300}', 400, "'imageID' is out of range"),
    ("PUT", "network/0/prepareforinput", '{"mode": NaN}', 400, "NaN is not a number"),
    # limited before parsing: json's parser recurses per level, int() of 5,000 digits raises
    ("PUT", "network/0/prepareforinput", "[" * 985, 400, "nests too deep"),
    ("PUT", "network/0/prepareforinput", '{"mode": 1, "x": ' + "[" * 9 + "]" * 9 + "}", 400, "nests too deep"),
    ("PUT", "network/0/prepareforinput", '{"mode": 1, "imageID": ' + "1" * 5000 + "}", 400, "5000 digits"),
    ("PUT", "network/0/export/layerid/1", "{" * 2000, 400, "nests too deep"),
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


def test_strings_of_nested_brackets_are_not_nesting(server_client):
    body = json.dumps({"mode": 1, "className": "[[[[[[[[[[{{{{{{{{{{", "tex": None})
    assert server_client.request("PUT", "network/0/prepareforinput", body).status == 200


@pytest.mark.parametrize("body", ['"' + '\\"' * 400_000, '{"mode": 1, "className": "' + '\\"' * 400_000 + '\\'])
def test_escaped_quotes_are_read_in_one_pass(server_client, body):
    # Skipping strings was quadratic on these (~2 hours for 1 MiB, the IO loop held meanwhile).
    answer = server_client.request("PUT", "network/0/prepareforinput", body)
    assert answer.status == 400
    assert "JSON" in answer.body["message"]
    assert server_client.request("GET", "").status == 200


def raw_exchange(url: str, request: bytes) -> tuple[int, dict, dict]:
    """Send ``request`` bytes as they are; the answer's status, headers and JSON body."""
    import http.client
    import socket
    import urllib.parse

    address = urllib.parse.urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, dict(response.getheaders()), json.loads(response.read())


def test_a_body_over_the_limit_is_413_json_before_it_is_read(server_client):
    path = server_client._url.path + "network/0/prepareforinput"
    # 100 MB announced, none sent: the answer comes from the headers alone
    status, headers, body = raw_exchange(
        server_client.base_url,
        f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {100 << 20}\r\n\r\n".encode())
    assert (status, body["status"], body["error"]) == (413, 413, "PayloadTooLarge"), body
    assert "over the limit of 1048576 bytes" in body["message"]
    assert server_client.request("GET", "network").status == 200


def test_a_chunked_body_over_the_limit_is_413_json(server_client):
    path = server_client._url.path + "network/0/prepareforinput"
    chunk = b"%x\r\n%s\r\n" % (1 << 16, b" " * (1 << 16))
    request = f"PUT {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    status, _, body = raw_exchange(server_client.base_url, request + chunk * 17 + b"0\r\n\r\n")
    assert (status, body["error"]) == (413, "PayloadTooLarge"), body


@pytest.mark.parametrize("method, resource", [("GET", "network"), ("GET", ""), ("PUT", "network/0/setnetworkgenfeatvis")])
def test_one_body_limit_on_every_route(server_client, method, resource):
    # routes that do not read a body answered 200 to 2 MiB ones, while the Jupyter path answered 413
    path = server_client._url.path + resource
    request = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {2 << 20}\r\n\r\n".encode()
    status, _, body = raw_exchange(server_client.base_url, request + b" " * (2 << 20))
    assert (status, body["error"]) == (413, "PayloadTooLarge"), body


@pytest.mark.parametrize("line", ["GET /{} HTTP/1.1\r\nHost: x\r\n\r\n".format("a" * (70 << 10)),
                                  "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n".format("b" * (70 << 10))])
def test_a_request_line_or_header_over_64_kib_is_400_json(server_client, line):
    status, headers, body = raw_exchange(server_client.base_url, line.encode())
    assert (status, body["error"]) == (400, "BadRequest"), body
    assert server_client.request("GET", "network").status == 200


@pytest.mark.parametrize("framing", [
    "Content-Length: abc\r\n",
    "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
    "Bad Header Line\r\n",
])
def test_malformed_framing_is_400_json(server_client, framing):
    path = server_client._url.path + "network"
    status, headers, body = raw_exchange(server_client.base_url,
                                         f"PUT {path} HTTP/1.1\r\nHost: x\r\n{framing}\r\n".encode())
    assert (status, body["status"], body["error"]) == (400, 400, "BadRequest"), body
    assert "not well-formed HTTP" in body["message"] and headers["Content-Type"].startswith("application/json")
    assert server_client.request("GET", "network").status == 200


@pytest.mark.parametrize("resource", [
    "network/0/export/layerid/..%2F..%2F1", "dataset/..%2F..%2Fetc/images", "h/..%2F..%2F/network",
    "h/../network", "noiseimage/%2E%2E", "..%2F..%2Fetc%2Fpasswd",
])
def test_no_path_traversal(server_client, resource):
    answer = server_client.request("PUT" if "export" in resource else "GET", resource, '{"mode": 2}')
    assert 400 <= answer.status < 500 and answer.body["status"] == answer.status, answer.body


def test_unreadable_dataset_images(session, serve, client_for, tmp_path, caplog):
    from PIL import Image

    import tiny

    root = tmp_path / "photos"
    for label, name in enumerate(["ant", "bee"]):
        (root / name).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (40, 30), (60 * i, 100, 30 * label)).save(root / name / f"{i}.jpg")
    (root / "ant" / "1.jpg").write_text("not a picture")  # corrupt from the start
    session.attach(tiny.TinyTracked(), dvvr.ImageFolder(root), input_size=(32, 36))
    (root / "bee" / "0.jpg").unlink()  # gone while serving
    client = client_for(serve(session).url)
    page = client.get("dataset/0/images")  # the client's start-up still works
    assert page["len"] == 4 and page["label_ids"] == [0, 0, 1, 1]
    assert "cannot be read" in caplog.text
    for image_id, reason in ((1, "UnidentifiedImageError"), (2, "FileNotFoundError")):
        answer = client.request("PUT", "network/0/prepareforinput", json.dumps({"mode": 1, "imageID": image_id}))
        assert answer.status == 422 and answer.body["field"] == "imageID"
        assert f"image {image_id} of dataset 'photos' cannot be read ({reason}" in answer.body["message"]
        assert str(tmp_path) not in answer.body["message"], answer.body  # no server paths to token holders
        assert f"{image_id % 2}.jpg" in answer.body["message"]  # the file's name is enough to find it
    ok = client.request("PUT", "network/0/prepareforinput", json.dumps({"mode": 1, "imageID": 3}))
    assert ok.status == 200


@pytest.mark.parametrize("half_sent", [b"GET /network HTTP/1.1\r\nHost: x\r\n",  # headers never finished
                                       b"PUT /network/0/prepareforinput HTTP/1.1\r\nHost: x\r\n"
                                       b"Content-Length: 100\r\n\r\n{\"mode\"",  # a body that stops coming
                                       b""])  # an idle connection
def test_idle_and_slow_sockets_are_closed(serve, tiny_session, half_sent):
    import socket

    # every socket held open costs a file descriptor: a slow sender must not keep one forever
    server = serve(tiny_session, idle_timeout=0.5, body_timeout=0.5)
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(half_sent)
        data = b""
        while chunk := sock.recv(4096):  # a socket left open would time out here (60 s)
            data += chunk
    assert data == b"" or data.startswith(b"HTTP/1.1 4"), data


def test_a_long_unknown_path_is_logged_short(serve, tiny_session, client_for, caplog):
    # a 60 KB path was written to the log twice (its 404's message and the access line): log floods
    import logging

    caplog.set_level(logging.DEBUG)
    client = client_for(serve(tiny_session).url)
    answer = client.request("GET", "x" * 60_000)
    assert answer.status == 404
    assert max(len(r.getMessage()) for r in caplog.records) < 1_000
