"""Screenshots for the README, from a real Jupyter server and kernel:
docs/notebook_panel.png (what ``%load_ext dvvr`` + the demo show in a cell)
and docs/sessions_page.png (``{base_url}dvvr/``).

Needs Debian's chromium.  Run: python docs/screenshots.py
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from dvvr_jupyter.testing.jupyter import JupyterServer, Kernel

REPO = Path(__file__).resolve().parent.parent
BASE_URL = "/user/bench/"  # a JupyterHub-style prefix, as in the README's screenshots

CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
            "--disable-background-networking", "--disable-component-update", "--hide-scrollbars"]
PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
body {{ font-family: sans-serif; font-size: 14px; margin: 16px; }}
.prompt {{ color: #307fc1; font-family: monospace; }} pre {{ background: #f5f5f5; padding: 8px; margin: 0 0 8px; }}
</style></head><body>
<div class="prompt">In [1]:</div><pre>%load_ext dvvr
import dvvr
dvvr.load_project("projects/demo")</pre>
<div class="prompt">Out:</div>{panel}</body></html>"""


def shoot(html_file: Path, png: Path, size: str) -> None:
    subprocess.run([*CHROMIUM, f"--user-data-dir={html_file.parent / 'chrome'}", f"--window-size={size}",
                    f"--screenshot={png}", html_file.as_uri()], check=True, capture_output=True, timeout=120)
    print(f"wrote {png}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        server = JupyterServer(tmp, base_url=BASE_URL)
        kernel = None
        try:
            server.wait_ready()
            kernel = Kernel(server)
            code = (
                "%load_ext dvvr\nimport dvvr, json\n"
                f"dvvr.load_project({str(REPO / 'projects' / 'demo')!r})\n"
                "from dvvr_jupyter.kernel.display import Panel\nfrom dvvr_jupyter.kernel.service import current\n"
                "print('BENCH ' + json.dumps({'html': Panel(current().status()).html()}))\n"
            )
            panel = kernel.run(code)[0]["html"]
            (tmp / "panel.html").write_text(PAGE.format(panel=panel))
            shoot(tmp / "panel.html", REPO / "docs" / "notebook_panel.png", "1100,330")
            request = urllib.request.Request(server.base + "dvvr/",
                                             headers={"Authorization": f"token {server.token}"})
            with urllib.request.urlopen(request, timeout=30) as resp:
                (tmp / "sessions.html").write_bytes(resp.read())
            shoot(tmp / "sessions.html", REPO / "docs" / "sessions_page.png", "1000,1160")
            print(json.dumps({"vr_url": server.vr_url().replace(server.vr_url().split("/")[-2], "<token>")}))
        finally:
            if kernel is not None:
                kernel.shutdown()
            server.stop()


if __name__ == "__main__":
    main()
