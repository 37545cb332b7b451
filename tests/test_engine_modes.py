"""Elderly and visually-impaired modes in the IVR engine, driven with synthetic events."""
from __future__ import annotations

from edgepbx.ivr.engine import CallSession
from edgepbx.ivr.events import Entered, ModeChanged, Play, SpeechPace, VoiceKey
from edgepbx.ivr.flow import load_flow, parse_flow
from tests.test_engine_voice import Driver, entered


def plays(actions) -> list[tuple[str, ...]]:
    return [tuple(p for p, _ in a.prompts) for a in actions if isinstance(a, Play)]


def variants(actions) -> list[str]:
    return [a.variant for a in actions if isinstance(a, Play)]


def test_zero_at_the_greeting_chooses_elderly_mode_and_says_it_again_slowly():
    d = Driver("ecommerce", "zh")
    first = d.start()
    assert plays(first) == [("ecom_language", "accessibility_offer", "ecom_language", "accessibility_offer")]
    actions = d.key("0")
    assert ModeChanged("elderly", "pressed 0 at the greeting") in actions
    assert entered(actions) == ["language"] and variants(actions) == ["elderly"]
    assert plays(actions) == [("ecom_language", "ecom_language")]      # no offer any more
    main = d.key("1")
    assert plays(main) == [("elderly_human_first", "ecom_main")]        # a human offered first
    assert d.session.context().mode == "elderly"
    d.done()
    assert d.session.deadline == 1.5 * 6.0                              # longer timeouts
    assert entered(d.key("0")) == ["operator"]                          # 0 is the operator again


def test_star_at_the_greeting_chooses_visually_impaired_mode():
    d = Driver("ecommerce", "zh")
    d.start()
    actions = d.key("*")
    assert ModeChanged("visually_impaired", "pressed * at the greeting") in actions
    listen = [a for a in actions if type(a).__name__ == "Listen"]
    assert listen and "1" in listen[0].vocabulary                        # voice keys always on
    main = d.key("1")
    assert plays(main) == [("key_locations", "ecom_main", "voice_hint")]  # where the keys are, once
    assert variants(main) == ["visually_impaired"]
    d.done()
    assert d.session.deadline == 2 * 6.0


def test_keys_after_the_greeting_keep_their_meaning():
    d = Driver("ecommerce", "zh")
    d.start()
    d.key("1")
    assert entered(d.key("0")) == ["operator"] and d.session.mode == "normal"


def test_saying_so_switches_the_mode_at_any_menu():
    d = Driver("finance", "en")
    d.start()
    d.say("2")
    actions = d.say("elderly")
    assert ModeChanged("elderly", "said elderly") in actions and entered(actions) == ["main"]
    assert plays(actions) == [("elderly_human_first", "fin_main")]


def test_two_failures_in_a_row_switch_to_elderly():
    d = Driver("ecommerce", "en")
    d.start()
    d.key("2")
    d.done()
    d.key("7")
    d.done()
    actions = d.advance(6.0)
    assert ModeChanged("elderly", "2 failed inputs in a row") in actions
    assert variants(actions) == ["elderly"]


def test_slow_answers_and_slow_speech_switch_to_elderly():
    d = Driver("ecommerce", "en")
    d.start()
    d.done()
    d.now += 5.5
    assert not [a for a in d.key("2") if isinstance(a, ModeChanged)]       # one slow answer
    d.done()
    d.now += 5.2
    changed = d.key("3")
    assert ModeChanged("elderly", "2 slow answers") in changed
    d2 = Driver("ecommerce", "en")
    d2.start()
    assert d2.session.handle(SpeechPace(4.8, False), 0.0) == []
    assert d2.session.handle(SpeechPace(2.1, True), 0.0) == [ModeChanged("elderly", "slow speech (2.1 syllables/s)")]


KEY_FACT_FLOW = """
[flow]
name = "clinic"
start = "main"
languages = ["en"]
fallback = "bye"
accessibility_offer = false

[prompts.menu]
en = "For your appointment, press 1. For prescriptions, press 2. For the pharmacy, press 3."

[prompts.menu_short]
en = "For your appointment, press 1. For prescriptions, press 2."

[prompts.appointment]
en = "Your appointment is on Tuesday at nine."

[prompts.web]
en = "You can also book on our website."

[prompts.web_vi]
en = "You can also book by calling this number again."

[nodes.main]
type = "menu"
prompt = "menu"
options = { "1" = "appointment", "2" = "bye", "3" = "bye" }
elderly_prompt = "menu_short"
elderly_options = ["1", "2"]

[nodes.appointment]
type = "play"
prompt = ["appointment", "web"]
key_fact = true
next = "bye"

[nodes.bye]
type = "hangup"

[nodes.operator]
type = "forward"
"""


def test_elderly_callers_get_fewer_options_and_key_facts_twice_with_a_check():
    flow = parse_flow(KEY_FACT_FLOW, "test")
    d = Driver(flow=flow, mode="elderly")
    assert plays(d.start()) == [("elderly_human_first", "menu_short")]
    d.done()
    assert entered(d.key("3")) == []                  # not offered to elderly callers: a failure
    d.done()
    fact = d.key("1")
    assert plays(fact) == [("appointment", "web", "again", "appointment", "web", "heard_it")]
    d.done()
    assert d.session.deadline is not None
    again = d.advance(9.0)                           # no "1": said once more
    assert plays(again) == [("appointment", "web", "again", "appointment", "web", "heard_it")]
    d.done()
    assert entered(d.key("1")) == ["bye"]


def test_blind_callers_hear_the_alternative_to_reading():
    flow = parse_flow(KEY_FACT_FLOW, "test")
    d = Driver(flow=flow, mode="visually_impaired")
    d.start()
    actions = d.say("1")
    assert plays(actions) == [("appointment", "web_vi")]
    d2 = Driver(flow=flow)
    d2.start()
    assert plays(d2.key("1")) == [("appointment", "web")]


def test_flows_warn_about_prompts_blind_callers_cannot_follow():
    flow = parse_flow(KEY_FACT_FLOW.replace("[prompts.web_vi]", "[prompts.other]"), "test")
    assert any("web" in w and "web_vi" in w for w in flow.warnings)
    assert not [w for w in parse_flow(KEY_FACT_FLOW, "test").warnings if "web" in w]
