"""Call a box and press keys: `python -m edgepbx.tools.call URI --dtmf 2,1,+6,0 --record out.wav`.

Keys are sent one per `--gap` seconds after `--wait` seconds of answered audio; a token
`+N` waits N seconds more. `--inband` sends them as tones in the audio instead of RFC 4733
events, `--sip-info` as SIP INFO requests (application/dtmf-relay; `--sip-info relay-code`
sends `Signal=10` for *, as some gateways do, and `--sip-info dtmf` application/dtmf bodies
with the RFC 4733 event code). `--say FILE@SECONDS`
speaks a WAV into the call at that time after answer (voice keys); repeat it for several
words. `--on-hold 5-12` puts the call on hold 5 s after answer and resumes it at 12 s (a
re-INVITE each way, as a phone's hold button does). Prints one JSON line: state, SIP code,
set-up and first-audio times, duration.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import pjsua2 as pj

from edgepbx.dsp._vector import vector_bytes
from edgepbx.config import SRTP_MODES
from edgepbx.sip.endpoint import (TlsSettings, account_config, call_audio, call_param, create_endpoint, destroy_media,
                                  pcm_format)
from edgepbx.sip.uri import as_tls_hop, is_tls
from edgepbx.sip.info_keys import EVENT_KEYS
from edgepbx.tools.options import at_seconds, hold_span

FIRST_AUDIO_RMS = 200.0  # int16 RMS above line noise: the first prompt has started


class FirstAudioEar(pj.AudioMediaPort):
    """Notes when the first audible frame arrives (clock thread: no pjsua2 calls).

    The bridge keeps calling a port after the call has gone, until the port is destroyed
    (`destroy_media`): the callback must never raise (an exception there keeps the object
    alive past libDestroy), hence the class default."""

    first_audio: float | None = None

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802
        try:
            if self.first_audio is not None or frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO:
                return
            pcm = memoryview(vector_bytes(int(frame.buf.this))).cast("h")
            if len(pcm) and math.sqrt(sum(s * s for s in pcm) / len(pcm)) > FIRST_AUDIO_RMS:
                self.first_audio = time.monotonic()
        except Exception:  # noqa: BLE001
            pass


class _Call(pj.Call):
    def __init__(self, account: pj.Account) -> None:
        super().__init__(account)
        self.state = "calling"
        self.code = 0
        self.reason = ""
        self.confirmed_at: float | None = None
        self.media_changes = 0          # each one may give the audio a new bridge port
        self.disconnected = False

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        info = self.getInfo()
        self.state, self.code, self.reason = info.stateText, int(info.lastStatusCode), info.lastReason
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and self.confirmed_at is None:
            self.confirmed_at = time.monotonic()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        self.media_changes += 1


def _hangup(call: pj.Call) -> None:
    try:
        call.hangup(pj.CallOpParam())
    except pj.Error:
        pass  # the box hung up first


def _rx_jitter(call: pj.Call) -> dict[str, float] | None:
    """RFC 3550 interarrival jitter of the audio the box sent us (mean and worst), in ms."""
    try:
        j = call.getStreamStat(0).rtcp.rxStat.jitterUsec
    except pj.Error:
        return None
    return {"mean": round(j.mean / 1000, 3), "max": round(j.max / 1000, 3), "samples": j.n}


def key_schedule(tokens: list[str], wait: float, gap: float) -> list[tuple[float, str]]:
    """[(seconds after media, digit)] from tokens like 1,2,+6,#."""
    out, t = [], wait
    for token in tokens:
        token = token.strip()
        if not token:
            continue
        if token.startswith("+"):
            t += float(token[1:])
            continue
        if len(token) != 1 or token not in "0123456789*#ABCD":
            raise SystemExit(f"call: {token!r} is not a key (0-9 * # A-D) or a pause (+SECONDS)")
        out.append((t, token))
        t += gap
    return out


INFO_BODIES = ("relay", "relay-code", "dtmf")


def info_request(style: str, digit: str) -> pj.CallSendRequestParam:
    """A SIP INFO carrying `digit` by its event code: application/dtmf-relay "Signal=10" for *
    (relay-code), or application/dtmf "10" (dtmf)."""
    code = EVENT_KEYS.index(digit.upper())
    prm = pj.CallSendRequestParam()
    prm.method = "INFO"
    if style == "relay-code":
        prm.txOption.contentType = "application/dtmf-relay"
        prm.txOption.msgBody = f"Signal={code}\r\nDuration=160\r\n"
    else:
        prm.txOption.contentType = "application/dtmf"
        prm.txOption.msgBody = str(code)
    return prm


def _srtp_in_use(call: pj.Call) -> bool | None:
    """Whether the call's audio stream runs over SRTP (RTP/SAVP), as negotiated."""
    info = call.getInfo()
    for index, media in enumerate(info.media):
        if media.type == pj.PJMEDIA_TYPE_AUDIO:
            try:
                return call.getStreamInfo(index).proto == pj.PJMEDIA_TP_PROTO_RTP_SAVP
            except pj.Error:
                return None
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edgepbx.tools.call", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("uri", help="e.g. sip:ivr@127.0.0.1:5060")
    p.add_argument("--dtmf", default="", help="keys and pauses, comma-separated: 2,1,+6,0")
    keys = p.add_mutually_exclusive_group()
    keys.add_argument("--inband", action="store_true", help="send keys as in-band tones")
    keys.add_argument("--sip-info", nargs="?", const="relay", choices=INFO_BODIES,
                      help="send keys as SIP INFO: application/dtmf-relay with the key (relay, the default) "
                           "or its event code (relay-code), or application/dtmf (dtmf)")
    p.add_argument("--wait", type=float, default=2.0, help="seconds of audio before the first key")
    p.add_argument("--gap", type=float, default=1.5, help="seconds between keys")
    p.add_argument("--hold", type=float, default=4.0, help="seconds to stay after the last key")
    p.add_argument("--record", help="write what the caller hears to this WAV (8 kHz)")
    p.add_argument("--from-user", default="1001", help="caller ID user part")
    p.add_argument("--bind", default="127.0.0.1", help="local address")
    p.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds")
    p.add_argument("--say", action="append", default=[], type=at_seconds, metavar="FILE@SECONDS",
                   help="play a WAV (8 kHz mono 16-bit) into the call, SECONDS after answer")
    p.add_argument("--on-hold", action="append", default=[], type=hold_span, metavar="START-END",
                   help="hold the call from START to END seconds after answer")
    p.add_argument("--srtp", choices=SRTP_MODES, default="off",
                   help="SRTP (SDES keys): off (plain RTP), optional, mandatory")
    p.add_argument("--tls-ca", metavar="PEM", help="over TLS (sips: or ;transport=tls), check the box's certificate "
                                                   "against these CAs; without it any certificate is taken")
    p.add_argument("--tls-cert", metavar="PEM", help="over TLS, show this client certificate (with --tls-key)")
    p.add_argument("--tls-key", metavar="PEM")
    args = p.parse_args(argv)
    holds = sorted(args.on_hold)
    plan = key_schedule(args.dtmf.split(","), args.wait, args.gap)
    speech = sorted((at, path) for path, at in args.say)
    moments = ([plan[-1][0]] if plan else []) + [t for t, _ in speech] + [end for _, end in holds]
    last = max(moments) if moments else args.wait

    tls = (TlsSettings(0, args.tls_cert or "", args.tls_key or "", args.tls_ca, verify=bool(args.tls_ca))
           if is_tls(args.uri) else None)
    handle = create_endpoint(args.bind, 0, 4, keep_late_audio=True, tls=tls)
    ep = handle.ep
    if ep.utilVerifySipUri(args.uri) != 0:     # say so, as a result line, not a pjsua2 traceback
        ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
        print(json.dumps({"state": "NOT_CALLED", "code": None, "reason": f"not a SIP URI: {args.uri}",
                          "answered": False, "keys_sent": 0}))
        return 2
    account = pj.Account()
    account.create(account_config(handle, args.from_user, 0, srtp=args.srtp), True)
    call = _Call(account)
    ear, recorder, tones = FirstAudioEar(), None, None
    voices: list[pj.AudioMediaPlayer] = []
    player: pj.AudioMediaPlayer | None = None
    result: dict[str, object] = {}
    started = time.monotonic()
    try:
        call.makeCall(as_tls_hop(args.uri), call_param())
        media_at = None
        srtp = None
        hang_at = None
        jitter = None
        sent = 0
        wired = 0
        on_hold = False
        while not call.disconnected and time.monotonic() - started < args.timeout:
            ep.libHandleEvents(10)
            now = time.monotonic()
            audio = call_audio(call) if call.media_changes != wired else None
            if audio is not None:              # new media, or the same after a hold: connect again
                wired = call.media_changes
                if media_at is None:
                    media_at = now
                    srtp = _srtp_in_use(call)
                    ear.createPort("ear", pcm_format())
                    if args.record:
                        recorder = pj.AudioMediaRecorder()
                        recorder.createRecorder(args.record)
                    if args.inband:
                        tones = pj.ToneGenerator()
                        tones.createToneGenerator(8000, 1)
                    hang_at = media_at + last + args.hold
                audio.startTransmit(ear)
                if recorder is not None:
                    audio.startTransmit(recorder)
                if tones is not None:
                    tones.startTransmit(audio)
                for voice in voices:
                    voice.startTransmit(audio)
            if media_at is None:
                continue
            if holds and not on_hold and now - media_at >= holds[0][0]:
                call.setHold(pj.CallOpParam(True))
                on_hold = True
            if holds and on_hold and now - media_at >= holds[0][1]:
                resume = call_param()
                resume.opt.flag = pj.PJSUA_CALL_UNHOLD
                call.reinvite(resume)
                on_hold = False
                holds.pop(0)
            while sent < len(plan) and now - media_at >= plan[sent][0]:
                digit = plan[sent][1]
                if tones is not None:
                    tone = pj.ToneDigit()
                    tone.digit, tone.on_msec, tone.off_msec, tone.volume = digit, 100, 50, 0
                    vec = pj.ToneDigitVector()
                    vec.append(tone)
                    tones.playDigits(vec)
                elif args.sip_info == "relay":
                    info = pj.CallSendDtmfParam()
                    info.method, info.digits, info.duration = pj.PJSUA_DTMF_METHOD_SIP_INFO, digit, 160
                    call.sendDtmf(info)
                elif args.sip_info:
                    call.sendRequest(info_request(args.sip_info, digit))
                else:
                    call.dialDtmf(digit)
                sent += 1
            while speech and now - media_at >= speech[0][0]:
                _, path = speech.pop(0)
                player = pj.AudioMediaPlayer()
                player.createPlayer(path, pj.PJMEDIA_FILE_NO_LOOP)
                player.startTransmit(call_audio(call))
                voices.append(player)
            if hang_at is not None and now >= hang_at:
                jitter = _rx_jitter(call)
                _hangup(call)
                hang_at = None
        if not call.disconnected:
            _hangup(call)
            for _ in range(50):
                ep.libHandleEvents(10)
        result = {
            "state": call.state, "code": call.code, "reason": call.reason,
            "answered": call.confirmed_at is not None, "keys_sent": sent,
            "setup_ms": round((call.confirmed_at - started) * 1000, 1) if call.confirmed_at else None,
            "first_audio_ms": round((ear.first_audio - started) * 1000, 1) if ear.first_audio else None,
            "duration_s": round(time.monotonic() - started, 2),
            "rx_jitter_ms": jitter, "srtp": srtp,
        }
    finally:
        for port in (recorder, tones, ear, *voices):   # every media port must go before libDestroy
            destroy_media(port)
        recorder = tones = ear = player = None
        voices.clear()
        del call, account
        import gc
        gc.collect()
        ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
    print(json.dumps(result))
    sys.stdout.flush()
    return 0 if result.get("answered") else 1


if __name__ == "__main__":
    raise SystemExit(main())
