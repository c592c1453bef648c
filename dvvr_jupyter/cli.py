"""``dvvr serve PROJECT``: the standalone server, as the original ran."""

from __future__ import annotations

import argparse
import errno
import gc
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
from dataclasses import replace

from . import __version__
from .errors import ProjectError

INTERRUPTED = 130  # the shell's exit status for a process ended by Ctrl+C (128 + SIGINT)
#: What loading a project imports (seconds of work): listening must not wait
#: for any of it.  Logged at DEBUG when the server listens (tests/test_cli.py).
LOADED_AFTER_LISTENING = ("torch", "numpy", "PIL", "dvvr_jupyter.engine")

log = logging.getLogger("dvvr.serve")


#: Libraries whose DEBUG lines drown dvvr's own (PIL logs every chunk of every PNG it reads).
QUIET_LIBRARIES = ("PIL",)


def configure_logging(level: str) -> None:
    """``--log-level`` for dvvr and the server; the libraries in ``QUIET_LIBRARIES`` stay at INFO or above."""
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLevelName(level)))


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread that allocates its own 64 MB arena; the
    server's worker threads would otherwise add hundreds of MB of peak RSS."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


def _freeze_loaded_objects() -> None:
    """What the project loaded (torch, the model, tornado: some 400,000
    objects) lives as long as the server: the cyclic garbage collector stops
    walking it.  Its full collections had held the interpreter lock for
    0.3 s at a time in the middle of a switch, and collections took about
    1/7 of the lock's time on cold switches (py-spy, benchmarks/README.md)."""
    gc.collect()
    gc.freeze()


def _serve(args) -> int:
    """Listen first, then load: the base URL answers within a fraction of a
    second (the client gives it 2 s), and the other routes wait for the
    project, which takes seconds (torch import, weights, tracing)."""
    started = time.perf_counter()
    _limit_malloc_arenas()
    from concurrent.futures import Future

    from .protocol.server import Server

    token = secrets.token_urlsafe(16) if args.token == "random" else args.token
    try:
        ssl_options = _tls(args)
    except (OSError, ValueError) as exc:  # a missing, unreadable or mismatched certificate or key
        print(f"dvvr: cannot use the TLS certificate: {exc}", file=sys.stderr)
        return 2
    loading: Future = Future()
    server = Server(loading, args.host, args.port, token=token, precompute=not args.no_precompute,
                    ssl_options=ssl_options)
    try:
        server.start()
    except OSError as exc:
        print(f"dvvr: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        if exc.errno == errno.EADDRINUSE:
            print(f"  another program serves port {args.port}: choose another with --port N, or --port 0 for "
                  "any free port (the address is printed once listening)", file=sys.stderr)
        return 2
    _stop_on_sigterm()
    log.debug("imported when listening: %s", json.dumps({name: name in sys.modules for name in LOADED_AFTER_LISTENING}))
    print(f"dvvr {__version__}: listening after {time.perf_counter() - started:.2f} s; loading {args.project}",
          flush=True)
    session = None
    try:
        from .engine.project import load_project
        from .engine.session import Session

        session = Session(cache_dir=args.cache_dir, workers=args.workers, result_cache_mb=args.cache_mb)
        networks = load_project(args.project, session, adopt=True)
        if args.featvis_steps is not None:
            for network in networks:
                network.featvis.config = replace(network.featvis.config, steps=args.featvis_steps)
    except BaseException as exc:
        loading.set_exception(exc)
        server.stop()
        if session is not None:
            session.close()
        if isinstance(exc, KeyboardInterrupt):  # Ctrl+C: the user knows why, no traceback
            print(f"dvvr: interrupted while loading {args.project}", file=sys.stderr)
            return INTERRUPTED
        raise
    _freeze_loaded_objects()
    loading.set_result(session)
    try:
        print(f"serving {len(networks)} network(s), {len(session.datasets)} dataset(s), "
              f"{len(session.noise_generators)} noise generator(s) (ready in {time.perf_counter() - started:.1f} s)",
              flush=True)
        for network in networks:
            print(f"  network {network.id}: {network.name} ({len(network.layers)} layers)", flush=True)
        _print_xr_link(server.url)
        print(f"VR client base URL: {server.url}", flush=True)
        while server.running:
            time.sleep(0.5)
    except KeyboardInterrupt as stop:  # Ctrl+C (or SIGTERM, see _stop_on_sigterm): the way to stop serving
        how = " (SIGTERM)" if isinstance(stop, _Terminated) else ""
        server.stop()  # first: the IO loop may still be logging the request answered just before
        print(f"dvvr: stopped{how}", file=sys.stderr, flush=True)
    finally:
        server.stop()
        session.close()
    _exit_without_waiting_for_workers(0)
    return 0


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a service manager): stops serving as Ctrl+C does."""


def _stop_on_sigterm() -> None:
    def terminated(signum, frame):
        raise _Terminated

    signal.signal(signal.SIGTERM, terminated)


def _tls(args):
    """The server's ``ssl.SSLContext`` (None: plain http); prints what a browser will ask about."""
    if args.self_signed:
        from pathlib import Path

        from .engine.paths import default_cache_dir
        from .protocol.server import url_host
        from .protocol.tls import context, self_signed

        folder = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
        cert = self_signed(folder / "tls", args.host, url_host(args.host))
        print(f"TLS: self-signed certificate {cert.certfile} for {', '.join(cert.names)}\n"
              f"  SHA-256 fingerprint {cert.fingerprint}\n"
              f"  a browser warns once about it: check this fingerprint in its certificate details, then proceed",
              flush=True)
        return context(cert.certfile, cert.keyfile)
    if args.certfile:
        from .protocol.tls import context

        return context(args.certfile, args.keyfile)
    return None


def _print_xr_link(url: str) -> None:
    """The browser 3D client's link, and a QR code of it for a headset's browser."""
    import segno

    link = f"{url}xr/"
    print(f"3D view in a browser: {link}", flush=True)
    if url.startswith("http://") and "://127." not in url and "://localhost" not in url:
        print("  (a headset's browser allows WebXR only over https: add --self-signed or --certfile/--keyfile)")
    segno.make(link, error="m").terminal(out=sys.stdout, compact=True)
    sys.stdout.flush()


def _exit_without_waiting_for_workers(code: int, grace: float = 1.0) -> None:
    """Exit now: after at most ``grace`` seconds for busy worker threads, the
    ``atexit`` functions, then ``os._exit``.

    Python joins pool threads at exit (daemon or not), and a feature
    visualization in progress runs for minutes: Ctrl+C would hang.  And even
    an idle server spent ~3 s of a 3.5 s Ctrl+C in the interpreter's own
    teardown (freeing every module: torch's, with its thread pools), after
    everything was stopped.  Nothing is lost by skipping it: results are
    stored with atomic writes, and the ``atexit`` functions still run."""
    import atexit

    deadline = time.monotonic() + grace
    others = [t for t in threading.enumerate() if t is not threading.current_thread()]
    for thread in others:
        thread.join(max(0.0, deadline - time.monotonic()))
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _bounded_int(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not in {low}..{high}")
        return value
    return parse


def _token(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("an empty token would serve without one: leave --token out, or use 'random'")
    return text


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="dvvr", description="Serve PyTorch networks to the DeepVisionVR client.")
    parser.add_argument("--version", action="version", version=f"dvvr {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve a project folder (or .py file) in the foreground")
    serve.add_argument("project", help="a folder with project.py, or a .py file")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    serve.add_argument("--port", type=_bounded_int(0, 65535), default=5570, help="port (default 5570, the client's default; 0 = any)")
    serve.add_argument("--token", type=_token, default=None,
                       help="capability in the URL path (http://host:port/<token>/); 'random' makes one")
    serve.add_argument("--cache-dir", default=None, help="where feature visualizations and exports go")
    serve.add_argument("--workers", type=_bounded_int(1, 256), default=None,
                       help="threads that compute and encode answers (default: CPU count + 2, at most 8)")
    serve.add_argument("--featvis-steps", type=_bounded_int(1, 10**9), default=None,
                       help="gradient steps per feature visualization (default 24; fewer is faster, more drives each "
                            "channel harder)")
    serve.add_argument("--cache-mb", type=float, default=256,
                       help="memory for results shared between headsets and inputs computed ahead (default 256)")
    serve.add_argument("--no-precompute", action="store_true",
                       help="do not compute the dataset images and the noise image ahead while idle")
    tls = serve.add_mutually_exclusive_group()
    tls.add_argument("--certfile", help="serve https with this PEM certificate (WebXR in a headset's browser needs "
                                        "https); --keyfile if the key is in another file")
    tls.add_argument("--self-signed", action="store_true",
                     help="serve https with a self-signed certificate for this machine's names, made once and kept "
                          "in the cache dir (its fingerprint is printed)")
    serve.add_argument("--keyfile", help="the private key of --certfile (PEM)")
    serve.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS,
                       help="logging level (default INFO)")
    args = parser.parse_args(argv)
    if getattr(args, "keyfile", None) and not args.certfile:
        parser.error("--keyfile needs --certfile")
    configure_logging(args.log_level)
    try:
        return _serve(args)
    except (FileNotFoundError, ProjectError) as exc:  # the project's own code errors keep their traceback
        print(f"dvvr: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the server listened
        print("dvvr: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
