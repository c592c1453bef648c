"""A server with a capability token (``dvvr serve --token``): the token is
compared literally, a wrong one answers JSON, guessing is held back per
address, and no log line shows the token, whatever the path looks like."""

import http.client
import logging
import socket
import urllib.parse

import pytest

from dvvr_jupyter.testing.waiting import wait_until

TOKEN = "my.tok+en"  # regular-expression characters: must be matched as they are


@pytest.fixture
def token_server(serve, tiny_session):
    return serve(tiny_session, token=TOKEN)


def raw(url: str, method: str, path: str, headers: dict | None = None) -> tuple[int, bytes]:
    """One request with ``path`` sent exactly as given (no normalising client in between)."""
    address = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_the_token_is_matched_literally(token_server, client_for):
    assert token_server.url.endswith(f"/{TOKEN}/")
    assert client_for(token_server.url).request("GET", "network").status == 200
    # as a pattern, "my.tok+en" would match these
    for lookalike in ("myXtokkkken", "my-token", "mytoken"):
        answer = client_for(token_server.url.replace(TOKEN, lookalike)).request("GET", "network")
        assert answer.status == 404 and answer.body["error"] == "NotFound", answer.body
        assert "no such VR URL" in answer.body["message"]


def test_without_the_token_nothing_is_served(token_server, client_for):
    bare = token_server.url.replace(f"{TOKEN}/", "")
    for resource in ("network", "", "openapi.json", "network/0/classificationresult"):
        answer = client_for(bare).request("GET", resource)
        assert answer.status == 404 and "no such VR URL" in answer.body["message"], (resource, answer.body)


def test_no_log_line_shows_the_token(token_server, caplog):
    caplog.set_level(logging.DEBUG)
    url = token_server.url
    near = TOKEN[:-1] + "X"  # a typo of the token: as secret as the token itself
    shapes = [
        ("GET", f"/{TOKEN}", {}),  # no trailing slash
        ("GET", f"//{TOKEN}/network", {}),
        ("GET", f"/{TOKEN}/network", {}),
        ("GET", f"/{TOKEN}/no/such/resource", {}),
        ("GET", f"/{TOKEN}/network/99", {}),
        ("PROPFIND", f"/{TOKEN}/network", {}),
        ("GET", f"/{near}/network", {}),
        ("GET", f"/{TOKEN}/network/0", {"Referer": url}),
        ("PUT", f"/{TOKEN}/network/0/prepareforinput", {"Content-Length": "abc"}),
        ("GET", f"http://example.org/{near}/network", {}),  # absolute form, as to a proxy
        ("GET", f"http://example.org/{TOKEN}/network", {}),
    ]
    for method, path, headers in shapes:
        status, body = raw(url, method, path, headers)
        assert status < 500, (method, path, status, body)
    # a header tornado cannot parse: its log line quotes the value
    address = urllib.parse.urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(f"GET /{TOKEN}/network HTTP/1.1\r\nHost: x\r\nReferer: {url}\x01\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 400")
    wait_until(lambda: "Malformed HTTP message" in caplog.text, 10, "tornado did not log the bad header")
    assert "<token>/network" in caplog.text  # the access log ran, the token hidden
    assert TOKEN not in caplog.text and near not in caplog.text


def test_wrong_tokens_are_held_back_and_logged_once_per_burst(token_server, client_for, caplog):
    caplog.set_level(logging.INFO, logger="dvvr")
    guess = client_for(token_server.url.replace(TOKEN, "guess"))
    statuses = [guess.request("GET", "network").status for _ in range(25)]
    assert statuses[:10] == [404] * 10 and set(statuses[10:]) == {429}
    held = guess.request("GET", "network")
    assert held.body["error"] == "TooManyRequests" and "try again in" in held.body["message"]
    # a burst of wrong tokens from the same address never keeps the right token out
    right = client_for(token_server.url)
    mixed = [(right if i % 3 == 0 else guess).request("GET", "network").status for i in range(30)]
    assert mixed[::3] == [200] * 10 and set(mixed) - set(mixed[::3]) == {429}, mixed
    bursts = [r for r in caplog.records if "wrong VR token" in r.getMessage()]
    assert len(bursts) == 1 and bursts[0].levelname == "WARNING"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "429" in r.getMessage()]
    # and one wrong try a second comes back
    wait_until(lambda: guess.request("GET", "network").status == 404, 30, "no wrong token was let through")


def test_retry_after_header(token_server):
    url = token_server.url
    for _ in range(11):
        status, _ = raw(url, "GET", "/nope/network")
    address = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    connection.request("GET", "/nope/network")
    response = connection.getresponse()
    assert response.status == 429 and int(response.getheader("Retry-After")) >= 1
    connection.close()


@pytest.mark.parametrize("token", ["a%41b", "tok en+/x?#"])
def test_tokens_with_url_characters_print_a_working_url(serve, tiny_session, client_for, caplog, token):
    caplog.set_level(logging.DEBUG)
    server = serve(tiny_session, token=token)
    assert token not in server.url  # percent-encoded where a URL needs it
    client = client_for(server.url)
    assert client.request("GET", "network").status == 200
    assert client.request("GET", "network/0").status == 200
    assert raw(server.url, "GET", "/a%41b/network")[0] == 404 or token != "a%41b"  # the decoded look-alike
    assert token not in caplog.text and urllib.parse.quote(token, safe="!$&'()*+,;=:@") not in caplog.text


def test_cli_refuses_an_empty_token_and_bad_numbers():
    from dvvr_jupyter.cli import main

    for argv in (["serve", "x", "--token", ""], ["serve", "x", "--port", "70000"],
                 ["serve", "x", "--log-level", "bogus"], ["serve", "x", "--workers", "0"]):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2, argv
