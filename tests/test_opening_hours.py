"""Opening hours: the `hours` flow node sends callers one way while the branch is open and
another while it is closed (nights, weekends, holidays)."""
from __future__ import annotations

import time

import pytest

from edgepbx.ivr.engine import CallSession
from edgepbx.ivr.events import Entered, Play
from edgepbx.ivr.flow import FlowInvalid, parse_flow
from edgepbx.ivr.schedule import is_open, parse_schedule
from tests.flows import MINIMAL_FLOW


def local(day: str, hh_mm: str) -> time.struct_time:
    """A local time on a day of the week of 2026-11-23 (a Monday) .. 2026-11-29."""
    d = ("mon", "tue", "wed", "thu", "fri", "sat", "sun").index(day)
    return time.strptime(f"2026-11-{23 + d} {hh_mm}", "%Y-%m-%d %H:%M")


def test_weekdays_saturday_morning_and_a_night_shift_past_midnight() -> None:
    week = parse_schedule("mon-fri 08:30-17:30; sat 09:00-12:00; fri 22:00-02:00")
    cases = {("mon", "08:29"): False, ("mon", "08:30"): True, ("wed", "17:29"): True, ("wed", "17:30"): False,
             ("sat", "10:00"): True, ("sat", "12:00"): False, ("sun", "10:00"): False,
             ("fri", "23:00"): True, ("sat", "01:59"): True, ("sat", "02:00"): False, ("thu", "23:00"): False}
    assert {at: is_open(week, (), local(*at)) for at in cases} == cases
    assert not is_open(week, ("2026-11-25",), local("wed", "10:00"))          # a holiday this year
    assert not is_open(week, ("11-24",), local("tue", "10:00"))               # every year
    assert is_open(parse_schedule("daily 00:00-24:00"), (), local("sun", "03:00"))
    assert is_open(parse_schedule("fri-mon 10:00-11:00"), (), local("sun", "10:30"))   # a range over the weekend
    assert is_open(parse_schedule("mon,wed 10:00-11:00"), (), local("wed", "10:30"))


@pytest.mark.parametrize("text, expected", [
    ("mon-fri", "expected DAYS HH:MM-HH:MM"),
    ("monday 09:00-18:00", "'monday' is not a day"),
    ("mon-fri 9-18", "not a time of day"),
    ("", "no opening hours"),
])
def test_a_bad_schedule_says_what_is_wrong(text: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        parse_schedule(text)


HOURS = MINIMAL_FLOW.replace('start = "main"', 'start = "open_check"') + """
[prompts.closed]
en = "We are closed."

[nodes.open_check]
type = "hours"
open = "mon-fri 09:00-18:00"
closed_dates = ["2026-11-26"]
next = "main"
closed = "closed_menu"

[nodes.closed_menu]
type = "menu"
prompt = "closed"
options = { "1" = "operator" }
"""


@pytest.mark.parametrize("at, heard", [
    (("mon", "10:00"), "menu"), (("mon", "19:00"), "closed"), (("sat", "10:00"), "closed"),
    (("thu", "10:00"), "closed"),            # 2026-11-26: a closed date
])
def test_callers_hear_the_open_or_the_closed_menu(at: tuple[str, str], heard: str) -> None:
    session = CallSession(parse_flow(HOURS, "t.toml"), "en", clock=lambda: local(*at))
    actions = session.start(0.0)
    entered = [a.node for a in actions if isinstance(a, Entered)]
    played = [prompt for a in actions if isinstance(a, Play) for prompt, _ in a.prompts]
    assert entered == ["open_check", "main" if heard == "menu" else "closed_menu"] and heard in played
    assert "accessibility_offer" in played       # the node it leads to is the greeting
    assert session.path == entered


@pytest.mark.parametrize("change, expected", [
    (('open = "mon-fri 09:00-18:00"', 'open = "weekdays 9 to 6"'), "open_check.open: 'weekdays 9 to 6'"),
    (('closed_dates = ["2026-11-26"]', 'closed_dates = ["26/11/2026"]'), "open_check.closed_dates: '26/11/2026' is not a date"),
    (('closed = "closed_menu"', 'closed = "nowhere"'), "open_check.closed: no node named 'nowhere'"),
    (('closed = "closed_menu"', 'closed = "open_check"'), "open_check.next: hours nodes lead back to this one"),
    (('closed = "closed_menu"\n', ''), "open_check.closed: required"),
])
def test_a_bad_hours_node_is_named(change: tuple[str, str], expected: str) -> None:
    with pytest.raises(FlowInvalid) as info:
        parse_flow(HOURS.replace(*change), "t.toml")
    assert any(str(e).startswith(expected) for e in info.value.errors), info.value.errors
