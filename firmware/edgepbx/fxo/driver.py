"""The analog line's I/O edge: GPIO (gpiozero), the sound device, and the call stack.

On the loop: the line state machine, fed by pin edges, caller IDs and disconnect tones (all
moved onto the loop) and a 20 ms tick. A pump thread reads the line's audio: on-hook it goes to
the caller-ID receiver, in a call to the call stack (through the link's ring) and to the tone
detector. A writer thread sends the call's audio to the line, so a slow device never stalls
pjmedia's clock. An answered analog call is a leg of the SIP stack (AttachLine): the same IVR,
records and forwarding as a SIP call.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from typing import Callable

from edgepbx.config import FxoSection
from edgepbx.dsp.callerid import CallerId, CallerIdReceiver
from edgepbx.dsp.progress import ToneDetector
from edgepbx.fxo import line as ln
from edgepbx.fxo.audio import AudioRing, LineAudio, open_audio
from edgepbx.fxo.link import LineLink
from edgepbx.sip import events as sip

log = logging.getLogger("edgepbx.fxo")
TICK_S = 0.02
SETTLE_S = 0.5          # reversal / loop-current changes this soon after a hook change are transients


def caller_uri(cid: CallerId | None) -> str:
    return f"sip:{cid.number}@fxo" if cid is not None and cid.number else "sip:anonymous@fxo"


def describe(cid: CallerId | None) -> str:
    if cid is None:
        return "no caller ID"
    who = cid.number or f"withheld ({cid.reason})"
    return f"{who}{f' {cid.name!r}' if cid.name else ''}{f' at {cid.time}' if cid.time else ''} ({cid.standard})"


class FxoLine:
    def __init__(self, config: FxoSection, pins: dict[str, int], factory: object, send: Callable[[object], None],
                 on_missed: Callable[[CallerId | None, int], None] | None = None) -> None:
        """`send`: a command to the SIP stack's thread. `factory`: gpiozero's pin factory (None: default)."""
        from gpiozero import DigitalInputDevice, DigitalOutputDevice
        missing = [p for p in ("fxo_ring_detect", "fxo_hook_relay") if p not in pins]
        if missing:
            raise ValueError(f"the pin map has no {', '.join(missing)}")
        self.config = config
        self.send = send
        self.on_missed = on_missed
        self.ways = {w.strip() for w in config.disconnect.split(",")}
        self.machine = ln.LineMachine(config.country, ln.AnswerPolicy(config.answer_after_rings,
                                                                      config.answer_on_caller_id))
        kw = {"pin_factory": factory} if factory is not None else {}
        self.ring = DigitalInputDevice(pins["fxo_ring_detect"], pull_up=True, **kw)     # opto, active low
        self.hook = DigitalOutputDevice(pins["fxo_hook_relay"], initial_value=False, **kw)
        self.reversal = (DigitalInputDevice(pins["fxo_line_reversal"], pull_up=True, **kw)
                         if "fxo_line_reversal" in pins and "reversal" in self.ways else None)
        self.loop_current = (DigitalInputDevice(pins["fxo_loop_current"], pull_up=True, **kw)
                             if "fxo_loop_current" in pins and "loop_current" in self.ways else None)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._hook_changed = 0.0
        self._calls = 0
        self._uid: str | None = None
        self._listening = True                 # caller-ID receiver on (on-hook)
        self._link: LineLink | None = None
        self._tones: ToneDetector | None = None      # the far end's busy tone, during a call
        self._to_line: queue.Queue[bytes] = queue.Queue(maxsize=50)
        self._stop = threading.Event()
        self._audio: LineAudio | None = None
        self._threads: list[threading.Thread] = []

    # ---- lifetime -----------------------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.ring.when_activated = lambda: self._post(ln.RingDetect(True, time.monotonic()))
        if self.reversal is not None:
            self.reversal.when_activated = self.reversal.when_deactivated = lambda: self._cleared("reversal")
        if self.loop_current is not None:
            self.loop_current.when_deactivated = lambda: self._cleared("loop_current")
        for target, name in ((self._pump, "fxo-audio-in"), (self._writer, "fxo-audio-out")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("analog line ready (%s, answer after %d rings%s, disconnect by %s)", self.config.country,
                 self.config.answer_after_rings, " or caller ID" if self.config.answer_on_caller_id else "",
                 ", ".join(sorted(self.ways)))
        try:
            while True:
                await asyncio.sleep(TICK_S)
                now = time.monotonic()
                if self.ring.is_active:        # a filtered ring detector stays active through a ring
                    self._handle(ln.RingDetect(True, now))
                self._handle(ln.Tick(now))
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        self.hook.off()
        if self._audio is not None:
            self._audio.close()
        for device in (self.ring, self.hook, self.reversal, self.loop_current):
            if device is not None:
                device.close()

    # ---- events onto the loop -----------------------------------------------------------------
    def _post(self, event: ln.LineEvent) -> None:
        if self._loop is not None and not self._stop.is_set():
            self._loop.call_soon_threadsafe(self._handle, event)

    def _cleared(self, how: str) -> None:
        if time.monotonic() - self._hook_changed > SETTLE_S:
            self._post(ln.FarEndCleared(how, time.monotonic()))

    def _handle(self, event: ln.LineEvent) -> None:
        if isinstance(event, ln.FarEndCleared) and event.how in ("reversal", "loop_current") \
                and event.at - self._hook_changed <= SETTLE_S:
            return
        for action in self.machine.handle(event):
            self._act(action)
        if self._uid is not None and self.machine.state not in (ln.State.ANSWERING, ln.State.IN_CALL):
            self._end_call(None)           # the box hung up: the stack has already ended the leg

    def _act(self, action: ln.LineAction) -> None:
        if isinstance(action, ln.Hook):
            self._hook_changed = time.monotonic()
            self.hook.value = action.off
            log.info("analog line %s-hook", "off" if action.off else "on")
        elif isinstance(action, ln.ListenCallerId):
            self._listening = action.on
        elif isinstance(action, ln.StartCall):
            self._start_call(action)
        elif isinstance(action, ln.EndCall):
            log.info("analog line: far end cleared (%s)", action.how)
            self._end_call(sip.DetachLine(self._uid, f"far end cleared ({action.how})") if self._uid else None)
        elif isinstance(action, ln.MissedCall):
            log.info("analog line: missed call from %s after %d ring(s)", describe(action.caller_id), action.rings)
            if self.on_missed is not None:
                self.on_missed(action.caller_id, action.rings)

    def _start_call(self, action: ln.StartCall) -> None:
        self._calls += 1
        self._uid = f"fxo-{int(time.time())}-{self._calls}"
        log.info("analog call %s answered after %d ring(s): %s", self._uid, action.rings, describe(action.caller_id))
        uid = self._uid
        self._link = LineLink(AudioRing(), self._line_out, lambda: self._post(ln.BoxHangsUp(time.monotonic()))
                              if self._uid == uid else None)
        self._tones = ToneDetector(self.config.country, kinds=("busy", "congestion")) if "tone" in self.ways else None
        self.send(sip.AttachLine(uid, caller_uri(action.caller_id), f"sip:{self.config.line}@fxo", self._link))

    def _end_call(self, command: sip.DetachLine | None) -> None:
        if command is not None:
            self.send(command)
        self._uid = None
        self._link = None

    # ---- audio threads ------------------------------------------------------------------------
    def _line_out(self, pcm: bytes) -> None:
        try:
            self._to_line.put_nowait(pcm)
        except queue.Full:
            pass

    def _writer(self) -> None:
        while not self._stop.is_set():
            try:
                pcm = self._to_line.get(timeout=0.2)
            except queue.Empty:
                continue
            if self._audio is not None:
                self._audio.write(pcm)

    def _pump(self) -> None:
        try:
            self._audio = open_audio(self.config.audio)
        except (OSError, ValueError) as exc:
            log.error("analog line audio %s: %s", self.config.audio, exc)
            return
        receiver = CallerIdReceiver(8000)
        listened = True
        while not self._stop.is_set():
            frame = self._audio.read()
            if not frame:
                log.warning("analog line audio ended (%s)", self.config.audio)
                return
            link, uid = self._link, self._uid
            listening = self._listening and link is None
            if listening and not listened:
                receiver.reset()       # back on-hook: nothing of the last call is caller ID
            listened = listening
            if link is not None:
                link.uplink.push(frame)
                tones = self._tones
                if tones is not None:
                    for tone in tones.feed(frame):
                        if self._uid == uid:
                            self._post(ln.FarEndCleared(tone.kind, time.monotonic()))
            elif listening:
                for cid in receiver.feed(frame):
                    self._post(ln.CallerIdHeard(cid, time.monotonic()))
