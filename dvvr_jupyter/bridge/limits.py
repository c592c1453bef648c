"""Limits on what a client may send, shared by the protocol server, the
kernel's explorer routes and the Jupyter server's routes (so all answer an
oversized or over-deep body the same way): the body's size (413) and the one
check of a JSON body (``parse_json_object``: 400 before parsing anything
that would make the parser recurse deep or build huge integers)."""

import json
import re
from itertools import accumulate

from ..errors import BadRequest, PayloadTooLarge

#: The largest request body either side reads.  The client's biggest body is
#: an ``ActivationImage`` (well under a kilobyte); anything larger is refused
#: with 413 before it is read.
MAX_BODY_BYTES = 1 << 20
#: A body declared larger than this is refused from its headers, unread (its
#: sender may see the connection closed while it still writes).  Up to it, an
#: oversized body is read and dropped before the 413 goes out, so an ordinary
#: client that sent a little too much reads the answer instead of a reset.
REFUSE_UNREAD_BYTES = 16 * MAX_BODY_BYTES


def body_too_large_message(size: int | None = None) -> str:
    """The words of the 413 answer."""
    given = f" ({size} bytes)" if size is not None else ""
    return f"the request body{given} is over the limit of {MAX_BODY_BYTES} bytes"


class LimitedBody:
    """For a tornado handler that streams its body (``stream_request_body``):
    keeps at most ``MAX_BODY_BYTES``, counts the rest, and ``body`` answers
    413 beyond the limit.  ``refuse_unread()`` (from ``prepare``) refuses a
    body declared larger than ``REFUSE_UNREAD_BYTES`` before it is read.
    Shared by the protocol server and the Jupyter server's VR proxy."""

    _received = 0

    def refuse_unread(self) -> None:
        declared = self.request.headers.get("Content-Length", "")
        if declared.strip().isdigit() and int(declared) > REFUSE_UNREAD_BYTES:
            raise PayloadTooLarge(body_too_large_message(int(declared)))
        # One limit on every route: one that never reads its body answers 413 too (as
        # the Jupyter path, which forwards every body, does), not 200.
        name = self.request.method.lower()
        verb = getattr(self, name, None)
        if callable(verb) and name not in vars(self):

            def size_checked(*args, **kwargs):
                self.body  # noqa: B018 - raises PayloadTooLarge over the limit
                return verb(*args, **kwargs)

            setattr(self, name, size_checked)

    def data_received(self, chunk: bytes) -> None:
        if not self._received:
            self._chunks: list[bytes] = []
        self._received += len(chunk)
        if self._received <= MAX_BODY_BYTES:  # beyond it: counted, dropped, refused in ``body``
            self._chunks.append(chunk)

    @property
    def body(self) -> bytes:
        """The request body (413 if it was over the limit)."""
        if self._received > MAX_BODY_BYTES:
            raise PayloadTooLarge(body_too_large_message(self._received))
        return b"".join(self._chunks) if self._received else b""


#: A request body is one flat object; deep nesting is refused before parsing
#: (json's parser recurses once per level: 100,000 levels are a RecursionError).
MAX_NESTING = 8
MAX_CONTAINERS = 256  # arrays and objects in one body (bounds the depth count's work)
MAX_INT_DIGITS = 30  # an integer literal longer than this is refused before it becomes an int
# A JSON string, or an unterminated one running to the end: a match never fails
# once begun, so no start is rescanned (linear on bodies such as '"' + '\\"' * n).
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.S)
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_BRACKETS = re.compile(r"[\[\]{}]")


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in the JSON ``text`` (strings skipped),
    counted without parsing it.  Past ``MAX_CONTAINERS`` arrays and objects
    the count stops: that many is already too deep for a request body."""
    outside_strings = _STRINGS.sub("", text)
    if outside_strings.count("[") + outside_strings.count("{") > MAX_CONTAINERS:
        return MAX_CONTAINERS
    brackets = "".join(_BRACKETS.findall(outside_strings))
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise BadRequest(f"the body has an integer of {len(digits)} digits (at most {MAX_INT_DIGITS})")
    return int(digits)


def parse_json_object(raw: bytes | str, what: str = "a JSON object") -> dict:
    """The JSON object in a request body, or ``BadRequest`` naming the
    problem (not UTF-8, too deep, an integer too long, NaN, not JSON, not an
    object).  ``what`` names the object in the messages."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body must be {what}, but it is not JSON (not UTF-8: {exc})") from None
    depth = nesting_depth(text)
    if depth > MAX_NESTING:
        how = f"more than {MAX_CONTAINERS} arrays or objects" if depth == MAX_CONTAINERS else f"{depth} levels deep"
        raise BadRequest(f"the body nests too deep ({how}; at most {MAX_NESTING} levels): not {what}")

    def no_constant(name: str):
        raise BadRequest(f"the body must be {what}, but it is not JSON: {name} is not a number")

    try:
        body = json.loads(text, parse_int=_bounded_int, parse_constant=no_constant)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BadRequest(f"the body must be {what}, but it is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be {what}, got a JSON {type(body).__name__}")
    return body
