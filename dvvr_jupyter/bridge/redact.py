"""Keeping capability tokens and secrets out of log lines.

The protocol server's own lines show a path whose first segment (where the
token goes) is replaced by ``<token>`` whatever it holds: a wrong token is
often a typo of the right one.  ``SecretFilter`` catches what other code
logs (tornado quotes header values it cannot parse; libraries log URLs and
headers at DEBUG): it rewrites literal secrets and patterns such as the VR
path's token segment in every record of the loggers it is installed on.
"""

from __future__ import annotations

import logging
import re
import urllib.parse

HIDDEN = "<token>"
_FIRST_SEGMENT = re.compile(r"(/*)([^/]*)(.*)", re.S)
_ABSOLUTE_FORM = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/]*")

#: The VR path through Jupyter: ``.../dvvr/vr/<token>...`` (any token, right or wrong), also in
#: the shapes Jupyter's own 404 logs: doubled slashes, other case, ``%2F`` for the slashes.
VR_PATH_TOKEN = (re.compile(r"(dvvr(?:/|%2F)+vr(?:/|%2F)+)(?!<token>)[^/\s\"'?#%]+", re.I), r"\1" + HIDDEN)
#: A kernel's secret header as a debug dump may show it (``X-Dvvr-Secret: ...``, ``'X-Dvvr-Secret': '...'``).
SECRET_HEADER_VALUE = (re.compile(r"(X-Dvvr-Secret['\"]?\s*[:=,]\s*['\"]?)[^\s'\",}]+", re.I), r"\1<secret>")

#: The protocol server's loggers and tornado's.
PROTOCOL_LOGGERS = ("dvvr", "dvvr.access", "dvvr.protocol", "dvvr.server", "tornado.access", "tornado.application",
                    "tornado.general")


#: The longest path a log line shows whole.
MAX_LOGGED_PATH = 200


def shorten(text: str, limit: int = MAX_LOGGED_PATH) -> str:
    """``text`` cut to ``limit`` characters, saying how many more there were."""
    return text if len(text) <= limit else f"{text[:limit]}…({len(text) - limit} more characters)"


def url_segment(token: str) -> str:
    """``token`` as one path segment of a URL (percent-encoded where RFC 3986 needs it)."""
    return urllib.parse.quote(token, safe="!$&'()*+,;=:@")


def redact_path(path: str, token: str | None) -> str:
    """``path`` as a log line may show it on a server whose token is ``token``."""
    if not token:
        return path
    absolute = _ABSOLUTE_FORM.match(path)  # "GET http://host/<token>/..." (a proxy's request line)
    if absolute:
        return absolute.group(0) + redact_path(path[absolute.end():], token)
    slashes, first, rest = _FIRST_SEGMENT.match(path).groups()
    for form in (token, url_segment(token)):  # as given, and as a URL carries it
        rest = rest.replace(form, HIDDEN)
    return slashes + (HIDDEN if first else "") + rest


class SecretFilter(logging.Filter):
    """Rewrites any record whose message holds one of ``secrets`` (also
    percent-encoded, in any mix of cases) or matches one of ``patterns``
    (``(regex, replacement)`` pairs).  ``provider()``, if given, adds the
    secrets of the moment (the current VR token, the live kernels' secrets):
    it is called per record, so it must be cheap (a stat, not a read)."""

    def __init__(self, secrets: list[str] = (), patterns: list[tuple[re.Pattern, str]] = (), provider=None):
        super().__init__()
        self.secrets = [s for s in secrets if s]
        self.patterns = list(patterns)
        self.provider = provider

    def _secrets(self) -> list[str]:
        if self.provider is None:
            return self.secrets
        try:
            extra = [s for s in self.provider() if s]
        except Exception:  # noqa: BLE001 - a log line must never fail for this
            extra = []
        return self.secrets + extra

    def redact(self, text: str) -> str:
        secrets = self._secrets()
        if "%" in text and secrets:  # a token written %-encoded (any bytes, any case) is still the token
            decoded = urllib.parse.unquote(text)
            if decoded != text and any(secret in decoded for secret in secrets):
                text = decoded
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, HIDDEN)
        for pattern, replacement in self.patterns:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:  # a traceback's text may quote the secret too
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        return True


def install(secrets: list[str] = (), patterns: list[tuple[re.Pattern, str]] = (),
            loggers: tuple[str, ...] = PROTOCOL_LOGGERS, provider=None, handlers_of: tuple[str, ...] = ()
            ) -> SecretFilter:
    """Add a ``SecretFilter`` to each of ``loggers`` (their own records) and
    to the handlers of ``handlers_of`` (``""``: the root logger), which also
    see what any child logger propagates to them; ``remove`` it when done."""
    secret_filter = SecretFilter(secrets, patterns, provider)
    secret_filter.loggers = loggers
    secret_filter.handlers = list(dict.fromkeys(
        handler for name in handlers_of for handler in logging.getLogger(name or None).handlers))
    for name in loggers:
        logging.getLogger(name).addFilter(secret_filter)
    for handler in secret_filter.handlers:
        handler.addFilter(secret_filter)
    return secret_filter


def remove(secret_filter: SecretFilter) -> None:
    for name in secret_filter.loggers:
        logging.getLogger(name).removeFilter(secret_filter)
    for handler in getattr(secret_filter, "handlers", ()):
        handler.removeFilter(secret_filter)
