"""Helpers for the Jupyter tests: the kernel code, a kernel driver, requests
that leave the server's event loop free."""

import asyncio
import json
from functools import partial

from jupyter_client.blocking import BlockingKernelClient

SETUP = """
%load_ext dvvr
import torch, dvvr, tiny
model = tiny.TinyTracked()
model.train()
before = {k: v.clone() for k, v in model.state_dict().items()}
dvvr.attach(model, tiny.tiny_images(), name="tiny", class_names=tiny.CLASSES, input_size=(32, 36))
"""

UNTOUCHED = """
after = model.state_dict()
assert model.training, "the model left train mode"
assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before), "weights changed"
"""

# A generous bound on one request: a hang fails the test instead of blocking it.
REQUEST_TIMEOUT = 30


class Kernel:
    """A kernel of the Jupyter server under test, and a blocking client."""

    def __init__(self, manager, kernel_id):
        self.manager = manager
        self.id = kernel_id
        self.client = None
        self.live: list[str] = []  # what widgets showed (their state: not saved with the notebook)
        self.connect()

    def connect(self):
        if self.client is not None:
            self.client.stop_channels()
        # parent: the kernel's manager, so that "alive" means its process runs (a missed
        # heartbeat on a loaded machine is no death)
        self.client = BlockingKernelClient(parent=self.manager.get_kernel(self.id))
        self.client.load_connection_info(self.manager.get_kernel(self.id).get_connection_info())
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    async def run(self, code: str, timeout: float = 120) -> str:
        """Execute ``code``; the text of its outputs (what a notebook saves).
        What widgets showed live is added to ``self.live``.  Raises on an error."""
        outputs = []

        def hook(msg):
            content = msg["content"]
            if msg["msg_type"] in ("comm_open", "comm_msg"):
                self.live.append(json.dumps(content.get("data", {})))
            elif msg["msg_type"] == "stream":
                outputs.append(content["text"])
            elif msg["msg_type"] in ("display_data", "execute_result"):
                outputs.append(content["data"].get("text/plain", ""))
                outputs.append(content["data"].get("text/html", ""))
            elif msg["msg_type"] == "error":
                outputs.append("\n".join(content["traceback"]))

        run = partial(self.client.execute_interactive, code, timeout=timeout, output_hook=hook)
        reply = await in_thread(run)
        text = "\n".join(outputs)
        assert reply["content"]["status"] == "ok", text
        return text

    def start(self, code: str) -> str:
        """Send ``code`` to run without waiting for it; its message id (for ``reply``)."""
        return self.client.execute(code)

    async def reply(self, msg_id: str, timeout: float = 120) -> dict:
        """The execute reply of a cell sent with ``start``."""

        def wait():
            while True:
                msg = self.client.get_shell_msg(timeout=timeout)
                if msg["parent_header"].get("msg_id") == msg_id:
                    return msg

        return await in_thread(wait)

    async def restart(self):
        await self.manager.restart_kernel(self.id)
        self.connect()

    async def shutdown(self, now: bool = True):
        """``now``: kill it; else ask it to shut down (and kill it only if it does not end in time)."""
        self.client.stop_channels()
        await self.manager.shutdown_kernel(self.id, now=now)


async def in_thread(fn, *args):
    """Blocking calls from the test must not block the server's loop (the same loop)."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def request(client, method, resource, body=None):
    """``client.request`` off the server's loop, bounded by ``REQUEST_TIMEOUT``."""
    return await in_thread(partial(client.request, method, resource, body, timeout=REQUEST_TIMEOUT))


def body_of(error) -> dict:
    return json.loads(error.response.body)
