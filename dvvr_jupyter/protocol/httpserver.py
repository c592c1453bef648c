"""tornado's HTTP server, with a JSON answer where it would answer a bare 400.

tornado answers a request it cannot frame (a malformed request line or
header, a bad ``Content-Length``, broken chunks) with the bytes
``HTTP/1.1 400 Bad Request`` and no body, before any handler exists.  The
VR client reads every answer as JSON, so those bytes are swapped for a 400
in the ``DvvrError.to_json()`` shape, and so is a request line or header
over tornado's ``max_header_size`` (64 KiB), which it would end with no
answer at all.  Request bodies are limited by the
handlers (413 with JSON, see ``handlers.ProtocolHandler``), so tornado's own
limit is set far above theirs and never answers first.
"""

from __future__ import annotations

import tornado.httpserver
import tornado.iostream

from ..errors import BadRequest, error_answer

_BARE_400 = b"HTTP/1.1 400 Bad Request\r\n\r\n"
_MESSAGE = "the request is not well-formed HTTP (its request line, a header or the body's framing)"
_, _, _BODY = error_answer(BadRequest(_MESSAGE))
_JSON_400 = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=UTF-8\r\n"
             b"Content-Length: %d\r\nConnection: close\r\n\r\n%s") % (len(_BODY), _BODY)

#: tornado's own body limit: above any handler's, so that the handler answers.
TRANSPORT_MAX_BODY = 1 << 40


class JSONErrorHTTPServer(tornado.httpserver.HTTPServer):
    """``HTTPServer`` whose framing errors answer JSON."""

    def handle_stream(self, stream, address) -> None:
        write, close = stream.write, stream.close

        def write_json_errors(data, *args, **kwargs):
            return write(_JSON_400 if data == _BARE_400 else data, *args, **kwargs)

        def close_answering(exc_info=False):
            # A request line or header over max_header_size: tornado's stream gives up reading
            # and closes without a word; the JSON 400 goes out first (small: the socket takes it).
            if isinstance(exc_info, tornado.iostream.UnsatisfiableReadError) and not stream.closed():
                try:
                    stream.socket.send(_JSON_400)
                except OSError:
                    pass  # the client is gone already
            return close(exc_info)

        stream.write = write_json_errors
        stream.close = close_answering
        super().handle_stream(stream, address)
