"""Keeping capability tokens out of log lines.

The path a log line shows has its first segment (where the token goes)
replaced by ``<token>`` on a server that has a token, whatever the segment
holds: a wrong token is often a typo of the right one.  ``SecretFilter``
catches what other code logs (tornado's own messages quote header values).
"""

from __future__ import annotations

import logging
import re

HIDDEN = "<token>"
_FIRST_SEGMENT = re.compile(r"(/*)([^/]*)(.*)", re.S)

#: The loggers whose records the filter rewrites: this package's and tornado's.
LOGGERS = ("dvvr", "dvvr.access", "dvvr.protocol", "dvvr.server", "tornado.access", "tornado.application",
           "tornado.general")


def redact_path(path: str, token: str | None) -> str:
    """``path`` as a log line may show it on a server whose token is ``token``."""
    if not token:
        return path
    slashes, first, rest = _FIRST_SEGMENT.match(path).groups()
    return slashes + (HIDDEN if first else "") + rest.replace(token, HIDDEN)


class SecretFilter(logging.Filter):
    """Rewrites any record whose message holds one of ``secrets``."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, HIDDEN)
            record.msg, record.args = message, None
        return True


def install(secrets: list[str]) -> SecretFilter:
    """Add a ``SecretFilter`` to every logger of ``LOGGERS``; ``remove`` it when done."""
    secret_filter = SecretFilter(secrets)
    for name in LOGGERS:
        logging.getLogger(name).addFilter(secret_filter)
    return secret_filter


def remove(secret_filter: SecretFilter) -> None:
    for name in LOGGERS:
        logging.getLogger(name).removeFilter(secret_filter)
