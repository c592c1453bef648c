"""The explorer's ES modules as the one entry module anywidget loads.

The browser side is plain ES modules (``static/*.js``) that import each
other with ``./name.js`` specifiers: served as static files over HTTP they
load as they are, and a reader finds where every name is defined.  anywidget,
though, takes one module's text and imports it from a ``blob:`` URL, against
which a relative specifier cannot resolve.  So ``link`` writes a small entry
module that, in the browser, turns each module into a ``blob:`` URL of its own
(dependencies first) with its ``./name.js`` specifiers replaced by the
``blob:`` URLs of those dependencies, imports the entry's, and re-exports its
default.  No bundler, no build step: the text of each module is unchanged but
for its specifiers.

Only static ``import ... from "./x.js"``, ``import "./x.js"`` and
``export ... from "./x.js"`` of the same folder are linked; anything else
relative (``../``, dynamic ``import()``) is refused when linking, not left
to fail in the browser.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

# The specifier of a static import or re-export: `from "./x.js"` or a bare `import "./x.js"`.
_SPECIFIER = re.compile(r"""(?:\bfrom|^\s*import)\s*(["'])(\.{1,2}/[^"']*)\1""", re.M)
_DYNAMIC = re.compile(r"""\bimport\s*\(\s*["']\.""")
_SAME_FOLDER = re.compile(r"\./[A-Za-z0-9_-]+\.js")

_LOADER = """\
// The explorer's ES modules ({folder}/), linked for anywidget by
// dvvr_jupyter/widgets/module_linker.py.  This entry is imported from a blob:
// URL, against which "./x.js" cannot resolve: each module becomes a blob: URL
// of its own whose "./x.js" specifiers are its dependencies' blob: URLs.
const modules = {modules}; // [name, [text, dependency, text, ...]], dependencies first
const urls = new Map();
for (const [name, parts] of modules) {{
  const text = parts.map((part, i) => (i % 2 ? urls.get(part) : part)).join("");
  // sourceURL: stack traces and the browser's developer tools name the file
  const source = text + "\\n//# sourceURL=dvvr-explorer/" + name + "\\n";
  urls.set(name, URL.createObjectURL(new Blob([source], {{ type: "text/javascript" }})));
}}
const entry = await import(urls.get({entry}));
for (const url of urls.values()) URL.revokeObjectURL(url); // the module graph is loaded
export default entry.default;
"""


def split_module(name: str, text: str) -> list[str]:
    """``text`` cut at its ``./x.js`` specifiers: ``[text, "x.js", text, ...]``."""
    if _DYNAMIC.search(text):
        msg = f"{name}: a dynamic import() of a relative path cannot be linked; import it statically"
        raise ValueError(msg)
    parts, last = [], 0
    for match in _SPECIFIER.finditer(text):
        specifier = match.group(2)
        if not _SAME_FOLDER.fullmatch(specifier):
            msg = f"{name}: {specifier!r} is not a module of the same folder (./name.js): it cannot be linked"
            raise ValueError(msg)
        parts += [text[last:match.start(2)], specifier[2:]]
        last = match.end(2)
    parts.append(text[last:])
    return parts


def dependency_order(folder: Path, entry: str) -> list[tuple[str, list[str]]]:
    """``(name, parts)`` of ``entry`` and every module it imports, each after its dependencies."""
    ordered: list[tuple[str, list[str]]] = []
    done: set[str] = set()

    def visit(name: str, importers: list[str]) -> None:
        if name in importers:
            msg = "an import circle between the explorer's modules: " + " -> ".join([*importers, name])
            raise ValueError(msg)
        if name in done:
            return
        path = folder / name
        if not path.is_file():
            msg = f"{' -> '.join(importers) or 'the entry'} imports ./{name}, which is not in {folder}"
            raise ValueError(msg)
        parts = split_module(name, path.read_text(encoding="utf-8"))
        for dependency in parts[1::2]:
            visit(dependency, [*importers, name])
        done.add(name)
        ordered.append((name, parts))

    visit(entry, [])
    return ordered


def link(folder: Path, entry: str) -> str:
    """One ES module that loads ``folder/entry`` and its imports, and
    exports the entry's default (anywidget's ``{ render }``)."""
    modules = dependency_order(folder, entry)
    return _LOADER.format(folder=folder.name, modules=json.dumps(modules, ensure_ascii=False),
                          entry=json.dumps(entry))
