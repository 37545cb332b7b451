"""The FXO line state machine, driven by synthetic ring pulses, caller ID and clearing."""
from __future__ import annotations

import pytest

from edgepbx.dsp.callerid import CallerId
from edgepbx.fxo.line import (AnswerPolicy, BoxHangsUp, CallerIdHeard, EndCall, FarEndCleared, Hook, LineMachine,
                              ListenCallerId, MissedCall, RingDetect, StartCall, State, Tick)

CID = CallerId("13812345678", time="11-26 14:30")


class Line:
    """Feeds ring pulses at 25 Hz and ticks every 20 ms; collects the machine's actions."""

    def __init__(self, machine: LineMachine) -> None:
        self.m = machine
        self.t = 0.0
        self.actions: list[object] = []

    def run(self, seconds: float, ringing: bool = False) -> None:
        end = self.t + seconds
        while self.t < end - 1e-9:
            pulse = ringing and int(round(self.t / 0.02)) % 2 == 0   # 25 Hz: on 20 ms, off 20 ms
            self.actions += self.m.handle(RingDetect(True, self.t) if pulse else Tick(self.t))
            self.t = round(self.t + 0.02, 6)

    def ring(self, on: float, off: float) -> None:
        self.run(on, ringing=True)
        self.run(off)

    def send(self, event_type: type, *args: object) -> None:
        self.actions += self.m.handle(event_type(*args, self.t))

    def of(self, kind: type) -> list:
        return [a for a in self.actions if isinstance(a, kind)]


def test_answers_after_two_china_rings_without_caller_id() -> None:
    line = Line(LineMachine("cn", AnswerPolicy(after_rings=2, on_caller_id=True)))
    line.ring(1.0, 4.0)
    assert line.of(Hook) == [] and line.m.state is State.RINGING and line.m.rings == 1
    line.ring(1.0, 0.5)
    assert line.of(Hook) == [Hook(off=True)]
    assert line.of(StartCall) == [StartCall(None, 2)] and line.m.state is State.IN_CALL


def test_answers_as_soon_as_caller_id_is_in() -> None:
    line = Line(LineMachine("cn", AnswerPolicy(after_rings=4, on_caller_id=True)))
    line.ring(1.0, 0.8)
    line.send(CallerIdHeard, CID)
    line.run(0.5)
    assert line.of(StartCall) == [StartCall(CID, 1)]
    assert line.of(ListenCallerId) == [ListenCallerId(False)]


def test_waits_for_the_rings_when_told_to() -> None:
    line = Line(LineMachine("cn", AnswerPolicy(after_rings=3, on_caller_id=False)))
    line.ring(1.0, 0.8)
    line.send(CallerIdHeard, CID)
    line.run(3.2)
    line.ring(1.0, 4.0)
    assert line.of(Hook) == []
    line.ring(1.0, 0.5)
    assert line.of(StartCall) == [StartCall(CID, 3)]


@pytest.mark.parametrize("spike", [0.01, 0.05, 0.1])
def test_glitches_and_spikes_are_not_rings(spike: float) -> None:
    line = Line(LineMachine("cn", AnswerPolicy(after_rings=1, on_caller_id=False)))
    for _ in range(5):
        line.ring(spike, 1.0)
    assert line.m.rings == 0 and line.of(Hook) == [] and line.m.state is State.IDLE


def test_a_continuous_ring_signal_is_not_a_ring() -> None:
    line = Line(LineMachine("cn", AnswerPolicy(after_rings=1, on_caller_id=False)))
    line.ring(5.0, 1.0)
    assert line.m.rings == 0 and line.of(Hook) == []


def test_uk_double_ring() -> None:
    line = Line(LineMachine("uk", AnswerPolicy(after_rings=2, on_caller_id=False)))
    line.ring(0.4, 0.2)
    line.ring(0.4, 0.5)
    assert line.of(StartCall) == [StartCall(None, 2)]


def test_caller_who_gives_up_is_a_missed_call() -> None:
    line = Line(LineMachine("cn", AnswerPolicy(after_rings=3, on_caller_id=False)))
    line.ring(1.0, 1.0)
    line.send(CallerIdHeard, CID)
    line.run(8.0)
    assert line.of(MissedCall) == [MissedCall(CID, 1)]
    assert line.m.state is State.IDLE and line.m.caller_id is None


def test_far_end_clear_hangs_up_and_rings_are_ignored_while_clearing() -> None:
    line = Line(LineMachine("cn", AnswerPolicy(after_rings=1, on_caller_id=False)))
    line.ring(1.0, 0.5)
    line.send(FarEndCleared, "busy")
    assert line.of(EndCall) == [EndCall("busy")] and line.of(Hook)[-1] == Hook(off=False)
    line.run(0.3, ringing=True)            # hook transient on the ring detector
    line.run(1.0)
    assert line.m.state is State.IDLE and line.m.rings == 0
    assert line.of(ListenCallerId)[-1] == ListenCallerId(True)


def test_box_hangs_up() -> None:
    line = Line(LineMachine("cn", AnswerPolicy(after_rings=1, on_caller_id=False)))
    line.ring(1.0, 0.5)
    line.send(BoxHangsUp)
    assert line.of(Hook)[-1] == Hook(off=False) and line.of(EndCall) == []
    line.send(FarEndCleared, "busy")          # late: the line is already on-hook
    assert line.of(EndCall) == []


def test_unknown_country() -> None:
    with pytest.raises(ValueError, match="cn"):
        LineMachine("xx")
