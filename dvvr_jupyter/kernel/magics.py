"""``%dvvr``: status, url, start, stop, activate, name, rotate, serve."""

from __future__ import annotations

import argparse
import shlex

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.display import display

from .display import HeadsetPanel, Panel, UrlNote
from .service import current

USAGE = """%dvvr [status]                     the VR URL, networks and connected clients
%dvvr headset [NAME]               a URL for another headset (its own input), with its QR code
%dvvr url [NAME]                   print the VR URL (of headset NAME): printed, it is saved with the notebook
%dvvr activate                     make this kernel the target of the VR URL
%dvvr name NAME                    name this session (URL .../s/NAME/)
%dvvr rotate                       new VR URL (the old one stops working)
%dvvr serve [--port 5570] [--host H]  also serve the VR client directly
%dvvr stop | start                 stop / start serving from this kernel"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would exit the kernel
        raise UsageError(f"{message}\n{USAGE}")


def _parser() -> _Parser:
    parser = _Parser(prog="%dvvr", add_help=False, usage=USAGE)
    parser.add_argument(
        "command",
        nargs="?",
        default="status",
        choices=["status", "url", "headset", "activate", "name", "rotate", "serve", "stop", "start", "help"],
    )
    parser.add_argument("value", nargs="?")
    parser.add_argument("--port", type=int, default=5570)
    parser.add_argument("--host", default="127.0.0.1")
    return parser


def _headset(service, name: str | None) -> tuple[str, str]:
    try:
        return service.headset_url(name)
    except (ValueError, RuntimeError) as exc:
        raise UsageError(str(exc)) from None


def _need_running(service) -> None:
    if not service.running:
        raise UsageError("dvvr is stopped in this kernel: run %dvvr start")


@magics_class
class DvvrMagics(Magics):
    @line_magic
    def dvvr(self, line: str):
        args = _parser().parse_args(shlex.split(line))
        service = current()
        command = args.command
        if command == "help":
            print(USAGE)
        elif command == "status":
            display(Panel(service.status()))
        elif command == "url":
            urls = service.urls()
            url = urls["vr_url"] or urls["direct_url"]
            if url is None:
                raise UsageError(
                    "no Jupyter server runs this kernel: %dvvr serve --port 5570 serves the VR client directly"
                )
            print(_headset(service, args.value)[1] if args.value else url)
        elif command == "headset":
            _need_running(service)
            name, url = _headset(service, args.value)
            display(HeadsetPanel(name, url, secret=bool(service.urls()["vr_url"]) or service.status()["direct_token"]))
        elif command == "start":
            service.start()
            display(Panel(service.status()))
        elif command == "stop":
            service.stop()
            print("dvvr: stopped serving from this kernel (%dvvr start serves again)")
        elif command == "activate":
            _need_running(service)
            service.activate()
            display(UrlNote("dvvr: this kernel is now the target of {url}", service.urls()["vr_url"] or "the VR URL"))
        elif command == "name":
            if not args.value:
                raise UsageError(f"%dvvr name needs a name, e.g. %dvvr name mnist\n{USAGE}")
            _need_running(service)
            service.rename(args.value)
            display(UrlNote(f"dvvr: this session is {service.name!r}: {{url}}", service.urls()["named_url"]))
        elif command == "rotate":
            service.rotate()
            url = service.urls()["vr_url"] or "(shown once this kernel runs under Jupyter)"
            display(UrlNote("dvvr: new VR URL {url}\ntype it into every VR client: the old URL no longer works", url))
        elif command == "serve":
            try:
                server = service.serve(args.port, args.host)
            except OSError as exc:
                raise UsageError(str(exc)) from None
            print(f"dvvr: serving the VR client directly at {server.url}")
