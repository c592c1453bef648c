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

#: True once the notebook's kernel is connected and idle.
KERNEL_READY = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!kernel && kernel.connectionStatus === "connected" && kernel.status === "idle";
}"""
KERNEL_STATUS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  return panel.sessionContext.session.kernel.status;
}"""


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
        return f"{self.base}lab/tree/{path}?token={self.token}"

    def notebook_url(self, path: str) -> str:
        """The same notebook in Notebook 7."""
        return f"{self.base}notebooks/{path}?token={self.token}"


def have_chromium() -> bool:
    return Path(CHROMIUM).exists()


def launch_chromium(playwright):
    """Debian's Chromium, headless, through Playwright."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


class NotebookPage:
    """A notebook open in JupyterLab or Notebook 7, driven through the app's
    own commands (``window.jupyterapp``)."""

    def __init__(self, page):
        self.page = page

    def wait_kernel(self, timeout: float = 120) -> None:
        """Until the kernel's websocket is connected and the kernel idle."""
        self.page.wait_for_function(KERNEL_READY, timeout=timeout * 1000)

    def kernel_status(self) -> str:
        return self.page.evaluate(KERNEL_STATUS)

    def cell_count(self) -> int:
        return self.page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets.length")

    def run_cells_before(self, index: int) -> None:
        """Run every cell above cell ``index``."""
        self.page.evaluate("""async (index) => {
          const panel = window.jupyterapp.shell.currentWidget;
          panel.content.activeCellIndex = index;
          await window.jupyterapp.commands.execute("notebook:run-all-above");
        }""", index)

    def start_cell(self, index: int) -> None:
        """Start running cell ``index`` (returns at once)."""
        self.page.evaluate("""(index) => {
          const panel = window.jupyterapp.shell.currentWidget;
          panel.content.activeCellIndex = index;
          window.jupyterapp.commands.execute("notebook:run-cell");
        }""", index)

    def append_cell(self, source: str) -> int:
        """Add a code cell with ``source`` at the end; its index."""
        return self.page.evaluate("""async (source) => {
          const panel = window.jupyterapp.shell.currentWidget;
          panel.content.activeCellIndex = panel.content.widgets.length - 1;
          await window.jupyterapp.commands.execute("notebook:insert-cell-below");
          const cell = panel.content.activeCell;
          cell.model.sharedModel.setSource(source);
          return panel.content.activeCellIndex;
        }""", source)
