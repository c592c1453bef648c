"""https for WebXR beyond localhost: a self-signed certificate made once
and kept, and a server that serves with a given certificate and key."""

import json
import ssl
import urllib.request

from dvvr_jupyter.protocol.tls import context, self_signed


def test_the_self_signed_certificate_is_kept_until_the_names_change(tmp_path):
    first = self_signed(tmp_path, "127.0.0.1")
    assert {"localhost", "127.0.0.1"} <= set(first.names)
    assert oct(first.keyfile.stat().st_mode & 0o777) == "0o600"  # the key: its owner only
    again = self_signed(tmp_path, "127.0.0.1")
    assert again.fingerprint == first.fingerprint  # kept: a browser that accepted it is not asked again
    other = self_signed(tmp_path, "0.0.0.0", "10.1.2.3")  # a LAN address it does not cover yet
    assert other.fingerprint != first.fingerprint and "10.1.2.3" in other.names


def test_a_server_with_a_certificate_and_key_serves_https(serve, tiny_session, tmp_path):
    cert = self_signed(tmp_path, "127.0.0.1")
    server = serve(tiny_session, ssl_options=context(cert.certfile, cert.keyfile))
    assert server.url.startswith("https://127.0.0.1:")
    trusting = ssl.create_default_context(cafile=str(cert.certfile))
    with urllib.request.urlopen(server.url + "events/0", timeout=30, context=trusting) as resp:
        assert json.load(resp)["events"] == []
    with urllib.request.urlopen(server.url + "xr/", timeout=30, context=trusting) as resp:
        assert resp.headers["Content-Type"].startswith("text/html")
