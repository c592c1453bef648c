"""``WrongTokenThrottle.check``: the one token check of the VR path and of
``dvvr serve --token``.  A fake clock makes the refills exact."""

import logging

import pytest

from dvvr_jupyter.bridge.throttle import WrongTokenThrottle, matches
from dvvr_jupyter.errors import NotFound, TooManyRequests

TOKEN = "my.tok+en"


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def throttle(clock):
    return WrongTokenThrottle(logging.getLogger("dvvr.test"), wrong="no such VR URL", allowance=3, clock=clock)


def test_matches_is_literal():
    assert matches(TOKEN, TOKEN)
    assert not matches("myXtokken", TOKEN) and not matches(TOKEN[:-1], TOKEN) and not matches(None, TOKEN)
    assert not matches("", "") and not matches("x", None)  # no token: nothing matches
    assert not matches("tok\udcff", TOKEN)  # undecodable bytes in a path: refused, never an exception


def test_the_right_token_passes_and_a_wrong_one_is_not_found(throttle):
    throttle.check("1.2.3.4", TOKEN, TOKEN)
    with pytest.raises(NotFound, match="no such VR URL"):
        throttle.check("1.2.3.4", "wrong", TOKEN)


def test_a_burst_of_wrong_tokens_is_held_to_one_try_per_interval(throttle, clock, caplog):
    caplog.set_level(logging.WARNING, "dvvr.test")
    for _ in range(3):
        with pytest.raises(NotFound):
            throttle.check("1.2.3.4", "wrong", TOKEN)
    with pytest.raises(TooManyRequests) as held:
        throttle.check("1.2.3.4", "wrong", TOKEN)
    assert held.value.headers() == {"Retry-After": "1"}
    throttle.check("5.6.7.8", TOKEN, TOKEN)  # other addresses are not held
    for _ in range(5):  # nor the right token from the held address: it is compared first
        throttle.check("1.2.3.4", TOKEN, TOKEN)
    clock.now += 1.0  # one more try
    with pytest.raises(NotFound):
        throttle.check("1.2.3.4", "wrong", TOKEN)
    assert len(caplog.records) == 1 and "1.2.3.4" in caplog.text and TOKEN not in caplog.text  # once per burst
