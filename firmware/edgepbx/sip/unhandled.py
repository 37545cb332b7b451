"""Answers the SIP requests no pjsua module takes: 405 with the methods this endpoint allows.

RFC 3261 8.2.1 asks a UAS to answer a method it does not support with 405 and an Allow header.
pjsua leaves that to the application (its own demo app does it), and pjsua2 exposes no way to,
so a REGISTER (every softphone's first request, unless told not to register), a PUBLISH or an
unknown method got no answer: the client retransmitted for 32 s and then showed a timeout.

A pjsip module at the lowest priority (edgepbx.sip.pjsip_module); a header list is read with
pjproject 2.17's layout (sip_types.h/sip_msg.h: it starts with the prev/next pointers).
"""
from __future__ import annotations

import ctypes
import logging
import time

import pjsua2 as pj

from edgepbx.sip.log_budget import LogBudget
from edgepbx.sip.pjsip_module import ON_RX, PRIORITY_LAST, Module, PjStr, install

log = logging.getLogger("edgepbx.sip")
_METHOD_NOT_ALLOWED = 405


class _ListHead(ctypes.Structure):
    """A header list's head: only its prev/next pointers are read."""
    _fields_ = [("prev", ctypes.c_void_p), ("next", ctypes.c_void_p)]


class _Answerer:
    """Holds every object pjsip points at for as long as the endpoint lives."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        for name, restype in (("pjsip_rx_data_get_info", ctypes.c_char_p),
                              ("pjsip_endpt_get_capability", ctypes.c_void_p), ("pjsip_hdr_clone", ctypes.c_void_p),
                              ("pjsua_pool_create", ctypes.c_void_p), ("pjsip_endpt_respond_stateless", ctypes.c_int)):
            getattr(lib, name).restype = restype
        lib.pjsip_rx_data_get_info.argtypes = [ctypes.c_void_p]
        lib.pjsip_endpt_get_capability.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        lib.pjsip_hdr_clone.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.pjsua_pool_create.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t]
        lib.pjsip_endpt_respond_stateless.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                                      ctypes.c_void_p, ctypes.c_void_p]
        self.endpt = lib.pjsua_get_pjsip_endpt()
        self.pool = lib.pjsua_pool_create(b"edgepbx-405", 512, 512)
        self.allow = _ListHead()       # filled at the first request (next stays NULL until then)
        self.budget = LogBudget()
        self.name = b"edgepbx-unhandled"
        self.callback = ON_RX(self.on_rx_request)
        self.module = Module(name=PjStr(self.name, len(self.name)), id=-1, priority=PRIORITY_LAST,
                             on_rx_request=self.callback)

    def _allow_list(self) -> int:
        """The endpoint's Allow header (every method some module takes), cloned once into a
        list of its own: by the first request every module has registered its methods."""
        if not self.allow.next:
            head = ctypes.addressof(self.allow)
            allow = self.lib.pjsip_endpt_get_capability(self.endpt, pj.PJSIP_H_ALLOW, None)
            if allow:
                clone = self.lib.pjsip_hdr_clone(self.pool, allow)
                links = ctypes.cast(clone, ctypes.POINTER(ctypes.c_void_p))
                links[0] = links[1] = head
                self.allow.prev = self.allow.next = clone
            else:
                self.allow.prev = self.allow.next = head
        return ctypes.addressof(self.allow)

    def on_rx_request(self, rdata: int) -> int:
        try:
            info = (self.lib.pjsip_rx_data_get_info(rdata) or b"").decode("ascii", "replace")
            method = info.removeprefix("Request msg ").split("/", 1)[0]
            if method == "ACK":
                return 1                        # never answered (RFC 3261 17.2.1)
            self.lib.pjsip_endpt_respond_stateless(self.endpt, rdata, _METHOD_NOT_ALLOWED, None,
                                                   self._allow_list(), None)
            dropped = self.budget.take(time.monotonic())
            if dropped is not None:
                why = "not a registrar: call the box without registering" if method == "REGISTER" else "not supported"
                more = f"; {dropped} more before this one not logged" if dropped else ""
                log.info("SIP %s answered 405 (%s%s)", method, why, more)
            return 1
        except Exception:  # noqa: BLE001 - nothing may leave a ctypes callback
            return 0


def answer_unhandled_requests() -> None:
    """Call after libInit, on the thread that polls the endpoint."""
    install(_Answerer, "unsupported SIP requests will go unanswered")
