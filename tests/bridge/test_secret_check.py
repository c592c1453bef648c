"""``bridge.headers.check_secret``: the one check of a kernel's secret."""

import pytest
from tornado.httputil import HTTPHeaders

from dvvr_jupyter.bridge.headers import SECRET_HEADER, check_secret
from dvvr_jupyter.errors import Forbidden

SECRET = "s3cret-value"


def test_the_right_secret_passes_in_any_header_case():
    check_secret({SECRET_HEADER: SECRET}, SECRET)
    check_secret(HTTPHeaders({"x-dvvr-secret": SECRET}), SECRET)


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: ""}, {SECRET_HEADER: SECRET[:-1]}, {SECRET_HEADER: SECRET + "x"},
                                     {SECRET_HEADER: "s3cret-valu\u00e9"}, {"X-Other": SECRET}])
def test_anything_else_is_forbidden_without_quoting_it(headers):
    with pytest.raises(Forbidden) as refused:
        check_secret(headers, SECRET)
    body = refused.value.to_json()
    assert (body["status"], body["error"]) == (403, "Forbidden")
    assert SECRET not in body["message"]
