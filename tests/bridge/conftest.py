import asyncio
import threading

import pytest
import tornado.httpserver
import tornado.netutil


@pytest.fixture
def loopback():
    """``loopback(app)`` serves a tornado app on a loopback port on its own
    thread and event loop; returns its base URL (ends with ``/``)."""
    running = []

    def start(app) -> str:
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        def run():
            asyncio.set_event_loop(loop)
            server = tornado.httpserver.HTTPServer(app)
            server.add_sockets(sockets)
            ready.set()
            loop.run_forever()
            server.stop()
            loop.close()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        ready.wait()
        running.append((loop, thread))
        return f"http://127.0.0.1:{sockets[0].getsockname()[1]}/"

    yield start
    for loop, thread in running:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
