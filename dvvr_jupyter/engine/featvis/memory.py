"""Giving a finished job's memory back to the system."""

from __future__ import annotations

import ctypes
import gc

import torch


def release_memory() -> None:
    """Collect what the job left (model copies, images), empty the CUDA caching
    allocator, and hand glibc's freed arenas back: a long-running kernel stays small."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    _malloc_trim()


def _malloc_trim() -> None:
    """glibc keeps freed memory of large tensors in its arenas; hand it back to the system."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc
