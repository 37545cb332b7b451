"""Voice keys in the IVR engine, driven with synthetic VoiceKey events: a spoken key acts as
the pressed key, the edge is told what to listen for, spoken numbers are read back."""
from __future__ import annotations

import pytest

from edgepbx.ivr.engine import CallSession, Phase
from edgepbx.ivr.events import Collected, Digit, Entered, Forward, Listen, Play, PlaybackDone, StopPlayback, Timeout, VoiceKey
from edgepbx.ivr.flow import FlowInvalid, load_flow, parse_flow
from tests.flows import MINIMAL_FLOW


class Driver:
    def __init__(self, template: str = "finance", language: str = "en", mode: str = "normal", flow=None) -> None:
        self.session = CallSession(flow or load_flow(template), language, mode)
        self.now = 0.0
        self.token = 0

    def _take(self, actions):
        for a in actions:
            if isinstance(a, Play):
                self.token = a.token
        return actions

    def start(self):
        return self._take(self.session.start(self.now))

    def say(self, key: str):
        return self._take(self.session.handle(VoiceKey(key, 0.9), self.now))

    def key(self, digit: str):
        return self._take(self.session.handle(Digit(digit), self.now))

    def done(self):
        return self._take(self.session.handle(PlaybackDone(self.token), self.now))

    def advance(self, seconds: float):
        self.now += seconds
        return self._take(self.session.handle(Timeout(), self.now))


def entered(actions) -> list[str]:
    return [a.node for a in actions if isinstance(a, Entered)]


def listens(actions) -> list[Listen]:
    return [a for a in actions if isinstance(a, Listen)]


def test_spoken_key_acts_like_the_pressed_key_and_barges_in():
    d = Driver()
    first = d.start()
    assert listens(first) == [Listen("en", ("1", "2", "elderly", "visually_impaired"))]   # language menu
    actions = d.say("2")                                           # over the prompt
    assert isinstance(actions[0], StopPlayback) and entered(actions) == ["main"]
    listen, = listens(actions)
    assert listen.vocabulary == ("0", "1", "2", "3", "9", "yes", "no", "operator", "back", "repeat", "lost_card",
                                 "elderly", "visually_impaired")
    play, = [a for a in actions if isinstance(a, Play)]
    assert [p for p, _ in play.prompts] == ["fin_main", "voice_hint"]  # "...or say the number"
    assert entered(d.say("3")) == ["loans"]


def test_spoken_shortcuts_reach_their_nodes_from_any_level():
    d = Driver()
    d.start()
    d.say("2")
    assert entered(d.say("lost_card")) == ["lost_card"]
    d = Driver()
    d.start()
    d.say("2")
    d.say("3")
    assert entered(d.say("operator")) == ["operator"]
    d = Driver()
    d.start()
    d.say("2")
    d.say("3")                      # loans (a play node) ... then the anything-else menu
    d.done()
    assert entered(d.say("back")) == ["main"]
    d.done()
    again = d.say("repeat")
    assert [p for a in again if isinstance(a, Play) for p, _ in a.prompts] == ["fin_main"]


def test_words_not_listened_for_do_nothing():
    d = Driver()
    d.start()
    assert d.say("7") == []                    # not an option of the language menu
    assert d.say("lost_card") == []            # shortcuts are not heard at the language choice
    assert d.session.node.id == "language"


def test_voice_is_off_where_the_flow_does_not_turn_it_on_except_for_visually_impaired_callers():
    flow = load_flow("ecommerce")
    assert not flow.voice_keys
    d = Driver(flow=flow, language="zh")
    assert listens(d.start()) == []
    assert d.say("1") == []
    d = Driver(flow=flow, language="zh", mode="visually_impaired")
    assert listens(d.start())[0].vocabulary
    assert entered(d.say("1"))


def test_secret_numbers_are_typed_not_heard():
    d = Driver()
    d.start()
    d.say("2")
    actions = d.say("2")                       # account services: the ID check (secret)
    assert entered(actions) == ["id_check"]
    listen, = listens(actions)
    assert not listen.digit_string and "1" not in listen.vocabulary
    assert d.say("123456") == []
    assert entered(d.say("operator")) == ["operator"]


SPOKEN_NUMBER_FLOW = MINIMAL_FLOW.replace('fallback = "operator"', 'fallback = "operator"\nvoice_keys = true') + """
[prompts.order]
en = "Say or type your order number."

[nodes.order]
type = "collect"
prompt = "order"
field = "order"
min_digits = 4
max_digits = 8
next = "operator"
"""


def spoken_number_flow():
    return parse_flow(SPOKEN_NUMBER_FLOW.replace('options = { "1" = "operator" }', 'options = { "1" = "order" }'), "test")


def test_a_spoken_number_is_read_back_and_kept_on_yes():
    d = Driver(flow=spoken_number_flow())
    d.start()
    actions = d.say("1")
    listen, = listens(actions)
    assert listen.digit_string and listen.vocabulary[:10] == tuple("0123456789")
    readback = d.say("380412")
    play, = [a for a in readback if isinstance(a, Play)]
    assert [p for p, _ in play.prompts] == ["heard", "digit_3", "digit_8", "digit_0", "digit_4", "digit_1", "digit_2", "heard_confirm"]
    assert listens(readback) == [Listen("en", ("1", "2", "yes", "no"))]
    assert d.session.phase is Phase.CONFIRM
    done = d.say("yes")
    assert Collected("order", "380412") in done and entered(done) == ["operator"]


def test_a_wrong_reading_is_said_again_and_a_silent_caller_is_asked_again():
    d = Driver(flow=spoken_number_flow())
    d.start()
    d.say("1")
    d.say("3804")
    again = d.key("2")                          # "no": the number is asked for again
    assert entered(again) == ["order"] and listens(again)[0].digit_string
    d.say("3805")
    d.done()
    assert d.advance(5.9) == []
    retry = d.advance(0.2)                      # no answer to "is that right?"
    assert [p for a in retry if isinstance(a, Play) for p, _ in a.prompts] == ["sorry", "order"]
    assert listens(retry)[0].digit_string
    d.say("3806")
    assert Collected("order", "3806") in d.key("1")


def test_a_short_spoken_number_fails_like_a_short_typed_one():
    d = Driver(flow=spoken_number_flow())
    d.start()
    d.say("1")
    d.say("38")
    out = d.say("yes")
    assert [p for a in out if isinstance(a, Play) for p, _ in a.prompts] == ["sorry", "order"]


def test_flow_validation_of_voice_settings():
    bad = MINIMAL_FLOW.replace('fallback = "operator"', 'fallback = "operator"\nvoice_keys = "yes"\n'
                               'voice_shortcuts = { lost_card = "nowhere", shout = "operator" }')
    with pytest.raises(FlowInvalid) as caught:
        parse_flow(bad, "test")
    text = str(caught.value)
    assert "voice_keys: expected bool" in text
    assert "voice_shortcuts.lost_card: no node named 'nowhere'" in text
    assert "'shout' is not a spoken shortcut" in text


# ---- learning a site's voices: a word not understood, then the key pressed at once ----------
from edgepbx.ivr.engine import LEARN_WINDOW_S  # noqa: E402
from edgepbx.ivr.events import LearnVoice, VoiceUnsure  # noqa: E402


def learnt(actions) -> list[LearnVoice]:
    return [a for a in actions if isinstance(a, LearnVoice)]


def at_main_menu() -> Driver:
    d = Driver()
    d.start()
    d.say("2")                       # English; now at the main menu, listening for its words
    return d


def test_a_key_pressed_right_after_a_word_not_understood_names_that_word():
    d = at_main_menu()
    assert d.session.handle(VoiceUnsure(), d.now) == []
    d.now += 2.0
    actions = d.key("3")
    assert learnt(actions) == [LearnVoice("3", "en")]
    assert entered(actions) == ["loans"]


def test_nothing_is_learnt_without_a_word_too_late_or_in_another_menu():
    d = at_main_menu()
    assert learnt(d.key("3")) == []                          # no word said: nothing to learn
    d = at_main_menu()
    d.session.handle(VoiceUnsure(), d.now)
    d.now += LEARN_WINDOW_S + 1
    assert learnt(d.key("3")) == []                          # pressed long after: maybe another thought
    d = at_main_menu()
    d.session.handle(VoiceUnsure(), d.now)
    d.now += 1
    assert learnt(d.key("7")) == []                          # not an option: a failed try, not a name
    assert learnt(d.key("3")) == []                          # after a wrong key, the word's meaning is unsure
    d = at_main_menu()
    d.session.handle(VoiceUnsure(), d.now)
    d.now += 1
    assert learnt(d.key("3")) == [LearnVoice("3", "en")]
    assert learnt(d.key("1")) == []                          # each word names one key, once


def test_words_in_a_collect_node_are_never_learnt():
    """An ID or PIN is typed in collect nodes: a word said there is never kept, whatever follows."""
    d = at_main_menu()
    d.key("2")                                               # to id_check (collect, secret digits)
    assert d.session.node.type == "collect"
    d.session.handle(VoiceUnsure(), d.now)
    d.now += 1
    for digit in "123456":
        assert learnt(d.key(digit)) == []
