"""Forwards that keep failing while central answers OPTIONS raise an alarm."""
from __future__ import annotations

from edgepbx.central.forwards import ForwardHealth


def test_three_failures_in_a_row_raise_the_alarm_and_one_answer_clears_it() -> None:
    health = ForwardHealth()
    health.failed("486 Busy Here")
    health.answered()
    health.failed("404 Not Found")
    health.failed("404 Not Found")
    assert health.alarm() is None                       # two: a busy moment
    health.failed("407 Proxy Authentication Required")
    assert health.alarm() == ("the last 3 forwards to central failed (last: 407 Proxy Authentication Required): "
                              "callers get the local menu")
    health.answered()
    assert health.alarm() is None and health.failed_in_a_row == 0
