"""What crosses the thread hop: SIP events (pjsua2 thread → loop) and commands (loop → thread)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


# ---- events, posted from the pjsua2 thread (or pjmedia's clock thread for in-band digits) -----
@dataclass(frozen=True)
class IncomingCall:
    uid: str
    caller: str        # remote URI as received
    called: str        # local URI
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MediaReady:
    uid: str


@dataclass(frozen=True)
class HoldChanged:
    """The caller put the box on hold (re-INVITE with sendonly or inactive audio) or took it off."""
    uid: str
    held: bool


@dataclass(frozen=True)
class DigitReceived:
    uid: str
    digit: str
    source: str        # "rfc4733", "sip_info" or "inband"
    at: float          # time.monotonic() when seen


@dataclass(frozen=True)
class VoiceKeyHeard:
    uid: str
    key: str           # a voice key, or a digit string when listening for one
    confidence: float
    at: float          # time.monotonic() when decided


@dataclass(frozen=True)
class VoiceUnsure:
    """A word the caller said that the decoder did not understand, with its audio (int16 8 kHz
    bytes). Sent only while the IVR learns voices (ListenFor.learn)."""
    uid: str
    audio: bytes = field(repr=False)
    at: float


@dataclass(frozen=True)
class SlowSpeech:
    """The caller's speech measured slow (once per call)."""
    uid: str
    syllables_per_second: float


@dataclass(frozen=True)
class PlaybackFinished:
    uid: str
    token: int


@dataclass(frozen=True)
class ForwardAnswered:
    uid: str           # the caller's leg


@dataclass(frozen=True)
class ForwardEnded:
    """Central hung up a bridged forward; the caller's leg is still up."""
    uid: str           # the caller's leg


@dataclass(frozen=True)
class ForwardFailed:
    uid: str
    reason: str


@dataclass(frozen=True)
class CentralWait:
    uid: str           # the caller's leg whose forward carried it
    seconds: int


@dataclass(frozen=True)
class RecordingFinished:
    uid: str
    path: Path
    seconds: float     # 0 when nothing could be recorded


@dataclass(frozen=True)
class CallEnded:
    uid: str
    cause: str         # e.g. "caller hung up", "box hung up", "central hung up"
    code: int


SipEvent = (IncomingCall | MediaReady | HoldChanged | DigitReceived | VoiceKeyHeard | VoiceUnsure | SlowSpeech | PlaybackFinished | ForwardAnswered | ForwardEnded | ForwardFailed
            | CentralWait | RecordingFinished | CallEnded)


# ---- commands, executed on the pjsua2 thread -------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    uid: str
    code: int = 200    # 486 / 503 to refuse


@dataclass(frozen=True)
class PlayFiles:
    uid: str
    token: int
    files: tuple[Path, ...]


@dataclass(frozen=True)
class StopPlay:
    uid: str


@dataclass(frozen=True)
class ForwardTo:
    uid: str
    uri: str
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class CancelForward:
    uid: str


@dataclass(frozen=True)
class DropForward:
    """Central is gone: end the forward leg even if bridged, keep the caller (ForwardFailed follows)."""
    uid: str
    reason: str


@dataclass(frozen=True)
class Dial:
    """Call out (the box calling a caller back): the new leg is an IVR leg like an answered call."""
    uid: str
    uri: str


@dataclass(frozen=True)
class StartRecording:
    uid: str
    path: Path


@dataclass(frozen=True)
class StopRecording:
    uid: str


@dataclass(frozen=True)
class ListenFor:
    """Which spoken keys the caller's tap decodes from now on (empty vocabulary: none).
    `examples`: operators' recordings of key words, int16 8 kHz, by key."""
    uid: str
    language: str
    vocabulary: tuple[str, ...]
    digit_string: bool = False
    examples: dict = field(default_factory=dict, compare=False)
    learn: bool = False        # report words not understood (VoiceUnsure), for learning voices


@dataclass(frozen=True)
class HangUp:
    uid: str


@dataclass(frozen=True)
class AttachLine:
    """An analog call is up (the line driver went off-hook): make it a leg like an answered SIP
    call. `link` (edgepbx.fxo.link.LineLink) carries its audio and its hang-up."""
    uid: str
    caller: str          # "sip:NUMBER@fxo", or "sip:anonymous@fxo"
    called: str
    link: object = field(compare=False)


@dataclass(frozen=True)
class DetachLine:
    """The far end of an analog call cleared (busy tone, loop current, reversal)."""
    uid: str
    how: str


SipCommand = (Answer | PlayFiles | StopPlay | ForwardTo | CancelForward | DropForward | Dial | StartRecording
              | StopRecording | ListenFor | HangUp | AttachLine | DetachLine)
