"""The IVR engine driven with synthetic events and a hand-advanced clock."""
from __future__ import annotations

import pytest

from edgepbx.ivr.engine import HOLD_LIMIT_S, CallSession, Phase
from edgepbx.ivr.events import (CallerHold, CallerHungUp, Collected, Digit, Entered, Forward, ForwardResult, Hangup,
                                ModeChanged, Play, PlaybackDone, RequestCallback, StopPlayback, Timeout, VoiceKey)
from edgepbx.ivr.flow import load_flow, parse_flow
from tests.flows import MINIMAL_FLOW


class Driver:
    """Feeds a session and remembers the last Play token, like the call task does."""

    def __init__(self, template: str = "ecommerce", language: str = "zh") -> None:
        self.session = CallSession(load_flow(template), language)
        self.now = 0.0
        self.token = 0
        self.log: list[object] = []

    def _take(self, actions: list) -> list:
        for action in actions:
            if isinstance(action, Play):
                self.token = action.token
        self.log.extend(actions)
        return actions

    def start(self) -> list:
        return self._take(self.session.start(self.now))

    def key(self, digit: str) -> list:
        return self._take(self.session.handle(Digit(digit), self.now))

    def done(self) -> list:
        return self._take(self.session.handle(PlaybackDone(self.token), self.now))

    def advance(self, seconds: float) -> list:
        self.now += seconds
        return self._take(self.session.handle(Timeout(), self.now))

    def node(self) -> str:
        return self.session.node.id


def plays(actions: list) -> list[tuple[tuple[str, str], ...]]:
    return [a.prompts for a in actions if isinstance(a, Play)]


def test_language_node_offers_each_language_in_its_own_voice() -> None:
    d = Driver()
    actions = d.start()
    assert actions[0] == Entered("language", "language")
    assert plays(actions) == [(("ecom_language", "zh"), ("accessibility_offer", "zh"),
                               ("ecom_language", "en"), ("accessibility_offer", "en"))]


def test_key_during_prompt_barges_in_and_selects() -> None:
    d = Driver()
    d.start()
    actions = d.key("2")
    assert isinstance(actions[0], StopPlayback)
    assert d.session.language == "en" and d.node() == "main"
    assert plays(actions) == [(("ecom_main", "en"),)]


def test_language_timeout_keeps_the_default_language() -> None:
    d = Driver()
    d.start()
    d.done()
    assert d.session.deadline == pytest.approx(6.0)
    assert d.advance(5.9) == []  # not yet
    d.advance(0.2)
    assert d.node() == "main" and d.session.language == "zh"


def test_invalid_key_says_sorry_then_falls_back_after_max_failures() -> None:
    d = Driver()
    d.start()
    d.key("1")
    d.done()
    first = d.key("7")
    assert plays(first) == [(("sorry", "zh"), ("ecom_main", "zh"))]
    d.done()
    second = d.advance(6.0)  # a timeout is a failure too; two in a row: elderly mode
    assert plays(second) == [(("sorry", "zh"), ("elderly_human_first", "zh"), ("ecom_main", "zh"))]
    assert ModeChanged("elderly", "2 failed inputs in a row") in second
    d.done()
    third = d.key("8")
    assert Entered("operator", "forward") in third
    assert d.session.path == ["language", "main", "operator"]


def test_collect_with_terminator_and_menu_navigation() -> None:
    d = Driver()
    d.start()
    d.key("2")
    d.key("1")
    assert d.node() == "order_number"
    for digit in "1234567":
        d.key(digit)
    actions = d.key("#")
    assert Collected("order_number", "1234567", False) in actions
    assert d.node() == "order_info"
    d.done()
    assert d.node() == "anything_else"


def test_collect_completes_on_inter_digit_timeout_or_fails_when_short() -> None:
    d = Driver()
    d.start(); d.key("1"); d.key("1")
    for digit in "123456":
        d.key(digit)
    assert d.session.deadline == pytest.approx(4.0)
    d.advance(4.0)
    assert d.node() == "order_info"
    d2 = Driver()
    d2.start(); d2.key("1"); d2.key("1")
    d2.key("1"); d2.key("2")
    actions = d2.advance(4.0)
    assert plays(actions) == [(("sorry", "zh"), ("ecom_enter_order", "zh"))]


def test_digit_keys_are_data_inside_collect_but_star_goes_back() -> None:
    d = Driver()
    d.start(); d.key("1"); d.key("1")
    d.key("0"); d.key("9")  # global keys elsewhere, digits here
    assert d.node() == "order_number"
    d.key("*")
    assert d.node() == "main"


def test_zero_alone_in_a_number_then_a_pause_or_hash_is_the_human() -> None:
    for end in ("pause", "#"):
        d = Driver()
        d.start(); d.key("1"); d.key("1")
        d.key("0")
        actions = d.advance(4.0) if end == "pause" else d.key("#")
        assert Entered("operator", "forward") in actions, end
        assert not any(isinstance(a, Collected) for a in actions)
    d = Driver()                        # a 0 inside a number stays a digit
    d.start(); d.key("1"); d.key("1")
    for digit in "102030":
        d.key(digit)
    assert Collected("order_number", "102030", False) in d.advance(4.0)


def test_global_keys_operator_back_repeat() -> None:
    d = Driver()
    d.start(); d.key("1"); d.key("2")
    assert d.node() == "returns"
    repeat = d.key("9")
    assert plays(repeat) == [(("ecom_returns", "zh"),)] and d.node() == "returns"
    d.key("*")
    assert d.node() == "main"
    d.key("*")
    assert d.node() == "main"  # top level: back stays
    actions = d.key("0")
    assert Entered("operator", "forward") in actions


def test_forward_success_and_failure() -> None:
    d = Driver()
    d.start(); d.key("1"); d.key("0")
    d.done()  # "transferring" played
    forward = [a for a in d.log if isinstance(a, Forward)]
    assert forward and forward[0].context.path == ("language", "main", "operator")
    assert forward[0].context.queue == "general"
    d.session.handle(ForwardResult(True), d.now)
    assert d.session.outcome == "forwarded" and d.session.phase is Phase.BRIDGED
    assert d.key("5") == []  # keys now belong to the conversation

    f = Driver()
    f.start(); f.key("1"); f.key("0"); f.done()
    actions = f._take(f.session.handle(ForwardResult(False, "503"), f.now))
    assert plays(actions) == [(("agents_busy", "zh"),)]
    assert f.done() == [Hangup("forward_failed")]
    assert f.session.finished


def test_secret_fields_are_masked_and_never_in_context() -> None:
    d = Driver("finance", "en")
    d.start(); d.key("2"); d.key("2")
    assert d.session.secret_input
    for digit in "654321":
        d.key(digit)
    for digit in "112233":
        d.key(digit)
    collected = [a for a in d.log if isinstance(a, Collected)]
    assert [c.shown for c in collected] == ["***", "***"]
    d.done()
    ctx = [a for a in d.log if isinstance(a, Forward)][0].context
    assert ctx.secret_fields == ("id_last6", "pin") and ctx.data == {}
    assert "654321" not in repr(d.log) and "112233" not in repr(d.session.record_digits())


def test_callback_and_hangup_paths() -> None:
    d = Driver()
    d.start(); d.key("1"); d.key("2"); d.key("2")
    callback = [a for a in d.log if isinstance(a, RequestCallback)]
    assert callback and callback[0].number is None
    d.done()
    assert d.node() == "goodbye"
    assert d.done() == [Hangup("callback_requested")]


def test_hangup_mid_menu_is_abandoned_and_stale_events_are_ignored() -> None:
    d = Driver()
    d.start()
    stale = d.token
    d.key("1")
    assert d.session.handle(PlaybackDone(stale), d.now) == []
    d.session.handle(CallerHungUp(), d.now)
    assert d.session.outcome == "abandoned" and d.session.finished
    assert d.key("1") == []


def test_failed_forward_goes_to_the_flows_on_fail_node_after_the_busy_prompt() -> None:
    flow = parse_flow(MINIMAL_FLOW + """on_fail = "later"
[nodes.later]
type = "callback"
prompt = "callback_taken"
next = "bye"
[nodes.bye]
type = "hangup"
""", "t.toml")
    session = CallSession(flow, "en")
    session.start(0.0)
    forward = session.handle(Digit("1"), 0.0)
    assert any(isinstance(a, Forward) for a in forward)
    actions = session.handle(ForwardResult(False, "486 Busy"), 1.0)
    assert any(isinstance(a, RequestCallback) for a in actions)
    assert [a.prompts for a in actions if isinstance(a, Play)] == [(("agents_busy", "en"), ("callback_taken", "en"))]
    assert session.outcome == "callback_requested"


def test_outage_message_records_until_hash_or_the_limit() -> None:
    from edgepbx.ivr.events import Record, RecordingStopped, StopRecording
    d = Driver("outage", "en")
    d.start()
    d.key("2")
    assert d.session.node.id == "message" and isinstance(d.log[-1], Play)
    [record] = d.done()
    assert isinstance(record, Record) and record.max_seconds == 60 and d.session.deadline == 60.0
    assert d.key("5") == []  # keys other than # are part of the message
    assert d.key("#") == [StopRecording()]
    d.log.clear()
    d._take(d.session.handle(RecordingStopped(12.5), d.now))
    assert d.session.outcome == "message_left" and d.session.node.id == "message_saved"
    # the limit stops it too, and an empty recording is not a message
    d2 = Driver("outage", "en")
    d2.start()
    d2.key("2")
    d2.done()
    assert d2.advance(60.0) == [StopRecording()]
    d2._take(d2.session.handle(RecordingStopped(0.0), d2.now))
    assert d2.session.outcome is None and d2.session.node.id == "message_saved"


def test_outage_backup_forward_and_carried_context() -> None:
    from edgepbx.ivr.events import ForwardContext
    carried = ForwardContext(path=("language", "main", "operator"), language="en", data={"order_number": "42"},
                             secret_fields=(), mode="normal", queue="sales")
    session = CallSession(load_flow("outage"), "en", carried=carried)
    session.start(0.0)
    assert session.path[:4] == ["language", "main", "operator", "outage_menu"]
    actions = session.handle(Digit("4"), 0.0)
    token = next(a.token for a in actions if isinstance(a, Play))
    [forward] = session.handle(PlaybackDone(token), 0.0)
    assert isinstance(forward, Forward) and forward.target == "backup" and forward.context.data == {"order_number": "42"}


def test_a_caller_on_hold_misses_nothing_and_hears_the_step_again() -> None:
    d = Driver()
    d.start(); d.key("2"); d.key("1")
    d.key("1"); d.key("2")                      # half an order number, then the hold button
    assert d.node() == "order_number"
    held = d._take(d.session.handle(CallerHold(True), d.now))
    assert held == []                           # nothing was playing: the keys had stopped the prompt
    assert d.session.phase is Phase.HELD and d.session.deadline == d.now + HOLD_LIMIT_S
    assert d.key("3") == []                     # hold music is not the caller pressing keys
    assert d.session.handle(VoiceKey("operator"), d.now) == []
    d.now += 120.0                              # two minutes away: no timeout, no failure
    back = d._take(d.session.handle(CallerHold(False), d.now))
    assert Entered("order_number", "collect") in back
    assert plays(back) == [(("ecom_enter_order", "en"),)]
    d.done()
    for digit in "654321":
        d.key(digit)
    assert Collected("order_number", "654321", False) in d.key("#")   # the half typed before is gone
    assert d.session._failures == 0


def test_a_caller_who_never_comes_back_from_hold_is_hung_up() -> None:
    d = Driver()
    d.start()
    assert d._take(d.session.handle(CallerHold(True), d.now)) == [StopPlayback()]   # the greeting stops
    assert d.advance(HOLD_LIMIT_S - 1) == []
    assert d.advance(1) == [Hangup("abandoned")]
    assert d.session.finished


def test_hold_during_a_conversation_or_a_callback_request_changes_nothing() -> None:
    d = Driver()
    d.start(); d.key("1"); d.key("0"); d.done()
    d.session.handle(ForwardResult(True), d.now)
    assert d.session.handle(CallerHold(True), d.now) == []
    assert d.session.phase is Phase.BRIDGED and d.session.handle(CallerHold(False), d.now) == []

    c = Driver()
    c.start(); c.key("1"); c.key("2"); c.key("2")      # "we will call you back" is playing
    assert c.session.handle(CallerHold(True), c.now) == [] and c.session.phase is Phase.PROMPT
    assert c.session.handle(CallerHold(False), c.now) == []
    assert len([a for a in c.log if isinstance(a, RequestCallback)]) == 1


def test_keys_pressed_on_hold_at_a_pin_prompt_stay_secret() -> None:
    d = Driver("finance", "en")
    d.start(); d.key("2"); d.key("2")
    assert d.session.secret_input
    d.session.handle(CallerHold(True), d.now)
    assert d.session.phase is Phase.HELD and d.session.secret_input   # the edge must not log them


def test_a_call_back_reaches_an_agent_only_when_the_person_answering_presses_1() -> None:
    machine = Driver("callback_call", "en")
    machine.start()
    for _ in range(5):                      # an answering machine: prompts end, nothing is pressed
        machine.done()
        machine.advance(60.0)
    assert not [a for a in machine.log if isinstance(a, Forward)]
    assert machine.session.finished and machine.session.outcome == "completed"
    assert ("callback_later", "en") in [p for ps in plays(machine.log) for p in ps]

    person = Driver("callback_call", "en")
    person.start()
    person.key("1")                         # during the intro: barges in
    person.done()                           # "transferring"
    assert [a for a in person.log if isinstance(a, Forward)]


TEXT_FLOW = """
[flow]
name = "t"
start = "order"
languages = ["zh", "en"]
fallback = "operator"

[prompts.enter]
zh = "请输入订单号。"
en = "Enter your order number."

[prompts.texted]
zh = "已发送短信。"
en = "We have sent you a text."

[nodes.order]
type = "collect"
prompt = "enter"
field = "order_number"
next = "pin"

[nodes.pin]
type = "collect"
prompt = "enter"
field = "pin"
secret = true
next = "send"

[nodes.send]
type = "text"
prompt = "texted"
text = { zh = "订单{order_number}详情：https://m.example.com/o/{order_number}", en = "Order {order_number}: https://m.example.com/o/{order_number}" }
next = "operator"

[nodes.operator]
type = "forward"
"""


def test_a_text_node_sends_collected_fields_in_the_callers_language_never_a_secret() -> None:
    from edgepbx.ivr.events import SendText
    session = CallSession(parse_flow(TEXT_FLOW, "t"), "en")
    now = 0.0
    session.start(now)
    for digit in "123456#":
        session.handle(Digit(digit), now)
    actions = []
    for digit in "9876#":
        actions += session.handle(Digit(digit), now)
    [text] = [a for a in actions if isinstance(a, SendText)]
    assert text == SendText(None, "Order 123456: https://m.example.com/o/123456")
    assert session.node.id == "send"


def test_a_text_that_names_a_secret_or_unknown_field_is_refused() -> None:
    from edgepbx.ivr.flow import FlowInvalid
    bad = TEXT_FLOW.replace("订单{order_number}详情", "PIN {pin}").replace('en = "Order {order_number}', 'en = "Order {nothing}')
    with pytest.raises(FlowInvalid) as refused:
        parse_flow(bad, "t")
    message = str(refused.value)
    assert "send.text.zh: field 'pin' is secret" in message and "send.text.en: no collect node fills field 'nothing'" in message
    with pytest.raises(FlowInvalid, match="send.text.en: the text to send"):
        parse_flow(TEXT_FLOW.replace(', en = "Order {order_number}: https://m.example.com/o/{order_number}"', ""), "t")
