"""Logs each INVITE the SIP stack turns away, with the caller and the reason.

pjsua refuses an INVITE it cannot take inside the stack: no codec or transport the box takes
(a G.729-only gateway, an SRTP-only phone), an extension the caller requires, a session timer
below the box's minimum, every call leg in use. The application never hears of such a call,
so nothing was logged: a technician commissioning a gateway saw its calls fail and the box's
log stay silent. A pjsip module watching outgoing responses now logs one line per refusal.

The response is read with pjproject 2.17's layouts (sip_transport.h: pjsip_tx_data up to its
`msg`; sip_msg.h: pjsip_msg starts with its type and status code). Both are checked against
pjsip's own description of the first response before any is trusted.
"""
from __future__ import annotations

import ctypes
import logging
import time
from collections import deque

from edgepbx.sip.headers import caller_number, parse_sip_headers
from edgepbx.sip.log_budget import LogBudget
from edgepbx.sip.pjsip_module import ON_TX, PRIORITY_LAST, Module, PjStr, install

log = logging.getLogger("edgepbx.sip")

# Not refusals of a new call: a stale in-dialog request, the caller's own CANCEL, a re-INVITE
# glare, and the box declining a call it was told of (logged with that call).
_NOT_REFUSALS = {481, 487, 491, 603}
_WHY = {
    406: "the box takes G.711 (PCMU, PCMA) over RTP/AVP only",
    415: "the INVITE's body is not SDP the box reads",
    420: "the caller requires a SIP extension the box lacks",
    422: "the caller's session timer is below the box's Min-SE",
    486: "every call leg is in use",
    488: "no audio the box takes: G.711 (PCMU, PCMA) over RTP/AVP, no SRTP, no other codec",
}
_RESPONSE_MSG = 1             # PJSIP_RESPONSE_MSG
_LOGGED_ELSEWHERE: deque[str] = deque(maxlen=256)   # Call-IDs the admission gate answered (and logs itself)


def logged_elsewhere(call_id: str) -> None:
    """The admission gate (edgepbx.sip.gate) refused this request and logs it by source."""
    _LOGGED_ELSEWHERE.append(call_id)


class _TxDataHead(ctypes.Structure):
    """pjsip_tx_data up to `msg` (pj_ioqueue_op_key_t is 32 + 2 pointers on every platform)."""
    _fields_ = [("prev", ctypes.c_void_p), ("next", ctypes.c_void_p), ("pool", ctypes.c_void_p),
                ("obj_name", ctypes.c_char * 32), ("info", ctypes.c_void_p),
                ("rx_sec", ctypes.c_long), ("rx_msec", ctypes.c_long), ("mgr", ctypes.c_void_p),
                ("op_key_internal", ctypes.c_void_p * 32), ("op_key_activesock", ctypes.c_void_p),
                ("op_key_user", ctypes.c_void_p), ("op_key_tdata", ctypes.c_void_p),
                ("op_key_token", ctypes.c_void_p), ("op_key_callback", ctypes.c_void_p),
                ("lock", ctypes.c_void_p), ("msg", ctypes.c_void_p)]


class _MsgHead(ctypes.Structure):
    """pjsip_msg's type, then its first line: a union holding pointers, so 8-byte aligned."""
    _fields_ = [("type", ctypes.c_int), ("line", ctypes.c_void_p)]

    @property
    def status_code(self) -> int:
        return ctypes.c_int.from_address(ctypes.addressof(self) + _MsgHead.line.offset).value


_SRTP_488 = {
    "off": "no audio the box takes: G.711 (PCMU, PCMA) over RTP/AVP, no SRTP, no other codec",
    "optional": "no audio the box takes: G.711 (PCMU, PCMA) over RTP/AVP or SRTP (SDES), no other codec",
    "mandatory": "no audio the box takes: G.711 (PCMU, PCMA) over SRTP only ([sip] srtp = \"mandatory\"): "
                 "a plain RTP offer, or SRTP keys it cannot use",
}


def set_srtp_mode(mode: str) -> None:
    """The trunk side's [sip] srtp, which the 488 line explains."""
    _WHY[488] = _SRTP_488[mode]


def refusal_line(code: int, whole_msg: str) -> str:
    """The log line for a refusal: who called, the status, and why (from the response's
    Warning, Unsupported or Min-SE where it gives one)."""
    first = whole_msg.split("\r\n", 1)[0]
    reason = first.split(" ", 2)[2] if first.count(" ") >= 2 else ""
    headers = parse_sip_headers(whole_msg)
    caller = caller_number(headers.get("From", "")) or "anonymous"
    details = [_WHY[code]] if code in _WHY else []
    if "Unsupported" in headers:
        details.append(f"unsupported: {headers['Unsupported']}")
    if "Min-SE" in headers:
        details.append(f"Min-SE {headers['Min-SE']} s")
    warning = headers.get("Warning", "")
    if warning.count('"') >= 2:
        details.append(warning.split('"')[1])
    return f"SIP INVITE from {caller} refused: {code} {reason}" + (f" ({'; '.join(details)})" if details else "")


class _Watcher:
    """Holds every object pjsip points at for as long as the endpoint lives."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        lib.pjsip_tx_data_get_info.restype = ctypes.c_void_p
        lib.pjsip_tx_data_get_info.argtypes = [ctypes.c_void_p]
        lib.pjsip_msg_print.restype = ctypes.c_ssize_t
        lib.pjsip_msg_print.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        self.layout_checked = False
        self.logged: deque[tuple[str, str, int]] = deque(maxlen=64)   # retransmissions log once
        self.buffer = ctypes.create_string_buffer(16384)
        self.budget = LogBudget()
        self.name = b"edgepbx-refusals"
        self.callback = ON_TX(self.on_tx_response)
        self.module = Module(name=PjStr(self.name, len(self.name)), id=-1, priority=PRIORITY_LAST,
                             on_tx_response=self.callback)

    def on_tx_response(self, tdata: int) -> int:
        try:
            self._look_at(tdata)
        except Exception:  # noqa: BLE001 - nothing may leave a ctypes callback
            pass
        return 0            # PJ_SUCCESS: the response goes out whatever happens here

    def _look_at(self, tdata: int) -> None:
        address = self.lib.pjsip_tx_data_get_info(tdata)
        info = ctypes.string_at(address).decode("ascii", "replace") if address else ""
        # "Response msg 488/INVITE/cseq=1 (tdta0x...)"
        code_text, _, rest = info.removeprefix("Response msg ").partition("/")
        if not rest.startswith("INVITE/") or not code_text.isdigit():
            return
        code = int(code_text)
        if code < 400 or code in _NOT_REFUSALS:
            return
        head = _TxDataHead.from_address(tdata)
        if not self.layout_checked:
            msg = _MsgHead.from_address(head.msg) if head.info == address and head.msg else None
            if msg is None or (msg.type, msg.status_code) != (_RESPONSE_MSG, code):
                log.warning("SIP refusals will not be logged: this pjsip's message layout is not 2.17's")
                self.module.on_tx_response = ON_TX()      # pjsip skips a NULL callback
                return
            self.layout_checked = True
        length = self.lib.pjsip_msg_print(head.msg, self.buffer, len(self.buffer))
        if length <= 0:
            return
        whole = self.buffer.raw[:length].decode("utf-8", "replace")
        headers = parse_sip_headers(whole)
        key = (headers.get("Call-ID", ""), headers.get("CSeq", ""), code)
        if key in self.logged or key[0] in _LOGGED_ELSEWHERE:
            return
        self.logged.append(key)
        dropped = self.budget.take(time.monotonic())
        if dropped is not None:
            more = f" ({dropped} more refusal(s) before this one not logged)" if dropped else ""
            log.warning("%s%s", refusal_line(code, whole), more)


def log_refused_invites() -> None:
    """Call after libInit, on the thread that polls the endpoint."""
    install(_Watcher, "SIP refusals will not be logged")
