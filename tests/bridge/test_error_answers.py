"""``errors.error_answer`` and ``bridge.answers.JSONErrors``: the one error
body of every route, checked on a real tornado server on loopback."""

import json
import urllib.error
import urllib.request

import tornado.web

from dvvr_jupyter.bridge.answers import JSONErrors
from dvvr_jupyter.errors import BadRequest, NotFound, TooManyRequests, error_answer, error_body


def test_a_dvvr_error_answers_its_own_body_and_headers():
    status, headers, body = error_answer(TooManyRequests("slow down", retry_after=2.2))
    assert status == 429
    assert headers == {"Retry-After": "3", "Content-Type": "application/json; charset=UTF-8"}
    assert json.loads(body) == {"error": "TooManyRequests", "message": "slow down", "status": 429}
    assert error_body(BadRequest("no", field="layerid")) == {"error": "BadRequest", "message": "no", "status": 400,
                                                            "field": "layerid"}


def test_an_http_error_of_the_framework_keeps_its_status_and_reason():
    assert error_body(tornado.web.HTTPError(405), 405, "Method Not Allowed") == {
        "error": "Method Not Allowed", "message": "Method Not Allowed", "status": 405}
    assert error_body(tornado.web.HTTPError(403, "no %s here", "xsrf"), 403, "Forbidden") == {
        "error": "Forbidden", "message": "no xsrf here", "status": 403}
    # a log message that is not a format string for its arguments: as it is, never a crash
    assert error_body(tornado.web.HTTPError(400, "100% %d", "x"), 400, "Bad Request")["message"] == "100% %d"


def test_anything_else_is_a_500_that_says_where_to_look():
    status, _, body = error_answer(KeyError("secret detail"), failure="it failed (see the kernel log)")
    assert status == 500
    assert json.loads(body) == {"error": "InternalServerError", "message": "it failed (see the kernel log)",
                                "status": 500}


class Failing(JSONErrors, tornado.web.RequestHandler):
    failure_message = "the test route failed"

    def get(self, kind):
        if kind == "dvvr":
            raise TooManyRequests("wait", retry_after=1)
        if kind == "http":
            raise tornado.web.HTTPError(403)
        if kind == "bug":
            raise ZeroDivisionError
        raise NotFound("none")


def fetch(url: str):
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, dict(answer.headers), json.load(answer)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.load(err)


def test_every_error_of_a_handler_answers_json(loopback):
    url = loopback(tornado.web.Application([(r"/(\w+)", Failing)]))
    status, headers, body = fetch(url + "dvvr")
    assert (status, headers["Retry-After"], body["error"]) == (429, "1", "TooManyRequests")
    assert headers["Content-Type"] == "application/json; charset=UTF-8"
    assert fetch(url + "http")[::2] == (403, {"error": "Forbidden", "message": "Forbidden", "status": 403})
    assert fetch(url + "bug")[::2] == (500, {"error": "InternalServerError", "message": "the test route failed",
                                             "status": 500})
    assert fetch(url + "none")[::2] == (404, {"error": "NotFound", "message": "none", "status": 404})


class SendsError(JSONErrors, tornado.web.RequestHandler):
    def get(self):
        self.send_error(404)  # tornado's own way to answer an error: no exception behind it


def test_an_error_sent_without_an_exception_keeps_its_status(loopback):
    url = loopback(tornado.web.Application([(r"/", SendsError)]))
    status, _, body = fetch(url)
    assert (status, body) == (404, {"error": "Not Found", "message": "Not Found", "status": 404})
    assert error_body(None, 404, "Not Found")["status"] == 404
    assert error_body(None)["status"] == 500  # no status given: still the bug answer
