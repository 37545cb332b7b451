"""The IVR engine: one caller's walk through a flow, as a state machine without I/O.

It is fed events (digit, prompt finished, timeout, forward result, hang-up) with the time
`now`, and returns actions (play, stop, forward, hang up, ...). It never sleeps or reads a
clock: `deadline` says when it next wants a Timeout event, and the local time an `hours`
node asks for comes from the `clock` it is given. Tests drive it with synthetic
events and a hand-advanced clock; the call task drives it from the SIP edge.
"""
from __future__ import annotations

import time
from enum import Enum
from typing import Callable

from edgepbx.ivr.events import (Action, CallerHold, CallerHungUp, Collected, Digit, Entered, Event, Forward,
                                ForwardContext, ForwardResult, Hangup, LearnVoice, Listen, ModeChanged, Play,
                                PlaybackDone, Record, RecordingStopped, RequestCallback, SendText, SpeechPace, StopPlayback,
                                StopRecording, Timeout, VoiceKey, VoiceUnsure)
from edgepbx.ivr.flow import GLOBAL_ACTIONS, TEXT_FIELD, VI_SUFFIX, VOICE_SHORTCUTS, Flow, Node
from edgepbx.ivr.schedule import is_open

SECRET_MASK = "***"
MODES = ("normal", "elderly", "visually_impaired")
MODE_WORDS = ("elderly", "visually_impaired")   # voice keys that switch the mode
GREETING_KEYS = {"0": "elderly", "*": "visually_impaired"}
TIMEOUT_FACTOR = {"normal": 1.0, "elderly": 1.5, "visually_impaired": 2.0}
FAILURES_BEFORE_ELDERLY = 2      # failed inputs in a row (wrong key, no key)
SLOW_RESPONSE_S = 5.0            # from the end of a prompt to the first key
SLOW_RESPONSES_BEFORE_ELDERLY = 2
LEARN_WINDOW_S = 8.0             # a key pressed this soon after a word not understood names that word
HOLD_LIMIT_S = 600.0             # a caller who never comes back from hold is hung up
PAUSABLE = ("menu", "collect", "language", "play", "message")  # nodes said again, unchanged, after a hold


class Phase(Enum):
    PROMPT = "prompt"          # the node's prompt is playing
    WAIT = "wait"              # waiting for a key, `deadline` set
    PRE_FORWARD = "pre_forward"  # "transferring you" before the forward
    FORWARDING = "forwarding"  # second leg placed, waiting for its answer
    BRIDGED = "bridged"        # talking to central
    RECORDING = "recording"    # the caller is leaving a message, `deadline` at its limit
    SAVING = "saving"          # message stopped, waiting for the file to be closed
    CONFIRM = "confirm"        # reading back a spoken number, waiting for yes (1) or no (2)
    HELD = "held"              # the caller holds the call: nothing plays, no input counts
    CLOSING = "closing"        # last prompt before hanging up
    DONE = "done"


class CallSession:
    """One call's IVR state. Create, call `start(now)`, then `handle(event, now)`."""

    def __init__(self, flow: Flow, language: str, mode: str = "normal",
                 carried: ForwardContext | None = None,
                 clock: Callable[[], time.struct_time] = time.localtime) -> None:
        """`carried`: the context of an earlier flow this call walked (path and data go on).
        `clock` gives local time, for `hours` nodes."""
        self.flow = flow
        self.clock = clock
        self.language = language if language in flow.languages else flow.languages[0]
        self.mode = mode
        self.path: list[str] = list(carried.path) if carried else []
        self.data: dict[str, str] = dict(carried.data) if carried else {}  # non-secret collected fields
        self._secrets: dict[str, str] = dict.fromkeys(carried.secret_fields, "") if carried else {}  # held for the call only
        self.outcome: str | None = None
        self.deadline: float | None = None
        self.node: Node = flow.nodes[flow.start]
        self.phase = Phase.PROMPT
        self._menus: list[str] = []
        self._buffer = ""
        self._failures = 0
        self._token = 0
        self._playing: int | None = None
        self._listening: Listen | None = None
        self._hinted: set[str] = set()
        self.mode_reason = "directory" if mode != "normal" else ""
        self._greeting = not carried          # the first node: where 0 / * choose a mode
        self._wait_since: float | None = None
        self._slow_responses = 0
        self._fact_repeated = False
        self._unsure: tuple[float, str] | None = None    # (when, menu node) of the last word not understood

    # ---- public interface ------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.phase is Phase.DONE

    @property
    def secret_input(self) -> bool:
        """True while keys pressed are a secret (the SIP edge must not log them)."""
        return (self.node.type == "collect" and self.node.secret
                and self.phase in (Phase.PROMPT, Phase.WAIT, Phase.HELD))

    def record_digits(self) -> dict[str, str]:
        """Collected fields as they may be stored: secret values masked."""
        return {**self.data, **{name: SECRET_MASK for name in self._secrets}}

    def start(self, now: float) -> list[Action]:
        return self._enter(self.flow.start, now)

    def handle(self, event: Event, now: float) -> list[Action]:
        if self.phase is Phase.DONE:
            return []
        if isinstance(event, CallerHungUp):
            self.phase = Phase.DONE
            self.deadline = None
            if self.outcome is None:
                self.outcome = "abandoned"
            return []
        if isinstance(event, CallerHold):
            return self._on_hold(event.held, now)
        if self.phase is Phase.HELD and not isinstance(event, Timeout):
            return []                       # music on hold is not the caller speaking or pressing
        if isinstance(event, Digit):
            if self.phase is Phase.CONFIRM:
                return self._on_confirm(event.digit, now)
            return self._on_digit(event.digit, now)
        if isinstance(event, VoiceKey):
            if event.key in MODE_WORDS:
                return self._set_mode(event.key, f"said {event.key}", now) if self.mode != event.key else []
            return self._on_voice(event.key, now)
        if isinstance(event, VoiceUnsure):
            listening = self._listening
            if (self.node.type == "menu" and self.phase in (Phase.PROMPT, Phase.WAIT)
                    and listening is not None and listening.vocabulary and not listening.digit_string):
                self._unsure = (now, self.node.id)
            return []
        if isinstance(event, SpeechPace):
            if event.slow and self.mode == "normal":
                return self._note_mode("elderly", f"slow speech ({event.syllables_per_second:.1f} syllables/s)")
            return []
        if isinstance(event, PlaybackDone):
            return self._on_playback_done(event.token, now) if event.token == self._playing else []
        if isinstance(event, Timeout):
            if self.deadline is None or now < self.deadline:
                return []  # stale timer
            self.deadline = None
            return self._on_timeout(now)
        if isinstance(event, ForwardResult):
            return self._on_forward_result(event, now) if self.phase is Phase.FORWARDING else []
        if isinstance(event, RecordingStopped):
            return self._on_recording_stopped(event, now) if self.phase is Phase.SAVING else []
        raise TypeError(f"unknown event {event!r}")

    # ---- helpers ---------------------------------------------------------------------------
    def _play(self, prompts: tuple[str, ...], barge_in: bool) -> list[Action]:
        self._token += 1
        self._playing = self._token
        if self.node.type == "language" and self.phase is Phase.PROMPT:
            # The language choice is offered in every language of the flow, each in its own.
            refs = tuple((p, lang) for lang in self.flow.languages for p in prompts)
        else:
            refs = tuple((p, self.language) for p in prompts)
        if self.mode == "visually_impaired":   # no "see our website" for blind callers
            refs = tuple((p + VI_SUFFIX if p + VI_SUFFIX in self.flow.prompts else p, lang) for p, lang in refs)
        return [Play(self._token, refs, barge_in, self.mode)]

    def _stop(self) -> list[Action]:
        if self._playing is None or self.phase is not Phase.PROMPT:
            return []
        self._playing = None
        return [StopPlayback()]

    @property
    def voice_keys(self) -> bool:
        """Whether callers may say keys here: the node (or else the flow) turns it on;
        visually-impaired mode always has it."""
        if self.mode == "visually_impaired":
            return True
        return self.node.voice_keys if self.node.voice_keys is not None else self.flow.voice_keys

    def _listen(self, vocabulary: tuple[str, ...], digit_string: bool = False) -> list[Action]:
        """Tell the edge what to listen for, when that changes."""
        wanted = Listen(self.language, vocabulary if self.voice_keys else (), digit_string and self.voice_keys)
        if wanted == self._listening or (self._listening is None and not wanted.vocabulary):
            return []
        self._listening = wanted
        return [wanted]

    def _vocabulary(self, node: Node) -> tuple[str, tuple[str, ...]] | None:
        """(kind, words) a node listens for: the keys that do something there, and the shortcuts."""
        shortcuts = tuple(w for w in VOICE_SHORTCUTS if w in self.flow.voice_shortcuts)
        if node.type == "menu":
            keys = {k for k in node.options if k.isdigit()} | {k for k in self.flow.global_keys if k.isdigit()}
            yes_no = ("yes", "no") if {"1", "2"} <= set(node.options) else ()   # "press 1 or say yes"
            return "keys", tuple(sorted(keys)) + yes_no + shortcuts + self._mode_words()
        if node.type == "language":
            return "keys", tuple(sorted(k for k in node.options if k.isdigit())) + self._mode_words()
        if node.type == "collect":
            # A secret is typed, not said aloud: only the shortcuts are heard there.
            return ("keys", shortcuts) if node.secret else ("string", tuple("0123456789") + shortcuts)
        if node.type == "play":
            return "keys", shortcuts
        return None

    def _mode_words(self) -> tuple[str, ...]:
        return tuple(w for w in MODE_WORDS if w != self.mode)

    def _timeout(self, name: str) -> float:
        override = getattr(self.node, name)
        base = override if override is not None else getattr(self.flow, name)
        return base * TIMEOUT_FACTOR[self.mode]

    # ---- modes -----------------------------------------------------------------------------
    def _note_mode(self, mode: str, reason: str) -> list[Action]:
        """From now on the call runs in `mode` (what is playing finishes as it is)."""
        self.mode, self.mode_reason = mode, reason
        return [ModeChanged(mode, reason)]

    def _set_mode(self, mode: str, reason: str, now: float) -> list[Action]:
        """Switch mode and say the current step again, the new way."""
        if self.phase not in (Phase.PROMPT, Phase.WAIT, Phase.CONFIRM):
            return self._note_mode(mode, reason)
        actions = self._note_mode(mode, reason) + self._stop_any()
        return actions + self._enter(self.node.id, now, push=False)

    def _stop_any(self) -> list[Action]:
        """Stop what is playing, in any phase (`_stop` only stops a node's own prompt)."""
        if self._playing is None:
            return []
        self._playing = None
        return [StopPlayback()]


    def context(self) -> ForwardContext:
        return ForwardContext(path=tuple(self.path), language=self.language, data=dict(self.data),
                              secret_fields=tuple(self._secrets), mode=self.mode, queue=self.node.queue)

    def _enter(self, node_id: str, now: float, push: bool = True) -> list[Action]:
        node = self.flow.nodes[node_id]
        if node.type == "hours":       # leads on at once; the greeting is the node it leads to
            branch = node.next if is_open(node.openings, node.closed_dates, self.clock()) else node.closed
            assert branch is not None
            self.path.append(node_id)
            if self.node is node:
                self.node = self.flow.nodes[branch]
            return [Entered(node_id, node.type)] + self._enter(branch, now, push)
        if node is not self.node:
            self._failures = 0
            self._greeting = False
            self._fact_repeated = False
        self.node = node
        self.path.append(node_id)
        self._buffer = ""
        self.deadline = None
        self._playing = None
        if node.type == "menu" and push and (not self._menus or self._menus[-1] != node_id):
            self._menus.append(node_id)
        actions: list[Action] = [Entered(node_id, node.type)]
        listening = self._vocabulary(node)
        actions += self._listen(listening[1], listening[0] == "string") if listening else self._listen(())
        if node.type in ("menu", "collect", "language", "play"):
            self.phase = Phase.PROMPT
            return actions + self._play(self._node_prompts(node), barge_in=True)
        if node.type == "message":
            self.phase = Phase.PROMPT
            return actions + self._play(node.prompt, barge_in=False)
        if node.type == "forward":
            if node.prompt:
                self.phase = Phase.PRE_FORWARD
                return actions + self._play(node.prompt, barge_in=False)
            return actions + self._forward()
        if node.type == "callback":
            number = self.data.get(node.number_field) if node.number_field else None
            self.outcome = "callback_requested"
            self.phase = Phase.PROMPT
            return actions + [RequestCallback(number, self.context())] + self._play(node.prompt, barge_in=False)
        if node.type == "text":
            number = self.data.get(node.number_field) if node.number_field else None
            template = node.text.get(self.language) or next(iter(node.text.values()))
            text = TEXT_FIELD.sub(lambda m: self.data.get(m.group(1), ""), template)   # non-secret fields only
            self.phase = Phase.PROMPT
            return actions + [SendText(number, text)] + self._play(node.prompt, barge_in=False)
        # hangup
        if self.outcome is None:
            self.outcome = "completed"
        return actions + self._close(node.prompt)

    def _node_prompts(self, node: Node) -> tuple[str, ...]:
        """What a node says, for this caller: the accessibility offer at the greeting, the
        elderly version of a menu with the human first, key facts twice, the voice hint."""
        prompts = node.prompt
        if node.type == "menu" and self.mode == "elderly":
            prompts = ("elderly_human_first",) + (node.elderly_prompt or node.prompt)
        if node.type == "menu" and self.mode == "visually_impaired" and "key_locations" not in self._hinted:
            self._hinted.add("key_locations")
            prompts = ("key_locations",) + prompts
        if node.type == "play" and node.key_fact and self.mode == "elderly":
            prompts = node.prompt + ("again",) + node.prompt + ("heard_it",)
        if node.type == "menu" and self.voice_keys and node.id not in self._hinted:
            self._hinted.add(node.id)       # "...or say the number", once per menu
            prompts += ("voice_hint",)
        if self._greeting and self.mode == "normal" and self.flow.accessibility_offer:
            prompts = prompts + ("accessibility_offer",)   # after the greeting: keys barge in on both
        return prompts

    def _close(self, prompts: tuple[str, ...]) -> list[Action]:
        if prompts:
            self.phase = Phase.CLOSING
            return self._play(prompts, barge_in=False)
        self.phase = Phase.DONE
        return [Hangup(self.outcome or "completed")]

    def _forward(self) -> list[Action]:
        self.phase = Phase.FORWARDING
        return [Forward(self.context(), self.node.target)]

    def _failure(self, now: float) -> list[Action]:
        self._failures += 1
        self._buffer = ""
        self.deadline = None
        if self.mode == "normal" and self._failures >= FAILURES_BEFORE_ELDERLY and self._failures < self.flow.max_failures:
            switched = self._note_mode("elderly", f"{self._failures} failed inputs in a row")
            self.phase = Phase.PROMPT
            return switched + self._play(("sorry",) + self._node_prompts(self.node), barge_in=True)
        if self._failures >= self.flow.max_failures:
            return self._enter(self.flow.fallback, now)
        self.phase = Phase.PROMPT
        listening = self._vocabulary(self.node)     # after a read-back, the node's own words again
        relisten = self._listen(listening[1], listening[0] == "string") if listening else []
        return relisten + self._play(("sorry",) + self.node.prompt, barge_in=True)

    def _global(self, key: str, now: float) -> list[Action]:
        return self._shortcut(self.flow.global_keys[key], now)

    def _shortcut(self, action: str, now: float) -> list[Action]:
        """A key or word valid at every level: "repeat", "back", or a node to go to."""
        stop = self._stop()
        if action == "repeat":
            self.phase = Phase.PROMPT
            self._buffer = ""
            self.deadline = None
            return stop + self._play(self.node.prompt, barge_in=True)
        if action == "back":
            if self._menus and self._menus[-1] == self.node.id and len(self._menus) > 1:
                self._menus.pop()
            target = self._menus[-1] if self._menus else self.node.id
            return stop + self._enter(target, now, push=False)
        return stop + self._enter(action, now)

    # ---- event handlers --------------------------------------------------------------------
    def _on_digit(self, digit: str, now: float) -> list[Action]:
        if (self._greeting and self.mode == "normal" and self.flow.accessibility_offer and digit in GREETING_KEYS
                and self.phase in (Phase.PROMPT, Phase.WAIT)):
            return self._set_mode(GREETING_KEYS[digit], f"pressed {digit} at the greeting", now)
        slow: list[Action] = []
        if self.phase is Phase.WAIT and self._wait_since is not None and not self._buffer:
            if now - self._wait_since > SLOW_RESPONSE_S:
                self._slow_responses += 1
                if self._slow_responses >= SLOW_RESPONSES_BEFORE_ELDERLY and self.mode == "normal":
                    slow = self._note_mode("elderly", f"{self._slow_responses} slow answers")
            self._wait_since = None
        return slow + self._key(digit, now)

    def _key(self, digit: str, now: float) -> list[Action]:
        node = self.node
        if node.type == "play" and node.key_fact and self.mode == "elderly" and self.phase is Phase.WAIT:
            if digit == "1":
                assert node.next is not None
                return self._enter(node.next, now)
        if self.phase is Phase.RECORDING:
            return self._stop_recording() if digit == "#" else []
        if self.phase not in (Phase.PROMPT, Phase.WAIT) or node.type in ("callback", "message", "text"):
            return []  # keys during forwarding, talking or goodbye are not the IVR's
        if node.type == "collect":
            return self._collect_digit(digit, now)
        if digit in self.flow.global_keys:
            return self._global(digit, now)
        if node.type == "menu":
            offered = node.elderly_options if self.mode == "elderly" and node.elderly_options else node.options
            if digit in offered:
                return self._learned(digit, now) + self._stop() + self._enter(node.options[digit], now)
            self._unsure = None          # a wrong key first: what the word meant is not known
            return self._stop() + self._failure(now)
        if node.type == "language":
            if digit in node.options:
                self.language = node.options[digit]
                return self._stop() + self._enter(node.next, now)
            return self._stop() + self._failure(now)
        return []  # play nodes: only global keys act

    def _on_voice(self, key: str, now: float) -> list[Action]:
        """A spoken key acts exactly as the pressed key would; words not listened for do nothing."""
        heard = self._listening
        if heard is None or self.phase not in (Phase.PROMPT, Phase.WAIT, Phase.CONFIRM):
            return []
        if self.phase is Phase.CONFIRM:
            return self._on_confirm({"yes": "1", "no": "2"}.get(key, key), now)
        if heard.digit_string and key.isdigit():
            return self._heard_string(key, now)
        if key not in heard.vocabulary:
            return []
        if key in self.flow.voice_shortcuts:
            action = self.flow.voice_shortcuts[key]
            if action in GLOBAL_ACTIONS or action in self.flow.nodes:
                return self._shortcut(action, now)
        if key in ("yes", "no"):
            key = "1" if key == "yes" else "2"
        return self._on_digit(key, now) if key.isdigit() else []

    def _learned(self, digit: str, now: float) -> list[Action]:
        """LearnVoice when this key, pressed in a menu, follows a word of the same menu not understood."""
        unsure, self._unsure = self._unsure, None
        listening = self._listening
        if (unsure is None or unsure[1] != self.node.id or now - unsure[0] > LEARN_WINDOW_S
                or listening is None or digit not in listening.vocabulary):
            return []
        return [LearnVoice(digit, self.language)]

    def _heard_string(self, digits: str, now: float) -> list[Action]:
        """A number said aloud in a collect node: read it back and ask for confirmation."""
        node = self.node
        actions = self._stop()
        self._buffer = digits[: node.max_digits]
        self.phase = Phase.CONFIRM
        self.deadline = None
        readback = ("heard",) + tuple(f"digit_{d}" for d in self._buffer) + ("heard_confirm",)
        actions += self._listen(("1", "2", "yes", "no"))
        self._token += 1
        self._playing = self._token
        return actions + [Play(self._token, tuple((p, self.language) for p in readback), True)]

    def _on_confirm(self, key: str, now: float) -> list[Action]:
        if key == "1":
            return self._stop_any() + self._complete(now)
        if key == "2":
            self._buffer = ""
            return self._stop_any() + self._enter(self.node.id, now, push=False)
        return []

    def _collect_digit(self, digit: str, now: float) -> list[Action]:
        node = self.node
        if digit.isdigit():
            actions = self._stop()
            self.phase = Phase.WAIT
            self._buffer += digit
            if len(self._buffer) >= node.max_digits:
                return actions + self._complete(now)
            self.deadline = now + self._timeout("inter_digit_timeout_s")
            return actions
        if node.terminator and digit == node.terminator:
            return self._stop() + self._complete(now)
        # Digit keys are data here; only non-digit global keys (such as '*') navigate.
        if digit in self.flow.global_keys:
            return self._global(digit, now)
        return []

    def _complete(self, now: float) -> list[Action]:
        node = self.node
        value, self._buffer = self._buffer, ""
        if self._lone_global_key(value):
            # "0 = a human at any level": a caller asked for a number who presses just 0 and
            # waits (or presses #) wants the human, as the greeting promised, not "sorry".
            return self._global(value, now)
        if len(value) < node.min_digits:
            return self._failure(now)
        assert node.field is not None and node.next is not None
        if node.secret:
            self._secrets[node.field] = value
        else:
            self.data[node.field] = value
        shown = SECRET_MASK if node.secret else value
        return [Collected(node.field, shown, node.secret)] + self._enter(node.next, now)

    def _lone_global_key(self, value: str) -> bool:
        """One digit alone where a number needs more, and that digit a global key elsewhere."""
        return len(value) == 1 and self.node.min_digits > 1 and value in self.flow.global_keys

    def _on_playback_done(self, token: int, now: float) -> list[Action]:
        self._playing = None
        node = self.node
        if self.phase is Phase.CLOSING:
            self.phase = Phase.DONE
            return [Hangup(self.outcome or "completed")]
        if self.phase is Phase.PRE_FORWARD:
            return self._forward()
        if self.phase is Phase.CONFIRM:
            self.deadline = now + self._timeout("first_digit_timeout_s")
            return []
        if self.phase is not Phase.PROMPT:
            return []
        if node.type == "play" and node.key_fact and self.mode == "elderly":
            self.phase = Phase.WAIT           # "if you heard it, press 1"
            self.deadline = now + self._timeout("first_digit_timeout_s")
            return []
        if node.type in ("play", "callback", "text"):
            assert node.next is not None
            return self._enter(node.next, now)
        if node.type == "message":  # the instructions are over: record
            self.phase = Phase.RECORDING
            self.deadline = now + node.max_seconds
            return [Record(node.max_seconds, self.context())]
        self.phase = Phase.WAIT
        self._wait_since = now
        if not self._buffer:
            self.deadline = now + self._timeout("first_digit_timeout_s")
        return []

    def _stop_recording(self) -> list[Action]:
        self.phase = Phase.SAVING
        self.deadline = None
        return [StopRecording()]

    def _on_recording_stopped(self, event: RecordingStopped, now: float) -> list[Action]:
        if event.seconds >= 1.0:
            self.outcome = "message_left"
        assert self.node.next is not None
        return self._enter(self.node.next, now)

    def _on_hold(self, held: bool, now: float) -> list[Action]:
        """A caller who holds (to fetch a card, to take another call) misses nothing: the
        step waits, without timeouts or failures, and is said again from the start on return."""
        if held:
            if self.phase not in (Phase.PROMPT, Phase.WAIT, Phase.CONFIRM) or self.node.type not in PAUSABLE:
                return []               # a forward, a message being recorded, a goodbye: they go on
            self.phase = Phase.HELD
            self.deadline = now + HOLD_LIMIT_S
            return self._stop_any()
        if self.phase is not Phase.HELD:
            return []
        return self._enter(self.node.id, now, push=False)

    def _on_timeout(self, now: float) -> list[Action]:
        node = self.node
        if self.phase is Phase.HELD:
            self.outcome = self.outcome or "abandoned"
            return self._close(())
        if self.phase is Phase.RECORDING:
            return self._stop_recording()
        if self.phase is Phase.CONFIRM:       # no answer to "is that right?": ask for the number again
            self._buffer = ""
            return self._failure(now)
        if self.phase is not Phase.WAIT:
            return []
        if node.type == "language":
            assert node.next is not None
            return self._enter(node.next, now)  # keep the default language
        if node.type == "collect" and self._buffer:
            return self._complete(now)
        if node.type == "play":               # a key fact not confirmed: once more, then go on
            assert node.next is not None
            if self._fact_repeated:
                return self._enter(node.next, now)
            self._fact_repeated = True
            self.phase = Phase.PROMPT
            return self._play(self._node_prompts(node), barge_in=True)
        return self._failure(now)

    def _on_forward_result(self, result: ForwardResult, now: float) -> list[Action]:
        if result.ok:
            self.phase = Phase.BRIDGED
            self.outcome = "forwarded"
            return []
        self.outcome = "forward_failed"
        if self.node.on_fail:
            return self._enter_after_busy(self.node.on_fail, now)
        return self._close(("agents_busy",))

    def _enter_after_busy(self, node_id: str, now: float) -> list[Action]:
        """'All agents are busy', then the node the flow names for a failed forward."""
        actions = self._enter(node_id, now)
        busy = (("agents_busy", self.language),)
        for i, action in enumerate(actions):
            if isinstance(action, Play):
                actions[i] = Play(action.token, busy + action.prompts, action.barge_in)
                return actions
        return actions
