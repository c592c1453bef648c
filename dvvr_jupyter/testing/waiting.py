"""Wait for a condition instead of sleeping for a guessed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
POLL = 0.05  # seconds between two looks


def _attempts(timeout: float, what: str):
    """Yields until ``timeout`` seconds have passed, then raises ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        yield
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")


def wait_until(condition: Callable[[], T], timeout: float, what: str) -> T:
    """``condition()``'s first truthy answer; ``TimeoutError`` naming ``what``
    if none came within ``timeout`` seconds."""
    for _ in _attempts(timeout, what):
        if answer := condition():
            return answer
        time.sleep(POLL)


async def wait_until_async(condition: Callable[[], T], timeout: float, what: str) -> T:
    """``wait_until`` for a coroutine: the event loop keeps running between looks."""
    for _ in _attempts(timeout, what):
        if answer := condition():
            return answer
        await asyncio.sleep(POLL)


def wait_file(path: Path, timeout: float) -> Path:
    """``path`` once it exists."""
    return wait_until(lambda: path if path.exists() else None, timeout, f"{path} did not appear")
