"""Creating a pjsua2 endpoint the way every process of edgepbx needs it (box, caller tool,
test central): quiet, G.711 only, 8 kHz bridge, no sound device, SIP and RTP bound to one
address. Must run on the thread that will poll it."""
from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from typing import Callable

import pjsua2 as pj

from edgepbx.sip.admission import Admission
from edgepbx.sip.gate import install_gate
from edgepbx.sip.refusals import log_refused_invites
from edgepbx.sip.unhandled import answer_unhandled_requests

CLOCK_RATE = 8000
log = logging.getLogger("edgepbx.sip")


ANY_ADDRESS = "0.0.0.0"


@dataclass(frozen=True)
class TlsSettings:
    """SIP over TLS (RFC 3261 26): a listener at `port` (0: only for calling out), the box's
    certificate and key (also shown to a peer that asks for a client certificate), the CAs a
    peer's certificate must chain to (None: the system's), and whether to check the far end's
    certificate and name when calling out (the box always does; a test tool may not)."""
    port: int = 0
    cert: str = ""
    key: str = ""
    ca: str | None = None
    verify: bool = True


SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"
SRTP_USE = {"off": pj.PJMEDIA_SRTP_DISABLED, "optional": pj.PJMEDIA_SRTP_OPTIONAL,
            "mandatory": pj.PJMEDIA_SRTP_MANDATORY}


@dataclass
class EndpointHandle:
    ep: pj.Endpoint
    host: str          # the address others reach us at (Contact, SDP): the bound one, or for
    port: int          # 0.0.0.0 the address pjsip finds for the default interface
    bound: str         # the address SIP and RTP sockets are bound to


def _silence_pjlib() -> None:
    # libCreate prints a banner on stdout before any config applies; pj_log_set_level(0) first.
    try:
        ctypes.CDLL(pj._pjsua2.__file__).pj_log_set_level(0)
    except (OSError, AttributeError):
        pass


class _HookedEndpoint(pj.Endpoint):
    def __init__(self, on_transport: Callable[[int, int], None]) -> None:
        super().__init__()
        self.on_transport = on_transport

    def onTransportState(self, prm: pj.OnTransportStateParam) -> None:  # noqa: N802 (pjsua2 name)
        try:
            self.on_transport(int(prm.hnd), int(prm.state))
        except Exception:  # noqa: BLE001 - nothing may leave a pjsua2 callback
            log.exception("transport state handler")


def set_strict_rtp(on: bool) -> None:
    try:
        ctypes.c_int.in_dll(ctypes.CDLL(pj._pjsua2.__file__), "pjmedia_rtp_strict_source").value = int(on)
    except (OSError, ValueError, AttributeError):    # a binding built without edgepbx's patches
        if on:
            log.warning("strict RTP sources unavailable: this pjsua2 was built without edgepbx's patches")


def strict_rtp_dropped() -> int:
    """RTP packets dropped because they came from a host other than the negotiated one."""
    try:
        return ctypes.c_ulong.in_dll(ctypes.CDLL(pj._pjsua2.__file__), "pjmedia_rtp_strict_dropped").value
    except (OSError, ValueError, AttributeError):
        return 0


class SipListenError(RuntimeError):
    """The SIP address cannot be taken (in use, or not this machine's)."""


def _keep_requests_on_their_transport() -> None:
    """pjsip sends a request over 1300 bytes by TCP even when the URI names no transport (RFC
    3261 18.1.1), and a forward with the IVR context is that big. A central behind a firewall
    that drops TCP would then stall the forward until it timed out, so, as Asterisk does by
    default, requests go by the transport their URI names (UDP unless ";transport=tcp").
    pjsip_cfg()->endpt.disable_tcp_switch is the fifth pj_bool_t of pjsip_sip_cfg_var
    (pjproject 2.17 sip_config.h); pjsua2 does not expose it."""
    try:
        flags = (ctypes.c_int * 5).in_dll(ctypes.CDLL(pj._pjsua2.__file__), "pjsip_sip_cfg_var")
    except (OSError, ValueError, AttributeError):   # a binding built elsewhere may not export it
        log.warning("pjsip_sip_cfg_var not found: SIP requests over 1300 bytes may go by TCP")
        return
    flags[4] = 1


def create_endpoint(host: str, port: int, max_calls: int, *, tcp: bool = True,
                    keep_late_audio: bool = False, admission: Admission | None = None,
                    strict_rtp: bool = False,
                    on_transport: Callable[[int, int], None] | None = None,
                    tls: TlsSettings | None = None) -> EndpointHandle:
    """libCreate + libInit + SIP transports + libStart on the calling thread.

    SIP listens on UDP and, with `tcp`, on TCP at the same address and port: RFC 3261 (18)
    asks every SIP element for both, and a client may send a request over 1300 bytes (many
    codecs, long headers) by TCP. Port 0 (a caller) takes any free port for each, the UDP one
    reported.

    `admission` (the box, not its test peers) judges every request before pjsip spends
    anything on it (edgepbx.sip.gate), from before the first transport opens.

    `strict_rtp`: RTP from any host but the one a call's SDP names never reaches the call
    (firmware/pjsua2/patches/strict-rtp-source.patch).

    `on_transport(transport pointer, state)` hears of every SIP transport connecting or going
    (a TCP client connecting, edgepbx.sip.tcp_guard), on the polling thread.

    `tls`: SIP over TLS too, TLS 1.2 and 1.3 only (TlsSettings).

    `keep_late_audio` is for a process that records what it hears to compare it with the sent
    audio (the caller tool): its jitter buffer never drops frames to catch up after a burst, so a
    stall at the far end delays the recording instead of cutting 20 ms slices out of it.
    """
    _silence_pjlib()
    set_strict_rtp(strict_rtp)
    ep = _HookedEndpoint(on_transport) if on_transport is not None else pj.Endpoint()
    ep.libCreate()
    try:
        published, port = _start(ep, host, port, max_calls, tcp, keep_late_audio, admission, tls)
    except BaseException:
        ep.libDestroy()      # here, on the thread that created it: pjlib aborts on any other
        raise
    return EndpointHandle(ep, published, port, host)


def _listen(ep: pj.Endpoint, kind: int, tcfg: pj.TransportConfig, name: str) -> None:
    try:
        ep.transportCreate(kind, tcfg)
    except pj.Error as exc:
        where = f"{tcfg.boundAddress}:{tcfg.port}"
        raise SipListenError(f"cannot listen for SIP over {name} on {where}: {exc.reason}") from None


def _start(ep: pj.Endpoint, host: str, port: int, max_calls: int, tcp: bool,
           keep_late_audio: bool, admission: Admission | None, tls: TlsSettings | None) -> tuple[str, int]:
    """libInit, transports, libStart, codecs; returns the published SIP address and port.

    Bound to 0.0.0.0 (every interface), the published address is left to pjsip: the default
    interface's. Publishing 0.0.0.0 would put it in Contact and in SDP, where it means "hold"
    (RFC 3264 8.4), and pjsip refuses it for TCP."""
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0          # this thread polls with libHandleEvents
    cfg.uaConfig.mainThreadOnly = True  # callbacks (DTMF included) on this thread
    cfg.uaConfig.maxCalls = max_calls
    cfg.uaConfig.userAgent = "edgepbx"
    cfg.logConfig.level = 0
    cfg.logConfig.consoleLevel = 0
    cfg.medConfig.clockRate = CLOCK_RATE
    cfg.medConfig.sndClockRate = CLOCK_RATE
    cfg.medConfig.channelCount = 1
    cfg.medConfig.ecTailLen = 0         # IVR prompts need no echo canceller
    cfg.medConfig.noVad = True
    cfg.medConfig.maxMediaPorts = 512
    if keep_late_audio:
        cfg.medConfig.jbDiscardAlgo = pj.PJMEDIA_JB_DISCARD_NONE
    ep.libInit(cfg)
    if admission is not None:
        install_gate(admission)
    _keep_requests_on_their_transport()
    answer_unhandled_requests()
    log_refused_invites()
    tcfg = pj.TransportConfig()
    tcfg.port = port
    tcfg.boundAddress = host
    if host != ANY_ADDRESS:
        tcfg.publicAddress = host
    _listen(ep, pj.PJSIP_TRANSPORT_UDP, tcfg, "UDP")
    if tcp:
        _listen(ep, pj.PJSIP_TRANSPORT_TCP, tcfg, "TCP")
    if tls is not None:
        _listen(ep, pj.PJSIP_TRANSPORT_TLS, _tls_transport(tcfg, tls), "TLS")
    ep.libStart()
    ep.audDevManager().setNullDev()
    for codec in ep.codecEnum2():
        name = codec.codecId
        priority = 255 if name.startswith("PCMU/") else 254 if name.startswith("PCMA/") else 0
        ep.codecSetPriority(name, priority)
    return _published(ep)


def _tls_transport(base: pj.TransportConfig, tls: TlsSettings) -> pj.TransportConfig:
    tcfg = pj.TransportConfig()
    tcfg.port = tls.port
    tcfg.boundAddress = base.boundAddress
    tcfg.publicAddress = base.publicAddress
    t = tcfg.tlsConfig
    t.proto = pj.PJ_SSL_SOCK_PROTO_TLS1_2 | pj.PJ_SSL_SOCK_PROTO_TLS1_3
    t.CaListFile = tls.ca or SYSTEM_CA
    t.certFile, t.privKeyFile = tls.cert, tls.key
    t.verifyServer = tls.verify          # the far end's chain and name, when the box calls out
    t.verifyClient = False               # callers: any client certificate, or none
    t.requireClientCert = False
    t.msecTimeout = 5000                 # a handshake that hangs fails within 5 s
    return tcfg


def _published(ep: pj.Endpoint) -> tuple[str, int]:
    """The UDP transport's published host and port (a port 0 request gets a free one)."""
    for tid in ep.transportEnum():
        host, _, port = ep.transportGetInfo(tid).localName.rpartition(":")
        return host, int(port)
    raise RuntimeError("no SIP transport")


def account_config(handle: EndpointHandle, user: str, rtp_port: int,
                   credentials: tuple[str, str] | None = None, srtp: str = "off") -> pj.AccountConfig:
    """A local account (no registration) whose media is bound to the same address. With
    `credentials` (user, password), pjsua answers a 401/407 challenge to its requests once,
    whatever the realm."""
    acfg = pj.AccountConfig()
    if credentials:
        acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", credentials[0], 0, credentials[1]))
    acfg.idUri = f"sip:{user}@{handle.host}:{handle.port}"
    acfg.mediaConfig.transportConfig.port = rtp_port
    acfg.mediaConfig.transportConfig.portRange = 0 if rtp_port == 0 else 1000
    acfg.mediaConfig.transportConfig.boundAddress = handle.bound
    acfg.mediaConfig.transportConfig.publicAddress = handle.host
    acfg.mediaConfig.srtpUse = SRTP_USE[srtp]       # SDES keys (RFC 4568): AES_CM_128_HMAC_SHA1_80/32,
    acfg.mediaConfig.srtpSecureSignaling = 0        # AEAD-AES-GCM; over any SIP transport
    return acfg


def call_param(status: int = 0) -> pj.CallOpParam:
    """Answer or call with audio only. pjsua 2.17 also offers a T.140 real-time text stream
    (m=text) by default: a box that speaks needs none, and some peers stumble on it."""
    prm = pj.CallOpParam(True)
    prm.opt.audioCount, prm.opt.videoCount, prm.opt.textCount = 1, 0, 0
    if status:
        prm.statusCode = status
    return prm


def pcm_format() -> pj.MediaFormatAudio:
    fmt = pj.MediaFormatAudio()
    fmt.init(pj.PJMEDIA_FORMAT_PCM, CLOCK_RATE, 1, 20000, 16)
    return fmt


_AUDIO_UP = (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD)  # a stream with a bridge port


def call_audio(call: pj.Call) -> pj.AudioMedia | None:
    """The call's audio in the conference bridge, or None before media is up.

    Also while the far end holds the call (sendonly): its stream still exists and what it
    sends (hold music) is heard. A re-INVITE that changes the audio (hold, resume, codec)
    gives the stream a new bridge port, so whatever was connected to the old one must be
    connected again. Keep getInfo()'s result while iterating."""
    info = call.getInfo()
    for index, media in enumerate(info.media):
        if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status in _AUDIO_UP:
            return call.getAudioMedia(index)
    return None


def destroy_media(port: pj.AudioMedia | None) -> None:
    """Take a media port (tap, player, recorder) out of the bridge and free it while Python
    still holds the object; it must not be used afterwards.

    Dropping the last reference instead frees the Python object first, and pjmedia's clock
    thread can still call its `onFrameReceived` or `onEof2` meanwhile: a caller process
    crashed in CI that way, and a stress run crashed within about 1,300 dropped ports (none in
    10,000 freed like this). The C++ destructor takes the port's lock, so once it returns no
    callback runs any more."""
    if port is not None and port.thisown:
        type(port).__swig_destroy__(port)


def remotely_held(call: pj.Call) -> bool:
    """True while the far end holds the call (its SDP says sendonly or inactive)."""
    info = call.getInfo()
    return any(m.type == pj.PJMEDIA_TYPE_AUDIO and m.status == pj.PJSUA_CALL_MEDIA_REMOTE_HOLD for m in info.media)
