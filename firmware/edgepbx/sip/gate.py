"""The pjsip edge of admission control: a module that sees every request first.

It runs at priority 10, before pjsip's transaction layer (16) and pjsua (its dialogs and
calls), so a refused request costs one stateless answer or nothing: no transaction, dialog,
call leg, RTP port or store row is made. Per request it reads the source address and the
raw message (pjproject 2.17's pjsip_rx_data layout, sip_transport.h, checked against the
live structure before it is trusted), asks edgepbx.sip.admission, and then:

- admits: the request goes on to pjsip;
- refuses with a code: answered statelessly (403, or 503 with Retry-After);
- drops: nothing is sent (over TCP the connection is closed too).

It also refuses, with 400, what RFC 3261 18.3 says to refuse: a request over UDP whose
Content-Length is larger than the body it carried (pjsip took such an INVITE as a call).
"""
from __future__ import annotations

import ctypes
import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from typing import Callable

from edgepbx.sip.admission import Admission, Verdict
from edgepbx.sip.pjsip_module import ON_RX, Module, PjStr, install
from edgepbx.sip.refusals import logged_elsewhere

log = logging.getLogger("edgepbx.sip")

PRIORITY_GATE = 10            # below PJSIP_MOD_PRIORITY_TSX_LAYER (16): before any transaction
MAX_PKT_LEN = 4000            # PJSIP_MAX_PKT_LEN (pjproject 2.17's default; config_site.h keeps it)
INET6_ADDRSTRLEN = 46


class _SockAddrIn(ctypes.Structure):
    _fields_ = [("family", ctypes.c_uint16), ("port", ctypes.c_uint16), ("addr", ctypes.c_uint8 * 4),
                ("zero", ctypes.c_uint8 * 8)]


class _RxData(ctypes.Structure):
    """pjsip_rx_data up to msg_info.info: tp_info, pkt_info, the first of msg_info."""
    _fields_ = [("pool", ctypes.c_void_p), ("transport", ctypes.c_void_p), ("tp_data", ctypes.c_void_p),
                ("op_key_internal", ctypes.c_void_p * 32), ("op_key_activesock", ctypes.c_void_p),
                ("op_key_user", ctypes.c_void_p), ("op_key_rdata", ctypes.c_void_p),
                ("ts_sec", ctypes.c_long), ("ts_msec", ctypes.c_long),
                ("packet", ctypes.c_char * MAX_PKT_LEN), ("zero", ctypes.c_uint32), ("len", ctypes.c_ssize_t),
                ("src_addr", ctypes.c_uint8 * 28), ("src_addr_len", ctypes.c_int),
                ("src_name", ctypes.c_char * INET6_ADDRSTRLEN), ("src_port", ctypes.c_int),
                ("msg_buf", ctypes.c_void_p), ("msg_len", ctypes.c_int), ("msg", ctypes.c_void_p),
                ("info", ctypes.c_void_p)]


@dataclass(frozen=True)
class RequestFacts:
    method: str
    in_dialog: bool              # its To header has a tag
    call_id: str
    problem: str | None = None   # why it must be refused, as RFC 3261 and RFC 4475 ask
    code: int = 400
    udp_only: bool = False       # a problem only where the datagram is the whole message


def request_facts(raw: bytes) -> RequestFacts:
    """What the gate needs from a request's raw text, and what is wrong with it: a SIP
    version other than 2.0 (505), a CSeq method other than the request's (RFC 4475
    3.1.2.17-18), a CSeq number of 2**31 or more (RFC 3261 8.1.1.5) or a Max-Forwards over 255
    (RFC 4475 3.1.2.9), and over UDP a Content-Length beyond the body (RFC 3261 18.3)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    lines = head.split(b"\n")
    start = lines[0].strip().split(b" ")
    method = start[0].decode("ascii", "replace")
    in_dialog = False
    call_id = ""
    length: int | None = None
    problem: tuple[str, int, bool] | None = None
    if start[-1] != b"SIP/2.0":
        problem = ("SIP version not 2.0", 505, False)
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        name = name.strip().lower()
        if name in (b"to", b"t"):
            in_dialog = any(p.strip().lower().startswith(b"tag=") for p in value.split(b";")[1:])
        elif name in (b"call-id", b"i"):
            call_id = value.strip().decode("utf-8", "replace")
        elif name in (b"content-length", b"l"):
            text = value.strip()
            length = int(text) if text.isdigit() and len(text) < 10 else -1
        elif name == b"cseq":
            parts = value.split()
            if len(parts) != 2 or not parts[0].isdigit() or len(parts[0]) > 10 or int(parts[0]) >= 2 ** 31:
                problem = problem or ("CSeq number not below 2**31", 400, False)
            elif parts[1].decode("ascii", "replace") != method:
                problem = problem or ("CSeq method differs from the request's", 400, False)
        elif name == b"max-forwards":
            text = value.strip()
            if not text.isdigit() or len(text) > 3 or int(text) > 255:
                problem = problem or ("Max-Forwards not 0..255", 400, False)
    if problem is None and length is not None and (length < 0 or length > len(body)):
        problem = ("Content-Length larger than the body", 400, True)
    if problem is None:
        return RequestFacts(method, in_dialog, call_id)
    return RequestFacts(method, in_dialog, call_id, problem[0], problem[1], problem[2])


class Gate:
    """Holds every object pjsip points at for as long as the endpoint lives. The admission
    state is touched on the SIP thread; `lock` guards it against the loop's readers."""

    def __init__(self, lib: ctypes.CDLL, admission: Admission, clock: Callable[[], float] = time.monotonic) -> None:
        self.lib = lib
        self.admission = admission
        self.clock = clock
        self.lock = admission.lock
        # a prototype of its own: other modules declare this function returning char*
        self.get_info = lib["pjsip_rx_data_get_info"]
        self.get_info.restype, self.get_info.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
        for name, restype in (("pjsip_endpt_respond_stateless", ctypes.c_int),
                              ("pjsua_pool_create", ctypes.c_void_p), ("pjsip_generic_string_hdr_create", ctypes.c_void_p)):
            getattr(lib, name).restype = restype
        lib.pjsip_endpt_respond_stateless.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                                      ctypes.c_void_p, ctypes.c_void_p]
        lib.pjsua_pool_create.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t]
        lib.pjsip_generic_string_hdr_create.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        self.endpt = lib.pjsua_get_pjsip_endpt()
        self.pool = lib.pjsua_pool_create(b"edgepbx-gate", 1024, 1024)
        self.retry_lists: dict[int, ctypes.Structure] = {}
        self.layout_ok: bool | None = None
        self.name = b"edgepbx-gate"
        self.callback = ON_RX(self.on_rx_request)
        self.module = Module(name=PjStr(self.name, len(self.name)), id=-1, priority=PRIORITY_GATE,
                             on_rx_request=self.callback)

    def _layout_holds(self, rdata: int, head: _RxData) -> bool:
        """pjsip's own info pointer sits where the layout says, and the source name matches
        the source socket address: otherwise this is not 2.17's pjsip_rx_data."""
        info = self.get_info(rdata)          # made on first asking, then kept in msg_info.info
        if not info or head.info != info:
            return False
        addr = _SockAddrIn.from_buffer_copy(bytes(head.src_addr[:16]))
        if addr.family != socket.AF_INET:
            return True        # cannot cross-check an IPv6 source; the info pointer matched
        shown = head.src_name.split(b"\0", 1)[0].decode("ascii", "replace")
        return shown == str(ipaddress.IPv4Address(bytes(addr.addr))) and socket.ntohs(addr.port) == head.src_port

    def on_rx_request(self, rdata: int) -> int:
        try:
            return self._judge(rdata)
        except Exception:  # noqa: BLE001 - nothing may leave a ctypes callback; the request goes on
            return 0

    def _judge(self, rdata: int) -> int:
        head = _RxData.from_address(rdata)
        if self.layout_ok is None:
            self.layout_ok = self._layout_holds(rdata, head)
            if not self.layout_ok:
                log.warning("SIP admission control is OFF: this pjsip's pjsip_rx_data layout is not 2.17's")
        if not self.layout_ok:
            return 0
        if not head.msg_buf or head.msg_len <= 0:
            return 0
        raw = ctypes.string_at(head.msg_buf, head.msg_len)
        facts = request_facts(raw)
        method = facts.method
        source = head.src_name.split(b"\0", 1)[0].decode("ascii", "replace")
        now = self.clock()
        with self.lock:
            verdict = self.admission.decide(source, method, facts.in_dialog, now)
            if verdict.admit and facts.problem and method != "ACK" and (not facts.udp_only or self._is_udp(raw)):
                verdict = Verdict(False, facts.code, "malformed")
                self.admission.refused[("malformed", source)] = self.admission.refused.get(("malformed", source), 0) + 1
            log_it = not verdict.admit and self.admission.should_log(source, now)
        if verdict.admit:
            return 0
        if method != "ACK":
            if verdict.code:
                logged_elsewhere(facts.call_id)
                headers = self._retry_after(verdict.retry_after) if verdict.retry_after else None
                self.lib.pjsip_endpt_respond_stateless(self.endpt, rdata, verdict.code, None, headers, None)
            elif head.transport and not self._is_udp(raw):
                self.lib.pjsip_transport_shutdown(head.transport)
        if log_it:
            answer = f"answered {verdict.code}" if verdict.code else "dropped"
            why = facts.problem if verdict.reason == "malformed" else _WHY.get(verdict.reason, verdict.reason)
            log.warning("SIP %s from %s:%d %s: %s (further refusals of this source are logged once a minute)",
                        method, source, head.src_port, answer, why)
        return 1

    @staticmethod
    def _is_udp(raw: bytes) -> bool:
        """The top Via says how the request came (UDP, TCP, TLS)."""
        for line in raw.split(b"\n", 12)[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() in (b"via", b"v"):
                return b"/UDP" in value.upper()
        return True

    def _retry_after(self, seconds: int) -> int:
        """A header list holding `Retry-After: seconds`, made once per value."""
        seconds = max(1, min(int(seconds), 3600))
        holder = self.retry_lists.get(seconds)
        if holder is None:
            name, value = b"Retry-After", str(seconds).encode()
            holder = _HeaderList(name, value)
            header = self.lib.pjsip_generic_string_hdr_create(self.pool, ctypes.byref(holder.name),
                                                              ctypes.byref(holder.value))
            links = ctypes.cast(header, ctypes.POINTER(ctypes.c_void_p))
            links[0] = links[1] = ctypes.addressof(holder)
            holder.prev = holder.next = header
            self.retry_lists[seconds] = holder
        return ctypes.addressof(holder)


class _HeaderList(ctypes.Structure):
    """A header list head (prev/next), with the strings its one header was made from."""
    _fields_ = [("prev", ctypes.c_void_p), ("next", ctypes.c_void_p)]

    def __init__(self, name: bytes, value: bytes) -> None:
        super().__init__()
        self._keep = (name, value)
        self.name = PjStr(name, len(name))
        self.value = PjStr(value, len(value))


_WHY = {
    "untrusted": "not in [sip] trusted",
    "rate": "over [sip] invite_rate",
    "blocked": "blocked for flooding",
    "calls": "holds [sip] calls_per_source calls already",
    "unconfirmed": "its last call was never confirmed (no ACK)",
}

def install_gate(admission: Admission) -> Gate | None:
    """Call after libInit, on the thread that polls the endpoint, before any transport opens."""
    gate = install(lambda lib: Gate(lib, admission), "SIP admission control is OFF")
    return gate if isinstance(gate, Gate) else None
