"""Many calls from one process, as a trunk brings them: `python -m edgepbx.tools.load URI --calls 30`.

Each call presses its keys (`--dtmf` as in edgepbx.tools.call; `--forward-dtmf` for the first
`--forward` calls, the ones that go on to central), stays `--duration` seconds after answer, and
hangs up. `--stagger` starts one call that many seconds after the one before (0: all at once);
`--one-by-one` waits for each call to end before the next (first-audio probes on a loaded box).
SIGTERM hangs up the calls in progress, places no more, and reports.
Prints one JSON line per call, in call order: set-up and first-audio times, its local RTP port
(to find its packets on the wire), the jitter buffer's and RTCP's view of what it received, and
whether central's tone was heard at the end.
"""
from __future__ import annotations

import argparse
import gc
import json
import signal
import sys
import time
from collections import deque

import numpy as np
import pjsua2 as pj

from edgepbx.dsp._vector import vector_bytes
from edgepbx.sip.endpoint import account_config, call_audio, call_param, create_endpoint, destroy_media, pcm_format
from edgepbx.tools.call import FirstAudioEar, key_schedule

TAIL_FRAMES = 50    # the last second heard, to tell central's tone apart


class _Ear(FirstAudioEar):
    """The caller tool's ear (first audible frame), also keeping the last second heard."""

    def __init__(self) -> None:
        super().__init__()
        self.tail: deque[bytes] = deque(maxlen=TAIL_FRAMES)

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802
        try:
            if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO:
                self.tail.append(vector_bytes(int(frame.buf.this)))
        except Exception:  # noqa: BLE001 - clock thread: never raise
            pass
        super().onFrameReceived(frame)


def tone_share(pcm: bytes, freq: float, rate: int = 8000) -> float:
    """Fraction of the power of `pcm` within 20 Hz of `freq`."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if samples.size < rate // 4:
        return 0.0
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / rate)
    band = (freqs > freq - 20) & (freqs < freq + 20)
    return float(spectrum[band].sum() / max(spectrum.sum(), 1e-9))


class _Call(pj.Call):
    def __init__(self, account: pj.Account, index: int, keys: list[tuple[float, str]], duration: float) -> None:
        super().__init__(account)
        self.index, self.keys, self.duration = index, list(keys), duration
        self.started = 0.0
        self.reason = ""
        self.ended_at: float | None = None
        self.confirmed_at: float | None = None
        self.media_at: float | None = None
        self.hang_at: float | None = None
        self.disconnected = False
        self.code = 0
        self.wired = 0
        self.media_changes = 0
        self.ear = _Ear()
        self.stats: dict[str, object] = {}
        self.rtp_port: int | None = None

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        info = self.getInfo()
        self.code = int(info.lastStatusCode)
        self.reason = info.lastReason
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and self.confirmed_at is None:
            self.confirmed_at = time.monotonic()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True
            self.ended_at = time.monotonic()

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        self.media_changes += 1

    def tick(self, now: float) -> None:
        if self.media_changes != self.wired:
            audio = call_audio(self)
            if audio is not None:
                self.wired = self.media_changes
                if self.media_at is None:
                    self.media_at = now
                    self.hang_at = now + self.duration
                    self.ear.createPort(f"ear{self.index}", pcm_format())
                    self.rtp_port = _local_rtp_port(self)
                audio.startTransmit(self.ear)
        if self.media_at is None:
            return
        while self.keys and now - self.media_at >= self.keys[0][0]:
            self.dialDtmf(self.keys.pop(0)[1])
        if self.hang_at is not None and now >= self.hang_at:
            self.stats = _stream_stats(self)
            self.hang_at = None
            try:
                self.hangup(pj.CallOpParam())
            except pj.Error:
                pass

    def result(self, tone_hz: float) -> dict[str, object]:
        heard = b"".join(self.ear.tail)
        return {
            "index": self.index, "answered": self.confirmed_at is not None, "code": self.code,
            "setup_ms": round((self.confirmed_at - self.started) * 1000, 1) if self.confirmed_at else None,
            "first_audio_ms": round((self.ear.first_audio - self.started) * 1000, 1) if self.ear.first_audio else None,
            "rtp_port": self.rtp_port, "tone_at_end": round(tone_share(heard, tone_hz), 3), "reason": self.reason,
            "media_ms": round((self.media_at - self.started) * 1000, 1) if self.media_at else None,
            "ended_ms": round((self.ended_at - self.started) * 1000, 1) if self.ended_at else None, **self.stats,
        }


def _local_rtp_port(call: pj.Call) -> int | None:
    try:
        info = call.getInfo()       # kept while its media list is read
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO:
                return int(call.getMedTransportInfo(index).localRtpName.rpartition(":")[2])
    except (pj.Error, ValueError):
        pass
    return None


def _stream_stats(call: pj.Call) -> dict[str, object]:
    """What this caller's stream saw: RTP packets, losses, jitter (RTCP, RFC 3550) and the jitter
    buffer's underruns (`jb_empty`: the player wanted a frame and none had come: a gap heard)."""
    try:
        stat = call.getStreamStat(0)
    except pj.Error:
        return {}
    rx, jb = stat.rtcp.rxStat, stat.jbuf
    return {"rx_packets": int(rx.pkt), "rx_lost": int(rx.loss), "rx_discarded": int(rx.discard),
            "rx_jitter_max_ms": round(rx.jitterUsec.max / 1000, 3), "jb_empty": int(jb.empty), "jb_lost": int(jb.lost),
            "jb_max_delay_ms": int(jb.maxDelayMsec)}


def _drive(ep: pj.Endpoint, calls: list[_Call], args: argparse.Namespace) -> None:
    """Start the calls as asked and poll until every one has ended (its own function, so that no
    local keeps a call object alive past libDestroy)."""
    stop: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))     # hang up, report, and go
    pending = list(calls)
    next_start = time.monotonic()
    deadline = time.monotonic() + args.calls * (args.duration + args.stagger + 30) + 60
    while time.monotonic() < deadline:
        now = time.monotonic()
        busy = [c for c in calls if c.started and not c.disconnected]
        if pending and now >= next_start and not (args.one_by_one and busy):
            call = pending.pop(0)
            call.started = time.monotonic()
            try:
                call.makeCall(args.uri, call_param())
            except pj.Error:
                call.disconnected = True
            next_start = call.started + args.stagger
        for call in calls:
            if call.started and not call.disconnected:
                try:
                    call.tick(now)
                except pj.Error:
                    pass
        if stop:
            pending.clear()
            for call in calls:
                if call.started and not call.disconnected and call.hang_at is not None:
                    call.hang_at = now
                elif call.started and not call.disconnected and call.media_at is None:
                    try:
                        call.hangup(pj.CallOpParam())
                    except pj.Error:
                        pass
        if not pending and all(c.disconnected for c in calls):
            break
        ep.libHandleEvents(5)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edgepbx.tools.load", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("uri")
    p.add_argument("--calls", type=int, default=30)
    p.add_argument("--forward", type=int, default=0, help="how many of the calls use --forward-dtmf")
    p.add_argument("--dtmf", default="", help="keys for the other calls: 2,9,+4,9")
    p.add_argument("--forward-dtmf", default="2,0", help="keys for the forwarded calls")
    p.add_argument("--wait", type=float, default=1.5, help="seconds after answer before the first key")
    p.add_argument("--gap", type=float, default=1.0, help="seconds between keys")
    p.add_argument("--duration", type=float, default=20.0, help="seconds each call stays after answer")
    p.add_argument("--stagger", type=float, default=0.0, help="seconds between call starts")
    p.add_argument("--one-by-one", action="store_true", help="each call after the one before has ended")
    p.add_argument("--tone-hz", type=float, default=500.0, help="central's tone, looked for in the last second")
    p.add_argument("--from-user", default="3000", help="caller ID of every call")
    p.add_argument("--bind", default="127.0.0.1")
    args = p.parse_args(argv)
    if not 1 <= args.calls <= 60:
        raise SystemExit("load: --calls must be 1..60")
    handle = create_endpoint(args.bind, 0, 64, tcp=False)
    ep = handle.ep
    calls: list[_Call] = []
    account = pj.Account()     # one caller ID for every call: pjsua holds at most 8 accounts
    try:
        account.create(account_config(handle, args.from_user, 0), True)
        for i in range(args.calls):
            keys = args.forward_dtmf if i < args.forward else args.dtmf
            calls.append(_Call(account, i, key_schedule(keys.split(","), args.wait, args.gap), args.duration))
        _drive(ep, calls, args)
        ep.hangupAllCalls()
        for _ in range(50):
            ep.libHandleEvents(10)
        for line in [c.result(args.tone_hz) for c in calls]:
            print(json.dumps(line))
        sys.stdout.flush()
    finally:
        for each in calls:
            destroy_media(each.ear)
        each = None          # no pjsua2 call object may outlive libDestroy
        calls.clear()
        del account
        gc.collect()
        ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
