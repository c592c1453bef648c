"""JupyterLab in a subprocess and Debian's headless Chromium driven by
Playwright: for the browser tests, the explorer benchmark and screenshots.

``LabServer`` is a ``JupyterServer`` running JupyterLab (Notebook 7's pages
are served by the same server when ``notebook`` is installed) with the app
object exposed to the page (``window.jupyterapp``), so a test can wait for
the kernel's real connection instead of guessing: a Shift+Enter sent before
the kernel's websocket connects is dropped silently.

Playwright's own browser download cannot work here: Chromium comes from
Debian's ``chromium`` package (``.ci/run`` installs it).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .jupyter import JupyterServer

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

#: The notebook panel showing ``path`` (the current widget first; JupyterLab
#: may have restored other tabs beside it).
PANEL = """(path) => {
  const app = window.jupyterapp;
  if (!app) return null;
  const current = app.shell.currentWidget;
  if (current && current.context && current.context.path === path) return current;
  for (const widget of app.shell.widgets("main")) {
    if (widget.context && widget.context.path === path) return widget;
  }
  return null;
}"""


def _with_panel(body: str, *, asynchronous: bool = True) -> str:
    """A page function ``(args) => ...`` with ``panel`` the notebook's panel
    (not ``async`` for ``wait_for_function``: a promise is always truthy)."""
    return f"{'async ' if asynchronous else ''}(args) => {{ const panel = ({PANEL})(args.path); {body} }}"


class LabServer(JupyterServer):
    """JupyterLab with isolated dirs (its settings and workspaces too) and
    ``window.jupyterapp`` exposed in JupyterLab and Notebook 7."""

    MODULE = "jupyterlab"
    ARGS = ("--LabApp.expose_app_in_browser=True", "--JupyterNotebookApp.expose_app_in_browser=True")

    def __init__(self, tmp: Path, base_url: str = "/", env: dict | None = None):
        own = {"JUPYTERLAB_SETTINGS_DIR": str(tmp / "lab-settings"),
               "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "lab-workspaces")}
        # no "get Jupyter news?" toast over the page (screenshots)
        notification = tmp / "lab-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        notification.parent.mkdir(parents=True)
        notification.write_text('{"fetchNews": "false", "checkForUpdates": false}')
        super().__init__(tmp, base_url, {**own, **(env or {})})

    def copy_in(self, *paths: str) -> None:
        """Copy folders or files of this repository into the server's root
        (so executing a notebook never writes into the checkout)."""
        for name in paths:
            source, target = REPO / name, self.root / name
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)

    def lab_url(self, path: str) -> str:
        """``path`` in JupyterLab, in a fresh workspace (no tabs of an earlier page restored)."""
        return f"{self.base}lab/tree/{path}?reset&token={self.token}"

    def notebook_url(self, path: str) -> str:
        """The same notebook in Notebook 7."""
        return f"{self.base}notebooks/{path}?token={self.token}"


def have_chromium() -> bool:
    return Path(CHROMIUM).exists()


#: WebGL without a GPU: ANGLE on SwiftShader (the 3D client's tests and benchmark).
WEBGL_ARGS = [*(a for a in CHROMIUM_ARGS if a != "--disable-gpu"), "--use-angle=swiftshader",
              "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]


def launch_chromium(playwright, webgl: bool = False):
    """Debian's Chromium, headless, through Playwright (``webgl``: with SwiftShader's WebGL)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=WEBGL_ARGS if webgl else CHROMIUM_ARGS,
                                      headless=True)


class NotebookPage:
    """The notebook ``path`` open in JupyterLab or Notebook 7, driven through
    the app's own commands (``window.jupyterapp``)."""

    def __init__(self, page, path: str):
        self.page = page
        self.path = path

    def _run(self, body: str, **args):
        return self.page.evaluate(_with_panel(body), {"path": self.path, **args})

    def wait_kernel(self, timeout: float = 120) -> None:
        """Until the kernel's websocket is connected and the kernel idle."""
        self.page.wait_for_function(_with_panel("""
          const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
          return !!kernel && kernel.connectionStatus === "connected" && kernel.status === "idle";""",
                                                            asynchronous=False),
                                    arg={"path": self.path}, timeout=timeout * 1000)

    def kernel_status(self) -> str:
        return self._run("return panel.sessionContext.session.kernel.status;")

    def _activate(self) -> str:
        return "window.jupyterapp.shell.activateById(panel.id); panel.content.activeCellIndex = args.index;"

    def run_cells_before(self, index: int) -> None:
        """Run every cell above cell ``index``."""
        self._run(self._activate() + 'await window.jupyterapp.commands.execute("notebook:run-all-above");',
                  index=index)

    def start_cell(self, index: int) -> None:
        """Start running cell ``index`` (returns at once)."""
        self._run(self._activate() + 'window.jupyterapp.commands.execute("notebook:run-cell");', index=index)

    def set_source(self, index: int, source: str) -> None:
        self._run("panel.content.widgets[args.index].model.sharedModel.setSource(args.source);", index=index,
                  source=source)
