"""What the engine is told (events) and what it asks for (actions): small frozen dataclasses."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


# ---- events fed to the engine -------------------------------------------------------------
@dataclass(frozen=True)
class Digit:
    digit: str


@dataclass(frozen=True)
class VoiceKey:
    """A key word the caller said: "0".."9", "back", "operator", "repeat", "lost_card", "yes",
    "no", or a whole digit string (collect nodes listen for strings)."""
    key: str
    confidence: float = 1.0


@dataclass(frozen=True)
class VoiceUnsure:
    """The caller said a word the box did not understand (it may press the key next)."""


@dataclass(frozen=True)
class SpeechPace:
    """The caller's measured articulation rate (syllables per second of speech)."""
    syllables_per_second: float
    slow: bool


@dataclass(frozen=True)
class PlaybackDone:
    token: int  # the Play action's token; stale tokens (stopped prompts) are ignored


@dataclass(frozen=True)
class Timeout:
    """The deadline the engine reported has passed (checked against `now`)."""


@dataclass(frozen=True)
class ForwardResult:
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class RecordingStopped:
    """The caller's message is closed on disk (or could not be recorded: seconds 0)."""
    seconds: float


@dataclass(frozen=True)
class CallerHungUp:
    pass


@dataclass(frozen=True)
class CallerHold:
    """The caller put the call on hold (`held`), or came back."""
    held: bool


Event = (Digit | VoiceKey | VoiceUnsure | SpeechPace | PlaybackDone | Timeout | ForwardResult | RecordingStopped | CallerHungUp
         | CallerHold)


# ---- actions returned by the engine ---------------------------------------------------------
@dataclass(frozen=True)
class Play:
    token: int
    prompts: tuple[tuple[str, str], ...]  # (prompt id, language), played in order
    barge_in: bool  # a key press stops it
    variant: str = "normal"  # "elderly": the slow, loud rendering; "visually_impaired": pauses after options


@dataclass(frozen=True)
class StopPlayback:
    pass


@dataclass(frozen=True)
class ForwardContext:
    """What the agent sees: never a secret value, only the names of secret fields collected."""
    path: tuple[str, ...]
    language: str
    data: Mapping[str, str]
    secret_fields: tuple[str, ...]
    mode: str
    queue: str | None


@dataclass(frozen=True)
class Forward:
    context: ForwardContext
    target: str = "central"   # or "backup": the configured backup number


@dataclass(frozen=True)
class Record:
    """Start recording the caller (a voice message) for at most `max_seconds`."""
    max_seconds: float
    context: ForwardContext


@dataclass(frozen=True)
class StopRecording:
    pass


@dataclass(frozen=True)
class SendText:
    """A text to the caller (or `number`), already in their language; only non-secret fields in it."""
    number: str | None  # None: the caller ID
    text: str


@dataclass(frozen=True)
class RequestCallback:
    number: str | None  # None: call back the caller ID
    context: ForwardContext


@dataclass(frozen=True)
class Listen:
    """Which spoken keys to listen for from now on (empty: none). `digit_string`: a collect
    node wants the whole string the caller says, digit by digit."""
    language: str
    vocabulary: tuple[str, ...]
    digit_string: bool = False


@dataclass(frozen=True)
class LearnVoice:
    """The word the caller said last, not understood, was `key`: the caller pressed it at once
    in the same menu. The call task may keep that word's audio to learn the voice (menus only:
    never a collected number, ID or PIN)."""
    key: str
    language: str


@dataclass(frozen=True)
class Hangup:
    reason: str


@dataclass(frozen=True)
class ModeChanged:
    """The call now runs in `mode` ("elderly", "visually_impaired"); `reason` says why."""
    mode: str
    reason: str


@dataclass(frozen=True)
class Entered:
    """Informational: the caller reached a node (for the log line and the record)."""
    node: str
    type: str


@dataclass(frozen=True)
class Collected:
    """Informational: a collect node completed; `shown` is masked for secret fields."""
    field: str
    shown: str
    secret: bool = False


Action = (Play | StopPlayback | Forward | RequestCallback | SendText | Record | StopRecording | Listen | Hangup | Entered
          | Collected | ModeChanged | LearnVoice)
