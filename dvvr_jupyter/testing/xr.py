"""The 3D client (``<VR URL>xr/``) in headless Chromium, for its tests and
benchmark: wait on ``window.dvvr``, click things in the scene, and put on an
emulated headset (Meta's Immersive Web Emulation Runtime, ``iwer``, a Quest 3)
whose controller aims at a thing and pulls the trigger."""

from __future__ import annotations

import json
import math

from .browser import REPO
from .waiting import wait_until

IWER = REPO / "tests" / "browser" / "vendor" / "iwer.min.js"
TIMEOUT = 180_000  # ms: a generous bound on one step on a shared 2-core machine (a hang fails, never a pass)

#: Installed before the page's own scripts: navigator.xr becomes the emulated Quest 3.
HEADSET = """
window.__xrDevice = new IWER.XRDevice(IWER.metaQuest3);
window.__xrDevice.installRuntime({forceInstall: true});
"""


class XRPage:
    """``url`` (an ``.../xr/`` page) in a new page of ``browser``; ``headset``: with the emulated Quest 3."""

    def __init__(self, browser, url: str, *, headset: bool = False, viewport=(960, 600)):
        self.page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        self.errors: list[str] = []
        self.requested: list[str] = []  # every URL the page asked for (the favicon's included)
        self.page.on("pageerror", lambda exc: self.errors.append(f"{exc}\n{exc.stack}"))
        self.page.on("request", lambda request: self.requested.append(request.url))
        if headset:
            self.page.add_init_script(path=str(IWER))
            self.page.add_init_script(HEADSET)
        self.page.goto(url)

    def status(self) -> dict:
        return json.loads(self.page.evaluate("JSON.stringify(window.dvvr)"))

    def wait(self, condition: str, arg=None, timeout: float = TIMEOUT) -> None:
        """Until the expression ``condition`` (``dvvr`` and ``arg`` in scope) is truthy.  Polled from
        here: Playwright's ``wait_for_function`` compiles its predicate with ``eval``, which the
        page's Content-Security-Policy forbids."""
        check = f"(arg) => {{ const dvvr = window.dvvr; return !!dvvr && !!({condition}); }}"
        wait_until(lambda: self.page.evaluate(check, arg), timeout / 1000, f"the 3D page: {condition}")

    def wait_ready(self) -> dict:
        self.wait("dvvr.ready || dvvr.error")
        status = self.status()
        assert status["error"] is None, status["error"]
        return status

    def click(self, thing: str) -> None:
        """A mouse click on ``thing`` (``dataset:3``, ``layer:2``, ``newnoise:0``...), the view turned to it first."""
        # a layer from close by (the stage in front of it is at least 0.75 m away), a panel from further
        self.page.evaluate("([id, distance]) => window.dvvr.lookAt(id, distance)",
                           [thing, 0.5 if thing.startswith("layer:") else 1.8])
        spot = self.page.evaluate("(id) => window.dvvr.locate(id)", thing)
        self.page.mouse.click(*spot["screen"])

    def enter_vr(self) -> None:
        self.page.get_by_role("button", name="ENTER VR").click()
        self.wait("dvvr.presenting")

    def controller_select(self, thing: str, hand: str = "right") -> None:
        """The ``hand`` controller, held at chest height, aims its ray at ``thing`` and pulls the trigger."""
        target = self.page.evaluate("(id) => window.dvvr.locate(id).rig", thing)
        origin = [0.2 if hand == "right" else -0.2, 1.3, -0.3]
        quaternion = look_rotation([t - o for t, o in zip(target, origin, strict=True)])
        self.page.evaluate("""([hand, origin, q]) => {
            const controller = window.__xrDevice.controllers[hand];
            controller.position.set(...origin);
            controller.quaternion.set(...q);
        }""", [hand, origin, quaternion])
        self.frames(3)  # the pose reaches the session before the trigger
        self.page.evaluate("(hand) => window.__xrDevice.controllers[hand].updateButtonValue('trigger', 1)", hand)
        self.frames(3)
        self.page.evaluate("(hand) => window.__xrDevice.controllers[hand].updateButtonValue('trigger', 0)", hand)

    def squeeze(self, hand: str = "left") -> None:
        """A grip press and release of the ``hand`` controller."""
        for value in (1, 0):
            self.page.evaluate("([hand, value]) => window.__xrDevice.controllers[hand].updateButtonValue('squeeze', value)",
                               [hand, value])
            self.frames(3)

    def frames(self, count: int) -> None:
        """Until ``count`` more turns of the page's animation loop (XR frames while presenting)."""
        self.wait("dvvr.frames >= arg", self.page.evaluate("window.dvvr.frames") + count)

    def close(self) -> None:
        self.page.close()


def look_rotation(direction) -> list[float]:
    """The quaternion (x, y, z, w) turning -z (where a controller's ray points) to ``direction``."""
    x, y, z = direction
    length = math.sqrt(x * x + y * y + z * z)
    x, y, z = x / length, y / length, z / length
    # shortest arc from (0, 0, -1) to (x, y, z): axis = (0,0,-1) x d, angle from the dot product
    dot = -z
    axis = (y, -x, 0.0)  # (0, 0, -1) x (x, y, z) = (0*z - (-1)*y, (-1)*x - 0*z, 0) = (y, -x, 0)
    w = 1.0 + dot
    if w < 1e-6:  # pointing straight back: half a turn about y
        return [0.0, 1.0, 0.0, 0.0]
    norm = math.sqrt(axis[0] ** 2 + axis[1] ** 2 + w * w)
    return [axis[0] / norm, axis[1] / norm, 0.0, w / norm]
