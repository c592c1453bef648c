"""The explorer's browser side: ES modules that import each other, loaded in
headless Chromium both ways, as static files over HTTP and as the one linked
entry anywidget imports from a ``blob:`` URL."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

from dvvr_jupyter.testing.browser import have_chromium, launch_chromium
from dvvr_jupyter.widgets.explorer_widget import STATIC
from dvvr_jupyter.widgets.module_linker import dependency_order, link, split_module


def test_modules_come_after_their_dependencies():
    order = [name for name, _ in dependency_order(STATIC, "explorer.js")]
    assert order[-1] == "explorer.js" and set(order) == {p.name for p in STATIC.glob("*.js")}
    assert order.index("colormap.js") < order.index("panels.js")  # panels imports colormap


def test_specifiers_are_cut_out_and_nothing_else_changes():
    text = 'import { a } from "./a.js";\nexport { b } from \'./b.js\';\nimport "./c.js";\nconst s = "from";\n'
    parts = split_module("m.js", text)
    assert parts[1::2] == ["a.js", "b.js", "c.js"]
    assert "".join(p if i % 2 == 0 else "./" + p for i, p in enumerate(parts)) == text


@pytest.mark.parametrize(("text", "says"), [
    ('import { a } from "../a.js";', "not a module of the same folder"),
    ('import { a } from "./sub/a.js";', "not a module of the same folder"),
    ('const m = await import("./a.js");', "dynamic import()"),
])
def test_what_cannot_be_linked_is_refused(text, says):
    with pytest.raises(ValueError, match=says):
        split_module("m.js", text)


def test_a_circle_or_a_missing_module_is_refused(tmp_path):
    (tmp_path / "a.js").write_text('import { b } from "./b.js";\nexport const a = 1;\n')
    (tmp_path / "b.js").write_text('import { a } from "./a.js";\nexport const b = 2;\n')
    with pytest.raises(ValueError, match="a.js -> b.js -> a.js"):
        link(tmp_path, "a.js")
    (tmp_path / "b.js").write_text('import { c } from "./c.js";\nexport const b = 2;\n')
    with pytest.raises(ValueError, match=r"a.js -> b.js imports ./c.js, which is not in"):
        link(tmp_path, "a.js")


@pytest.fixture(scope="module")
def static_site():
    """``widgets/static/`` served over HTTP on loopback, as plain files."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(STATIC))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.browser
@pytest.mark.skipif(not have_chromium(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_both_ways_of_loading_give_the_same_module(static_site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(static_site)  # the folder's listing: a page of the same origin
            served = page.evaluate("async () => Object.keys(await import('./explorer.js')).join() + ' ' +"
                                   " typeof (await import('./explorer.js')).default.render")
            linked = page.evaluate("""async (text) => {
                const url = URL.createObjectURL(new Blob([text], { type: "text/javascript" }));
                const module = await import(url);  // what anywidget does with _esm
                return Object.keys(module).join() + " " + typeof module.default.render;
            }""", link(STATIC, "explorer.js"))
        finally:
            browser.close()
    assert served == linked == "default function" and not errors
