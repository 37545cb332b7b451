"""The box's pjsua2 thread: owns the endpoint, every call, player and tap.

Nothing else calls pjsua2. Callbacks turn into events posted through the hop; the loop's
commands are drained between `libHandleEvents` polls. Objects that pjsua2 callbacks refer
to are only released here, between polls, never inside a callback.
"""
from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pjsua2 as pj

from edgepbx.config import SipSection
from edgepbx.dsp._vector import vector_assign, vector_bytes
from edgepbx.dsp.dtmf import DtmfDetector
from edgepbx.dsp.speechrate import SpeechRate
from edgepbx.dsp.voicekey import VoiceKeyDecoder
from edgepbx.dsp.voicekey.decoder import warm_up as warm_up_voice_keys
from edgepbx.sip.audio_stats import AUDIO
from edgepbx.fxo.link import LineLink
from edgepbx.sip import events as ev
from edgepbx.sip.admission import Admission
from edgepbx.sip.endpoint import (SipListenError, TlsSettings, account_config, call_audio, call_param, create_endpoint,
                                  destroy_media, pcm_format, remotely_held)
from edgepbx.sip.headers import parse_sip_headers
from edgepbx.sip.hop import ThreadHop
from edgepbx.sip.info_keys import NotAKey, info_key
from edgepbx.sip.refusals import set_srtp_mode
from edgepbx.sip.uri import as_tls_hop, srtp_for
from edgepbx.sip.log_budget import LogBudget
from edgepbx.sip.pjsip_module import binding, respond_in_transaction, terminate_at_once
from edgepbx.sip.tcp_guard import PJSIP_TP_STATE_CONNECTED, TcpCount, transport_source

log = logging.getLogger("edgepbx.sip")
WAIT_HEADER = "X-EdgePBX-Wait"  # central's expected wait (seconds), on its ringing or answer
POLL_MS = 10


def _disconnect(src: pj.AudioMedia | None, dst: pj.AudioMedia | None) -> None:
    """Stop `src` transmitting to `dst`; either may already be gone (the call ended)."""
    if src is None or dst is None:
        return
    try:
        src.stopTransmit(dst)
    except pj.Error:
        pass




class _Tap(pj.AudioMediaPort):
    """Caller audio → in-band DTMF and voice keys. Runs in pjmedia's clock thread: no pjsua2
    calls, no logging. `voice` is swapped whole by the pjsua2 thread (one attribute store)."""

    def __init__(self, uid: str, post: Callable[[ev.SipEvent], None]) -> None:
        super().__init__()
        self.uid = uid
        self.post = post
        self._last = 0.0
        self.detector = DtmfDetector(8000)
        self.voice: VoiceKeyDecoder | None = None
        self.pace: SpeechRate | None = SpeechRate(8000)   # until a slow speaker is noticed

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802 (pjsua2 name)
        try:
            if frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO:
                return
            now = time.monotonic()
            AUDIO.frames += 1
            if self._last and now - self._last > AUDIO.LATE_S:
                AUDIO.late += 1
            self._last = now
            pcm = vector_bytes(int(frame.buf.this))
            for hit in self.detector.feed(pcm):
                self.post(ev.DigitReceived(self.uid, hit.digit, "inband", time.monotonic()))
            pace = self.pace
            if pace is not None:
                pace.feed(pcm)
                if pace.slow:
                    self.pace = None
                    self.post(ev.SlowSpeech(self.uid, pace.syllables_per_second))
            voice = self.voice
            if voice is not None:
                for word in voice.feed(pcm):
                    self.post(ev.VoiceKeyHeard(self.uid, word.key, word.confidence, time.monotonic()))
        except Exception:  # noqa: BLE001 - an exception here would leak into pjsua2's thread state
            pass


class _CannotPlay(Exception):
    pass


class _Player(pj.AudioMediaPlayer):
    def __init__(self, uid: str, token: int, post: Callable[[ev.SipEvent], None]) -> None:
        super().__init__()
        self.uid, self.token, self.post = uid, token, post
        self.finished = False

    def onEof2(self) -> None:  # noqa: N802
        try:
            if not self.finished:
                self.finished = True
                self.post(ev.PlaybackFinished(self.uid, self.token))
        except Exception:  # noqa: BLE001
            pass


class _LinePort(pj.AudioMediaPort):
    """An analog call's audio in the conference bridge. Runs in pjmedia's clock thread."""

    def __init__(self, link: LineLink) -> None:
        super().__init__()
        self.link = link

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802 (pjsua2 name)
        try:
            frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
            vector_assign(int(frame.buf.this), self.link.uplink.pop())
        except Exception:  # noqa: BLE001
            pass

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802
        try:
            if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO:
                self.link.to_line(vector_bytes(int(frame.buf.this)))
        except Exception:  # noqa: BLE001
            pass


@dataclass
class _Leg:
    uid: str
    call: "_Call | None"               # None for an analog (FXO) call
    inbound: bool
    peer: str | None = None            # the other leg of a forward
    player: _Player | None = None
    tap: _Tap | None = None
    listen: ev.ListenFor | None = None
    recorder: pj.AudioMediaRecorder | None = None
    recording: Path | None = None
    recording_since: float = 0.0
    media_ready: bool = False
    held: bool = False                 # the caller holds the box
    bridged: bool = False              # audio connected to the peer (early media included)
    answered: bool = False             # a forward leg central has answered (200 OK)
    source: str = ""                   # an incoming call's source address (admission control)
    confirm_by: float | None = None    # an incoming call not confirmed (ACKed) by then is hung up
    ended: bool = False
    line: _LinePort | None = None      # an analog call's audio
    garbage: list[pj.AudioMedia] = field(default_factory=list)  # freed between polls


def _media(leg: _Leg) -> pj.AudioMedia | None:
    """The leg's audio in the bridge: the SIP call's stream, or the analog line's port."""
    if leg.line is not None:
        return leg.line
    return call_audio(leg.call) if leg.call is not None else None


class _Call(pj.Call):
    def __init__(self, stack: "SipStack", account: pj.Account, uid: str, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, call_id)
        self.stack = stack
        self.uid = uid

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        try:
            message = ""
            if prm.e.type == pj.PJSIP_EVENT_TSX_STATE and prm.e.body.tsxState.type == pj.PJSIP_EVENT_RX_MSG:
                message = prm.e.body.tsxState.src.rdata.wholeMsg  # central's 18x/200, with its headers
            self.stack._on_call_state(self.uid, message)
        except Exception:  # noqa: BLE001
            log.exception("call state handler")

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        try:
            self.stack._on_media_state(self.uid)
        except Exception:  # noqa: BLE001
            log.exception("media state handler")

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:  # noqa: N802
        """A REFER (an agent's blind transfer through the box) is declined: the new call would
        carry none of the caller's context and pjsua would place it outside the box's legs, so
        the caller would hear silence. The agent's PBX transfers inside central instead, and
        the conversation goes on meanwhile."""
        prm.statusCode = pj.PJSIP_SC_DECLINE
        log.info("call %s: declined a transfer to %s (REFER)", self.uid, prm.dstUri)

    def onCallRedirected(self, prm: pj.OnCallRedirectedParam) -> int:  # noqa: N802
        """A 3xx from central (a queue handing the call to an agent's own address): follow it,
        with the same context headers (RFC 3261 8.1.3.4). pjsip keeps the tried targets, so a
        redirect loop ends in a failed forward, which falls back locally."""
        return pj.PJSIP_REDIRECT_ACCEPT_REPLACE

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:  # noqa: N802
        """RFC 4733 events (SIP INFO keys are taken in onCallTsxState, before pjsua reads them)."""
        try:
            source = "sip_info" if prm.method == pj.PJSUA_DTMF_METHOD_SIP_INFO else "rfc4733"
            self.stack._on_signalled_digit(self.uid, prm.digit, source)
        except Exception:  # noqa: BLE001
            log.exception("dtmf handler")

    def onCallTsxState(self, prm: pj.OnCallTsxStateParam) -> None:  # noqa: N802
        """A SIP INFO carrying a key (edgepbx.sip.info_keys) is read and answered here, before
        pjsua's own reading, which takes `Signal=10` for key 1 and drops application/dtmf."""
        try:
            state = prm.e.body.tsxState
            tsx = state.tsx
            if (prm.e.type != pj.PJSIP_EVENT_TSX_STATE or state.type != pj.PJSIP_EVENT_RX_MSG
                    or tsx.role != pj.PJSIP_ROLE_UAS or tsx.state != pj.PJSIP_TSX_STATE_TRYING
                    or tsx.method != "INFO"):
                return
            whole = state.src.rdata.wholeMsg
            headers = parse_sip_headers(whole)
            _, _, body = whole.replace("\r\n", "\n").partition("\n\n")
            try:
                key = info_key(headers.get("Content-Type", headers.get("c", "")), body)
            except NotAKey as exc:
                respond_in_transaction(state.src.rdata.pjRxData, tsx.pjTransaction, 400)
                log.info("call %s: SIP INFO key refused (%s)", self.uid, exc)
                return
            if key is None:
                return                          # another INFO package: pjsua's to answer
            respond_in_transaction(state.src.rdata.pjRxData, tsx.pjTransaction, 200)
            if key:
                self.stack._on_signalled_digit(self.uid, key, "sip_info")
        except Exception:  # noqa: BLE001
            log.exception("SIP INFO handler")


class _Account(pj.Account):
    def __init__(self, stack: "SipStack") -> None:
        super().__init__()
        self.stack = stack

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802
        try:
            self.stack._on_incoming(self, prm.callId, prm.rdata.wholeMsg, prm.rdata.srcAddress)
        except Exception:  # noqa: BLE001
            log.exception("incoming call handler")

    def onIncomingSubscribe(self, prm: pj.OnIncomingSubscribeParam) -> None:  # noqa: N802
        """pjsua would accept anyone's presence subscription and send NOTIFYs to whatever
        Contact it named, keeping state per subscriber: the box publishes no presence."""
        prm.code = pj.PJSIP_SC_FORBIDDEN
        prm.reason = "No presence here"


class SipStack:
    """Start with `start()` (blocks until listening or raises), stop with `stop()`."""

    def __init__(self, config: SipSection, hop: ThreadHop[ev.SipEvent, ev.SipCommand],
                 admission: Admission | None = None, tls: TlsSettings | None = None,
                 central_srtp: str = "off") -> None:
        """`tls`: SIP over TLS too; `central_srtp`: [central] srtp, the SRTP mode of calls the
        box places (forwards, the backup line, call-backs), beside [sip] srtp for the trunk's."""
        self.config = config
        self.hop = hop
        self.admission = admission
        self.tls = tls
        self.central_srtp = central_srtp
        self.legs: dict[str, _Leg] = {}
        self._next_uid = 0
        self._boot = secrets.token_hex(3)  # call uids stay unique across restarts
        self._thread = threading.Thread(target=self._main, name="pjsua2", daemon=True)
        self.heartbeat = time.monotonic()
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._error: BaseException | None = None
        self.published = config.listen.host   # the address in Contact and SDP, once started
        self.tcp = TcpCount(config.tcp_per_source)
        self._tcp_to_close: list[int] = []
        self._tcp_budget = LogBudget(limit=1)        # one line a minute

    # ---- loop side ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()
        self._ready.wait(timeout=30)
        if isinstance(self._error, SipListenError):
            raise self._error
        if self._error is not None:
            raise RuntimeError(f"SIP stack failed to start on {self.config.listen}: {self._error!r}")
        if not self._ready.is_set():
            raise RuntimeError("SIP stack did not start within 30 s")

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=15)

    # ---- pjsua2 thread ----------------------------------------------------------------------
    def _main(self) -> None:
        try:
            handle = create_endpoint(self.config.listen.host, self.config.listen.port, self.config.max_calls,
                                     tcp=self.config.tcp, admission=self.admission,
                                     strict_rtp=self.config.strict_rtp, on_transport=self._on_transport,
                                     tls=self.tls)
            self.ep = handle.ep
            self.published = handle.host
            set_srtp_mode(self.config.srtp)
            credentials = (self.config.auth_user, self.config.auth_password) if self.config.auth_user else None
            # Local accounts alike but for SRTP: calls from the trunk arrive on the first (the
            # default); calls the box places leave from one per SRTP mode (made when first used).
            self._handle, self._credentials = handle, credentials
            self.account = _Account(self)
            self.account.create(account_config(handle, "edgepbx", self.config.rtp_port, credentials,
                                               self.config.srtp), True)
            self._outgoing: dict[str, _Account] = {}
            warm_up_voice_keys()    # no disk and no model loading inside a call
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._stopping.is_set():
                self.heartbeat = time.monotonic()     # the watchdog pings only while this moves
                self.ep.libHandleEvents(POLL_MS)
                for command in self.hop.drain():
                    try:
                        self._execute(command)
                    except Exception:  # noqa: BLE001
                        log.exception("SIP command %s failed", command)
                self._hang_up_unconfirmed()
                self._close_excess_tcp()
                self._collect_garbage()
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        try:
            self.ep.hangupAllCalls()
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline and any(not leg.ended for leg in self.legs.values()):
                self.ep.libHandleEvents(POLL_MS)
        except Exception:  # noqa: BLE001
            log.exception("hanging up at shutdown")
        for leg in self.legs.values():
            self._stop_recording(leg)
            for port in (leg.player, leg.tap, leg.line, *leg.garbage):  # all before libDestroy
                destroy_media(port)
            leg.player = leg.tap = leg.line = None
            leg.garbage.clear()
        leg = None  # noqa: F841 - the loop variable would keep the last Call alive past libDestroy
        self.legs.clear()
        self.account.shutdown()
        for account in self._outgoing.values():
            account.shutdown()
        self._outgoing.clear()
        del self.account
        import gc
        gc.collect()
        self.ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)

    def _new_uid(self) -> str:
        self._next_uid += 1
        return f"{self._boot}-{self._next_uid}"

    def _on_incoming(self, account: pj.Account, call_id: int, whole_msg: str, source_address: str = "") -> None:
        uid = self._new_uid()
        call = _Call(self, account, uid, call_id)
        source = source_address.rpartition(":")[0].strip("[]")
        self.legs[uid] = _Leg(uid, call, inbound=True, source=source,
                              confirm_by=time.monotonic() + self.config.confirm_timeout_s)
        if self.admission is not None:
            with self.admission.lock:
                self.admission.call_started(source, time.monotonic())
        info = call.getInfo()
        call.answer(call_param(180))
        self.hop.post(ev.IncomingCall(uid, info.remoteUri, info.localUri, parse_sip_headers(whole_msg)))

    def _on_call_state(self, uid: str, message: str = "") -> None:
        leg = self.legs.get(uid)
        if leg is None or leg.ended:
            return
        info = leg.call.getInfo()
        if message and not leg.inbound and leg.peer:
            wait = parse_sip_headers(message).get(WAIT_HEADER, "")
            if wait.isdigit():
                self.hop.post(ev.CentralWait(leg.peer, int(wait)))
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and not leg.inbound and leg.peer:
            leg.answered = True
            self.hop.post(ev.ForwardAnswered(leg.peer))
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and leg.confirm_by is not None:
            leg.confirm_by = None
            self._admission_note(leg, confirmed=True)
        if info.state != pj.PJSIP_INV_STATE_DISCONNECTED:
            return
        leg.ended = True
        self._admission_note(leg, ended=True)
        self._release_media(leg)
        code = int(info.lastStatusCode)
        if leg.inbound:
            self.hop.post(ev.CallEnded(uid, info.lastReason or "ended", code))
            if leg.peer and leg.peer in self.legs and not self.legs[leg.peer].ended:
                self._hangup(self.legs[leg.peer])
        elif leg.peer:
            caller = self.legs.get(leg.peer)
            if caller is not None and not caller.ended:
                caller.bridged = False      # also after early media: the caller stays with the box
                caller.peer = None
                if leg.answered:
                    # central ended the conversation (the box may ask for a score)
                    self.hop.post(ev.ForwardEnded(leg.peer))
                else:
                    self.hop.post(ev.ForwardFailed(leg.peer, f"{code} {info.lastReason}{self._auth_hint(code)}".strip()))

    def _on_transport(self, transport: int, state: int) -> None:
        """A SIP transport connected or went: count TCP clients per source."""
        if state != PJSIP_TP_STATE_CONNECTED:
            self.tcp.gone(transport)
            if transport in self._tcp_to_close:
                self._tcp_to_close.remove(transport)
            return
        source = transport_source(transport)
        if source is None:
            return
        exempt = False
        if self.admission is not None:
            with self.admission.lock:
                policy = self.admission.policy
            exempt = source in policy.central or not policy.trusts(source)   # the gate deals with those
        if not self.tcp.connected(transport, source, exempt):
            self._tcp_to_close.append(transport)

    def _close_excess_tcp(self) -> None:
        """Closes the TCP connections over a source's limit (outside the callback that told us)."""
        if not self._tcp_to_close:
            return
        closed = len(self._tcp_to_close)
        while self._tcp_to_close:
            binding().pjsip_transport_shutdown(self._tcp_to_close.pop())
        if self._tcp_budget.take(time.monotonic()) is not None:
            log.warning("SIP over TCP: %d connection(s) over [sip] tcp_per_source (%d) closed (%d since start)",
                        closed, self.config.tcp_per_source, self.tcp.refused)

    def _admission_note(self, leg: _Leg, *, confirmed: bool = False, ended: bool = False) -> None:
        """Tell admission control a call from a source was confirmed, or has ended."""
        if self.admission is None or not leg.source:
            return
        with self.admission.lock:
            if confirmed:
                self.admission.call_confirmed(leg.source)
            if ended:
                self.admission.call_ended(leg.source, confirmed=leg.confirm_by is None)
        if ended:
            leg.source = ""

    def _hang_up_unconfirmed(self) -> None:
        """An answered call whose ACK never came (a flood of INVITEs, a caller behind a broken
        NAT) is hung up after `confirm_timeout_s`, not held for pjsip's 64 s; its source gets a
        strike (edgepbx.sip.admission)."""
        now = time.monotonic()
        for leg in list(self.legs.values()):
            if leg.confirm_by is None or leg.ended or now < leg.confirm_by:
                continue
            leg.confirm_by = None
            log.info("call %s from %s: not confirmed (no ACK) in %.0f s, hung up", leg.uid, leg.source or "?",
                     self.config.confirm_timeout_s)
            if self.admission is not None and leg.source:
                with self.admission.lock:
                    self.admission.call_unconfirmed(leg.source, now)
                    self.admission.call_confirmed(leg.source)     # no longer pending: it ends now
            if not terminate_at_once(leg.call.getId(), 408):
                try:              # a binding without edgepbx's patch: the slot stays for 32 s
                    prm = pj.CallOpParam()
                    prm.statusCode = 408
                    leg.call.hangup(prm)
                except pj.Error:
                    pass

    def _auth_hint(self, code: int) -> str:
        """What a technician reads after a 401/407: pjsua has already answered the challenge
        once when credentials are set, so a second one means they are wrong."""
        if code not in (401, 407):
            return ""
        if self.config.auth_user:
            return f" (the credentials of [sip] auth_user {self.config.auth_user!r} were refused)"
        return " (the peer asks for credentials: set [sip] auth_user and auth_password)"

    def _on_media_state(self, uid: str) -> None:
        """Media came up or changed (hold, resume, a new codec): connect the leg's audio again,
        since a changed stream has a new bridge port and the old connections went with it."""
        leg = self.legs.get(uid)
        if leg is None or leg.ended:
            return
        audio = _media(leg)
        if audio is None:
            return
        if leg.inbound and leg.tap is None:
            leg.tap = _Tap(uid, self.hop.post)
            leg.tap.createPort(f"tap-{uid}", pcm_format())
            self._apply_listen(leg)
        if leg.tap is not None:
            audio.startTransmit(leg.tap)
        if leg.player is not None:
            leg.player.startTransmit(audio)
        if leg.recorder is not None:
            audio.startTransmit(leg.recorder)
        if not leg.media_ready:
            leg.media_ready = True
            if leg.inbound:
                self.hop.post(ev.MediaReady(uid))
        if leg.inbound and leg.call is not None:
            held = remotely_held(leg.call)
            if held != leg.held:
                leg.held = held
                self.hop.post(ev.HoldChanged(uid, held))
        peer = self.legs.get(leg.peer or "")
        if peer is not None and (not leg.inbound or leg.bridged):
            caller, central = (leg, peer) if leg.inbound else (peer, leg)
            self._bridge(caller, central)

    @staticmethod
    def _apply_listen(leg: _Leg) -> None:
        if leg.tap is None:
            return              # applied when the tap is made
        c = leg.listen
        tap = leg.tap
        unsure = None
        if c is not None and c.learn:
            def unsure(audio, _end_s, uid=leg.uid, post=tap.post) -> None:   # pjmedia's clock thread
                post(ev.VoiceUnsure(uid, audio.astype("<i2").tobytes(), time.monotonic()))
        tap.voice = (VoiceKeyDecoder(c.language, 8000, c.vocabulary, c.digit_string, c.examples, on_unsure=unsure)
                     if c is not None and c.vocabulary else None)

    def _on_signalled_digit(self, uid: str, digit: str, source: str) -> None:
        leg = self.legs.get(uid)
        if leg is not None and leg.inbound:
            self.hop.post(ev.DigitReceived(uid, digit, source, time.monotonic()))

    # ---- commands ---------------------------------------------------------------------------
    def _execute(self, command: ev.SipCommand) -> None:
        if isinstance(command, ev.Dial):
            self._dial(command)
            return
        if isinstance(command, ev.AttachLine):
            self._attach_line(command)
            return
        leg = self.legs.get(command.uid)
        if leg is None or leg.ended:
            return
        if isinstance(command, ev.DetachLine):
            self._end_line(leg, command.how)
        elif isinstance(command, ev.Answer):
            if leg.call is None:
                return               # an analog call is answered by the hook relay
            prm = call_param(command.code)
            if command.code >= 300:
                leg.call.hangup(prm)
            else:
                leg.call.answer(prm)
        elif isinstance(command, ev.PlayFiles):
            self._play(leg, command)
        elif isinstance(command, ev.StopPlay):
            self._stop_player(leg)
        elif isinstance(command, ev.ForwardTo):
            self._forward(leg, command)
        elif isinstance(command, ev.CancelForward):
            if leg.peer and leg.peer in self.legs and not self.legs[leg.peer].answered:
                self._hangup(self.legs[leg.peer])
        elif isinstance(command, ev.DropForward):
            self._drop_forward(leg, command.reason)
        elif isinstance(command, ev.StartRecording):
            self._start_recording(leg, command.path)
        elif isinstance(command, ev.StopRecording):
            self._stop_recording(leg)
        elif isinstance(command, ev.ListenFor):
            leg.listen = command
            self._apply_listen(leg)
        elif isinstance(command, ev.HangUp):
            self._hangup(leg)

    def _play(self, leg: _Leg, command: ev.PlayFiles) -> None:
        self._stop_player(leg)
        audio = _media(leg)
        if audio is None:
            self.hop.post(ev.PlaybackFinished(leg.uid, command.token))
            return
        player = _Player(leg.uid, command.token, self.hop.post)
        files = [str(f) for f in command.files if os.path.isfile(f)]
        try:
            if not files:
                raise _CannotPlay("no such file")
            if len(files) == 1:
                player.createPlayer(files[0], pj.PJMEDIA_FILE_NO_LOOP)
            else:
                vec = pj.StringVector()
                for f in files:
                    vec.append(f)
                player.createPlaylist(vec, f"play-{leg.uid}-{command.token}", pj.PJMEDIA_FILE_NO_LOOP)
        except (pj.Error, _CannotPlay) as exc:
            # a prompt deleted or damaged since start-up: the flow goes on (it is repaired at
            # the next start, with an alarm), rather than the caller waiting in silence
            log.warning("call %s: cannot play %s (%s)", leg.uid, ", ".join(str(f) for f in command.files), getattr(exc, "reason", exc))
            destroy_media(player)
            self.hop.post(ev.PlaybackFinished(leg.uid, command.token))
            return
        player.startTransmit(audio)
        leg.player = player

    def _stop_player(self, leg: _Leg) -> None:
        player, leg.player = leg.player, None
        if player is None:
            return
        player.finished = True  # a late EOF must not report a stopped prompt as finished
        _disconnect(player, _media(leg) if not leg.ended else None)
        leg.garbage.append(player)

    def _account_for(self, uri: str) -> _Account:
        """The account a call to `uri` leaves from: [central] srtp, where "auto" means
        mandatory to a TLS peer and off to any other (a plain backup line or gateway)."""
        mode = srtp_for(self.central_srtp, uri)
        account = self._outgoing.get(mode)
        if account is None:
            account = self._outgoing[mode] = _Account(self)
            account.create(account_config(self._handle, "edgepbx", self.config.rtp_port, self._credentials, mode), False)
        return account

    def _forward(self, leg: _Leg, command: ev.ForwardTo) -> None:
        uid = self._new_uid()
        call = _Call(self, self._account_for(command.uri), uid)
        out = _Leg(uid, call, inbound=False, peer=leg.uid)
        leg.peer = uid
        self.legs[uid] = out
        prm = call_param()
        for name, value in command.headers:
            header = pj.SipHeader()
            header.hName, header.hValue = name, value
            prm.txOption.headers.append(header)
        try:
            call.makeCall(as_tls_hop(command.uri), prm)
        except pj.Error as exc:
            out.ended = True
            leg.peer = None
            self.hop.post(ev.ForwardFailed(leg.uid, exc.reason))

    def _dial(self, command: ev.Dial) -> None:
        call = _Call(self, self._account_for(command.uri), command.uid)
        leg = _Leg(command.uid, call, inbound=True)  # "inbound": the IVR side, whoever called whom
        self.legs[command.uid] = leg
        try:
            call.makeCall(as_tls_hop(command.uri), call_param())
        except pj.Error as exc:
            leg.ended = True
            self.hop.post(ev.CallEnded(command.uid, exc.reason, 500))

    def _drop_forward(self, leg: _Leg, reason: str) -> None:
        peer = self.legs.get(leg.peer or "")
        if peer is None:
            return
        if leg.bridged:
            a, b = _media(leg), _media(peer)
            _disconnect(a, b)
            _disconnect(b, a)
        leg.bridged = peer.bridged = False
        leg.peer = None           # the peer's DISCONNECTED must not hang the caller up
        peer.peer = None
        self._hangup(peer)
        self.hop.post(ev.ForwardFailed(leg.uid, reason))

    def _start_recording(self, leg: _Leg, path: Path) -> None:
        self._stop_recording(leg)
        audio = _media(leg)
        if audio is None:
            self.hop.post(ev.RecordingFinished(leg.uid, path, 0.0))
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        recorder = pj.AudioMediaRecorder()
        recorder.createRecorder(str(path))
        audio.startTransmit(recorder)
        leg.recorder, leg.recording, leg.recording_since = recorder, path, time.monotonic()

    def _stop_recording(self, leg: _Leg) -> None:
        recorder, path = leg.recorder, leg.recording
        if recorder is None or path is None:
            return
        leg.recorder = leg.recording = None
        seconds = time.monotonic() - leg.recording_since
        _disconnect(_media(leg) if not leg.ended else None, recorder)
        destroy_media(recorder)  # closing the recorder writes the WAV header
        try:
            with open(path, "rb") as f:
                os.fsync(f.fileno())
        except OSError:
            seconds = 0.0
        self.hop.post(ev.RecordingFinished(leg.uid, path, round(seconds, 2)))

    def _bridge(self, caller: _Leg, central: _Leg) -> None:
        """Connect the two legs both ways; again after either one's audio changed."""
        if caller.ended or central.ended:
            return
        a, b = _media(caller), _media(central)
        if a is None or b is None:
            return
        if not caller.bridged:
            self._stop_player(caller)
        a.startTransmit(b)
        b.startTransmit(a)
        caller.bridged = central.bridged = True

    def _attach_line(self, command: ev.AttachLine) -> None:
        link: LineLink = command.link      # type: ignore[assignment]
        leg = _Leg(command.uid, None, inbound=True, line=_LinePort(link))
        leg.line.createPort(f"line-{command.uid}", pcm_format())
        leg.tap = _Tap(command.uid, self.hop.post)
        leg.tap.createPort(f"tap-{command.uid}", pcm_format())
        self._apply_listen(leg)
        leg.line.startTransmit(leg.tap)
        leg.media_ready = True
        self.legs[command.uid] = leg
        self.hop.post(ev.IncomingCall(command.uid, command.caller, command.called))
        self.hop.post(ev.MediaReady(command.uid))

    def _end_line(self, leg: _Leg, how: str) -> None:
        """An analog call is over: its media goes, a forward to central is hung up."""
        if leg.ended:
            return
        leg.ended = True
        self._release_media(leg)          # the line's own port goes with the leg
        peer = self.legs.get(leg.peer or "")
        if peer is not None and not peer.ended:
            self._hangup(peer)
        self.hop.post(ev.CallEnded(leg.uid, how, 0))

    def _hangup(self, leg: _Leg) -> None:
        if leg.ended:
            return
        if leg.line is not None:
            link = leg.line.link
            self._end_line(leg, "box hung up")
            link.released()
            return
        prm = pj.CallOpParam()
        prm.statusCode = 603 if leg.inbound and not leg.media_ready else 200
        try:
            leg.call.hangup(prm)
        except pj.Error:
            pass

    def _release_media(self, leg: _Leg) -> None:
        self._stop_recording(leg)  # a caller who hangs up mid-message keeps the message
        if leg.player is not None:
            leg.player.finished = True
            leg.garbage.append(leg.player)
            leg.player = None
        if leg.tap is not None:
            leg.garbage.append(leg.tap)
            leg.tap = None

    def _collect_garbage(self) -> None:
        """Release stopped players and ended calls, outside any pjsua2 callback."""
        for leg in self.legs.values():
            for port in leg.garbage:
                destroy_media(port)
            leg.garbage.clear()
        for uid in [uid for uid, leg in self.legs.items() if leg.ended]:
            peer = self.legs.get(self.legs[uid].peer or "")
            if peer is None or peer.ended:  # keep a forwarded pair until both legs are over
                destroy_media(self.legs.pop(uid).line)
