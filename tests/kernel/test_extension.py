"""``%load_ext dvvr`` in a real IPython shell: the kernel-side server, its
secret, the registration the Jupyter server reads, and the ``%dvvr`` magic."""

import json
import os
import stat

import pytest
from IPython.core.error import UsageError

# No marker: an IPython shell in this process, no Jupyter server or kernel.


@pytest.fixture
def ip(tmp_path, monkeypatch, session):
    """A real IPython shell whose dvvr service shows ``session``, with
    private Jupyter runtime and data dirs."""
    from IPython.core.interactiveshell import InteractiveShell

    from dvvr_jupyter.kernel import service

    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    for var in ("JPY_SESSION_NAME", "JPY_PARENT_PID", "DVVR_PUBLIC_URL", "JUPYTERHUB_PUBLIC_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(service, "_current", service.KernelService(session))
    shell = InteractiveShell.instance()
    yield shell
    if "dvvr" in shell.extension_manager.loaded:
        shell.run_line_magic("unload_ext", "dvvr")


def registration(tmp_path):
    from dvvr_jupyter.kernel import current

    return tmp_path / "runtime" / "dvvr" / f"kernel-{current().kernel_id}.json"


def attach_tiny(session):
    import tiny

    session.attach(tiny.TinyTracked(), tiny.tiny_images(), name="tiny", class_names=tiny.CLASSES, input_size=(32, 36))


def test_load_serves_with_secret_and_registers(ip, tmp_path, session, client_for, capsys):
    from dvvr_jupyter.kernel import current

    ip.run_line_magic("load_ext", "dvvr")
    service = current()
    assert service.running
    assert "no Jupyter server runs this kernel" in capsys.readouterr().out

    path = registration(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entry = json.loads(path.read_text())
    assert entry["pid"] == os.getpid() and entry["port"] == service.server.port
    assert entry["kernel_id"] == f"pid-{os.getpid()}" and entry["name"] == entry["kernel_id"][:8]
    assert (tmp_path / "runtime" / "dvvr" / "active").read_text() == entry["kernel_id"]

    attach_tiny(session)
    base = f"http://127.0.0.1:{entry['port']}/"
    assert client_for(base).request("GET", "").status == 403
    assert client_for(base, headers={"X-Dvvr-Secret": "wrong"}).request("GET", "network").status == 403
    client = client_for(base, headers={"X-Dvvr-Secret": entry["secret"]})
    state = client.start_up()
    assert state["counts"]["nnetworks"] == 1
    client.switch(0, state["networks"][0], {"mode": 1, "imageID": 0})
    assert service.status()["clients"] == ["127.0.0.1"]

    ip.run_line_magic("unload_ext", "dvvr")
    assert not path.exists() and not service.running
    assert not (tmp_path / "runtime" / "dvvr" / "active").exists()


def test_attach_in_a_cell_shows_the_status(ip, capsys):
    ip.run_line_magic("load_ext", "dvvr")
    capsys.readouterr()
    ip.run_cell(
        "import tiny\nfrom dvvr_jupyter.kernel import current\n"
        "current().session.attach(tiny.TinyTracked(), tiny.tiny_images(), name='tiny-cell', "
        "input_size=(32, 36))"
    )
    out = capsys.readouterr().out
    assert "networks: tiny-cell" in out
    ip.run_cell("x = 1")  # nothing new attached: no output
    assert capsys.readouterr().out == ""


def test_magic_status_url_stop_start(ip, tmp_path, session, client_for, capsys):
    from dvvr_jupyter.kernel import current

    ip.run_line_magic("load_ext", "dvvr")
    attach_tiny(session)
    capsys.readouterr()
    ip.run_line_magic("dvvr", "status")
    out = capsys.readouterr().out
    assert "networks: tiny" in out and "VR clients in the last minute: none" in out
    with pytest.raises(UsageError, match="serve --port 5570"):
        ip.run_line_magic("dvvr", "url")  # no Jupyter server runs this shell

    # a Jupyter server's info file for our parent process: the URL goes through it
    runtime = tmp_path / "runtime"
    (runtime / f"jpserver-{os.getppid()}.json").write_text(
        json.dumps({"url": "http://localhost:8888/user/demo/", "base_url": "/user/demo/"})
    )
    ip.run_line_magic("dvvr", "url")
    url = capsys.readouterr().out.strip()
    token_file = tmp_path / "data" / "dvvr" / "vr-token"
    token = token_file.read_text()
    assert url == f"http://localhost:8888/user/demo/dvvr/vr/{token}/"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600 and len(token) >= 32
    ip.run_line_magic("dvvr", "rotate")
    assert token_file.read_text() != token and "new VR URL" in capsys.readouterr().out

    ip.run_line_magic("dvvr", "name my-notebook")
    assert json.loads(registration(tmp_path).read_text())["name"] == "my-notebook"
    assert "/dvvr/vr/<token>/s/my-notebook/" in capsys.readouterr().out

    ip.run_line_magic("dvvr", "stop")
    assert not current().running and not registration(tmp_path).exists()
    with pytest.raises(UsageError, match="%dvvr start"):
        ip.run_line_magic("dvvr", "activate")
    ip.run_line_magic("dvvr", "start")
    assert current().running and registration(tmp_path).exists()
    with pytest.raises(UsageError, match="invalid choice"):
        ip.run_line_magic("dvvr", "bogus")


def serve_directly(ip, session, capsys) -> str:
    """The tiny model attached and served on a direct port (``%dvvr serve``); its URL."""
    ip.run_line_magic("load_ext", "dvvr")
    attach_tiny(session)
    ip.run_line_magic("dvvr", "serve --port 0")
    return capsys.readouterr().out.strip().rsplit(" ", 1)[-1]


def test_serve_directly(ip, session, client_for, capsys):
    url = serve_directly(ip, session, capsys)
    assert url.startswith("http://127.0.0.1:") and url.endswith("/")
    state = client_for(url).start_up()  # no secret on a direct server
    assert state["counts"]["nnetworks"] == 1
    with pytest.warns(UserWarning, match="anyone who can reach"):
        ip.run_line_magic("dvvr", "serve --port 0 --host 0.0.0.0")


def test_import_dvvr_stays_cheap():
    import subprocess
    import sys

    code = "import sys, dvvr; assert 'torch' not in sys.modules and 'IPython' not in sys.modules, sys.modules.keys()"
    subprocess.run([sys.executable, "-c", code], check=True)



def fake_jupyter_server(tmp_path) -> str:
    """A Jupyter server's info file for our parent process (the URL goes through it); the token."""
    (tmp_path / "runtime" / f"jpserver-{os.getppid()}.json").write_text(
        json.dumps({"url": "http://localhost:8888/user/demo/", "base_url": "/user/demo/"})
    )
    from dvvr_jupyter.bridge.token import read_token

    return read_token()


def test_saved_outputs_hide_the_token_a_widget_shows_it(ip, tmp_path, session):
    from ipywidgets.widgets.widget import _instances

    from dvvr_jupyter.kernel import current
    from dvvr_jupyter.kernel.display import Panel

    ip.run_line_magic("load_ext", "dvvr")
    attach_tiny(session)
    token = fake_jupyter_server(tmp_path)
    data, _ = ip.display_formatter.format(Panel(current().status()))  # what a notebook saves
    assert token not in json.dumps(data) and "text/html" not in data
    assert "dvvr/vr/<token>/" in data["text/plain"] and "%dvvr url prints it" in data["text/plain"]
    shown = _instances[data["application/vnd.jupyter.widget-view+json"]["model_id"]].value  # live only
    assert f"http://localhost:8888/user/demo/dvvr/vr/{token}/" in shown and "<svg" in shown


def test_headset_magic(ip, tmp_path, session, capsys):
    ip.run_line_magic("load_ext", "dvvr")
    attach_tiny(session)
    with pytest.raises(UsageError, match="no VR URL yet"):
        ip.run_line_magic("dvvr", "headset")  # no Jupyter server and no direct server
    token = fake_jupyter_server(tmp_path)
    capsys.readouterr()
    ip.run_line_magic("dvvr", "headset")
    ip.run_line_magic("dvvr", "headset")
    out = capsys.readouterr().out
    assert "/dvvr/vr/<token>/h/h1/" in out and "/dvvr/vr/<token>/h/h2/" in out and token not in out
    ip.run_line_magic("dvvr", "url h1")
    assert capsys.readouterr().out.strip() == f"http://localhost:8888/user/demo/dvvr/vr/{token}/h/h1/"
    session.networks[0].set_input(1, view="h3")  # a view in use is not handed out again
    ip.run_line_magic("dvvr", "headset")
    assert "/h/h4/" in capsys.readouterr().out
    with pytest.raises(UsageError, match="a headset name has 1 to 64"):
        ip.run_line_magic("dvvr", "headset bad/name")


def test_headset_url_of_a_direct_server(ip, session, client_for, capsys):
    serve_directly(ip, session, capsys)
    ip.run_line_magic("dvvr", "url alice")
    url = capsys.readouterr().out.strip()
    assert url.endswith("/h/alice/")
    client_for(url).put("network/0/prepareforinput", '{"mode": 1, "imageID": 2}')
    assert session.networks[0].peek("alice").input.describe().startswith("image 2")


def test_dvvr_stop_during_a_feature_visualization(ip, session, tmp_path):
    from dvvr_jupyter.kernel import current
    from dvvr_jupyter.testing.probes import refuses, start_featvis

    from conftest import FOREVER

    ip.run_line_magic("load_ext", "dvvr")
    attach_tiny(session)
    network = session.networks[0]
    network.featvis.config = type(network.featvis.config)(steps=FOREVER)
    network.set_input(0)
    ip.run_line_magic("dvvr", "serve --port 0")
    url = current().direct.url
    start_featvis(url)
    secret_url = f"http://127.0.0.1:{current().server.port}/"
    ip.run_line_magic("dvvr", "stop")  # returns (the cell ends) with both servers closed
    assert refuses(url) and refuses(secret_url) and not current().running
    network.featvis.cancel()


def test_magics_that_name_the_vr_url_show_it_live_not_kept(ip, tmp_path, session, capsys):
    # %dvvr name, activate and rotate tell the URL: what a notebook saves (the
    # printed text, a display's text/plain) hides the token; a widget shows it live.
    from ipywidgets.widgets.widget import _instances

    ip.run_line_magic("load_ext", "dvvr")
    token = fake_jupyter_server(tmp_path)
    capsys.readouterr()
    for line in ("name my-notebook", "activate", "rotate"):
        ip.run_line_magic("dvvr", line)
    saved = capsys.readouterr().out
    new_token = (tmp_path / "data" / "dvvr" / "vr-token").read_text()
    assert token not in saved and new_token not in saved, saved
    assert "/dvvr/vr/<token>/s/my-notebook/" in saved and "new VR URL" in saved
    shown = " ".join(getattr(w, "value", "") for w in list(_instances.values()) if isinstance(getattr(w, "value", None), str))
    assert f"/dvvr/vr/{new_token}/" in shown


def test_status_panels_do_not_pile_up_widgets(ip, tmp_path, session):
    # each display of a panel made a widget that was never closed: saved widget state held them all, with the token
    from ipywidgets.widgets.widget import _instances

    ip.run_line_magic("load_ext", "dvvr")
    token = fake_jupyter_server(tmp_path)

    def holding_token():
        return [w for w in list(_instances.values()) if token in str(getattr(w, "value", ""))]

    for _ in range(5):
        ip.run_line_magic("dvvr", "status")
        ip.run_line_magic("dvvr", "headset h1")
    assert len(holding_token()) == 2  # the latest status and the latest h1 panel


def test_once_an_explorer_shows_the_urls_the_load_ext_panel_points_there(ip, tmp_path, session):
    # the URLs and QR codes once per purpose in a notebook: the explorer's Connection panel has them
    from dvvr_jupyter.kernel import current
    from dvvr_jupyter.kernel.display import Panel

    ip.run_line_magic("load_ext", "dvvr")
    attach_tiny(session)
    token = fake_jupyter_server(tmp_path)
    assert "<svg" in Panel(current().status()).html()
    current().explorer_shown = True  # what an explorer sets in a Jupyter kernel (tests/browser: the notebook's panel)
    shown = Panel(current().status()).html()
    assert token not in shown and "<svg" not in shown and "explorer's <b>Connection</b> panel" in shown
    assert "networks: tiny" in shown
