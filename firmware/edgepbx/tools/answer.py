"""A stand-in for central (or any SIP peer): answers calls, reports their X- headers.

`python -m edgepbx.tools.answer --listen 127.0.0.1:5090 --play hold.wav --calls-log calls.jsonl`
Each answered call is one JSON line (uri, headers, transport, INVITE size, offered media) written
when the INVITE arrives. Runs until SIGTERM/SIGINT. Each call it gets, it may also act out:

  --no-answer            ring, never answer (a central that does not pick up)
  --answer-after S       ring S seconds, then answer
  --early-media          ring with 183 and SDP, the tone playing before the answer (queue music)
  --redirect-to URI      answer 302 with that Contact (a queue handing the call to an agent)
  --on-hold A-B          hold from A to B seconds after answering (an agent's hold button)
  --transfer-to URI@S    REFER S seconds after answering (an agent's blind transfer)
  --dtmf KEYS@S          press keys (RFC 4733) S seconds after answering (a person called back)
  --hangup-after S       hang up S seconds after answering (an agent finishing the call)
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time

import pjsua2 as pj

from edgepbx.config import SRTP_MODES
from edgepbx.sip.endpoint import TlsSettings, account_config, call_audio, call_param, create_endpoint
from edgepbx.sip.headers import parse_sip_headers
from edgepbx.tools.options import at_seconds, hold_span


def _via_transport(headers: dict[str, str]) -> str:
    """"UDP" or "TCP": what the INVITE came over, from its top Via (RFC 3261 20.42)."""
    via = next((value for name, value in headers.items() if name.lower() in ("via", "v")), "")
    return via.split()[0].rsplit("/", 1)[-1].upper() if via else ""


class _Call(pj.Call):
    def __init__(self, account: pj.Account, call_id: int, play: str | None) -> None:
        super().__init__(account, call_id)
        self.play = play
        self.player: pj.AudioMediaPlayer | None = None
        self.ended = False
        self.answer_at: float | None = None
        self.hangup_at: float | None = None
        self.hold_at: float | None = None
        self.transfer: tuple[float, str] | None = None   # (when, to whom)
        self.keys: tuple[float, str] | None = None       # (when, which)
        self.resume_at: float | None = None

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        if self.getInfo().state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.ended = True

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        audio = call_audio(self)
        if audio is None or not self.play:
            return
        if self.player is None:
            self.player = pj.AudioMediaPlayer()
            self.player.createPlayer(self.play)  # loops
        self.player.startTransmit(audio)         # again after a hold: the stream has a new port


class _Account(pj.Account):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__()
        self.args = args
        self.calls: list[_Call] = []

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802
        call = _Call(self, prm.callId, self.args.play)
        self.calls.append(call)
        info = call.getInfo()
        message = prm.rdata.wholeMsg
        headers = parse_sip_headers(message)
        line = {"uri": info.remoteUri, "at": time.time(), "headers": headers,
                "transport": _via_transport(headers), "invite_bytes": len(message.encode()),
                "media": [m[2:].split()[0] for m in message.split("\r\n") if m.startswith("m=")],
                "profiles": [m.split()[2] for m in message.split("\r\n") if m.startswith("m=") and len(m.split()) > 2],
                "srtp_keys_offered": "\r\na=crypto:" in message}
        with open(self.args.calls_log, "a", encoding="utf-8") as out:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
        if self.args.redirect_to:
            moved = call_param(302)
            contact = pj.SipHeader()
            contact.hName, contact.hValue = "Contact", f"<{self.args.redirect_to}>"
            moved.txOption.headers.append(contact)
            call.answer(moved)
            return
        ringing = 183 if self.args.early_media else 180
        op = call_param(ringing if self.args.no_answer or self.args.answer_after else 200)
        if self.args.wait_header is not None:  # tell the box our expected wait, as a queue would
            header = pj.SipHeader()
            header.hName, header.hValue = "X-EdgePBX-Wait", str(self.args.wait_header)
            op.txOption.headers.append(header)
        call.answer(op)
        if self.args.no_answer:
            return
        answered = time.monotonic() + self.args.answer_after
        if self.args.answer_after:
            call.answer_at = answered
        if self.args.hangup_after:
            call.hangup_at = answered + self.args.hangup_after
        if self.args.dtmf:
            keys, after = self.args.dtmf
            call.keys = (answered + after, keys)
        if self.args.transfer_to:
            uri, after = self.args.transfer_to
            call.transfer = (answered + after, uri)
        if self.args.on_hold:
            call.hold_at, call.resume_at = (answered + s for s in self.args.on_hold)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edgepbx.tools.answer", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", default="127.0.0.1:5090")
    p.add_argument("--play", help="WAV to loop to each caller")
    p.add_argument("--calls-log", default="/dev/stdout", help="append one JSON line per call here")
    p.add_argument("--no-answer", action="store_true", help="ring, never answer")
    p.add_argument("--answer-after", type=float, default=0.0, metavar="SECONDS", help="ring this long, then answer")
    p.add_argument("--dtmf", type=at_seconds, metavar="KEYS@SECONDS", help="press these keys this long after answering")
    p.add_argument("--transfer-to", type=at_seconds, metavar="URI@SECONDS", help="REFER each answered call this long after")
    p.add_argument("--redirect-to", metavar="URI", help="answer 302 with this Contact")
    p.add_argument("--early-media", action="store_true", help="ring with 183 and SDP, playing before the answer")
    p.add_argument("--wait-header", type=int, metavar="SECONDS", help="send X-EdgePBX-Wait: SECONDS when ringing")
    p.add_argument("--hangup-after", type=float, default=0.0, metavar="SECONDS", help="hang up this long after answering")
    p.add_argument("--on-hold", type=hold_span, metavar="START-END", help="hold each answered call for this span")
    p.add_argument("--tls-listen", metavar="PORT", type=int, help="SIP over TLS on this port too (same address)")
    p.add_argument("--tls-cert", metavar="PEM", help="the TLS certificate (with --tls-key)")
    p.add_argument("--tls-key", metavar="PEM")
    p.add_argument("--srtp", choices=SRTP_MODES, default="off", help="SRTP (SDES): off, optional, mandatory")
    args = p.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    tls = TlsSettings(args.tls_listen, args.tls_cert or "", args.tls_key or "", verify=False) if args.tls_listen else None
    handle = create_endpoint(host, int(port), 32, tls=tls)
    account = _Account(args)
    account.create(account_config(handle, "central", 0, srtp=args.srtp), True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    print(f"answer: listening on {args.listen} (udp+tcp{f', tls on {args.tls_listen}' if tls else ''})", flush=True)
    while not stop:
        handle.ep.libHandleEvents(10)
        account.calls = [c for c in account.calls if not c.ended]
        for call in account.calls:
            if call.answer_at is not None and time.monotonic() >= call.answer_at:
                call.answer_at = None
                call.answer(call_param(200))
            if call.hold_at is not None and time.monotonic() >= call.hold_at:
                call.hold_at = None
                call.setHold(pj.CallOpParam(True))
            if call.hold_at is None and call.resume_at is not None and time.monotonic() >= call.resume_at:
                call.resume_at = None
                resume = call_param()
                resume.opt.flag = pj.PJSUA_CALL_UNHOLD
                call.reinvite(resume)
            if call.keys is not None and time.monotonic() >= call.keys[0]:
                keys, call.keys = call.keys[1], None
                call.dialDtmf(keys)
            if call.transfer is not None and time.monotonic() >= call.transfer[0]:
                uri, call.transfer = call.transfer[1], None
                call.xfer(uri, pj.CallOpParam(True))
            if call.hangup_at is not None and time.monotonic() >= call.hangup_at:
                call.hangup_at = None
                call.hangup(pj.CallOpParam())
    handle.ep.hangupAllCalls()
    for _ in range(20):
        handle.ep.libHandleEvents(10)
    for call in account.calls:
        call.player = None
    account.calls.clear()
    del account
    import gc
    gc.collect()
    handle.ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
