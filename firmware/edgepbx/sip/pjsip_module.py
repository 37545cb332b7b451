"""Registering a pjsip module from Python through ctypes, which pjsua2 does not expose.

The layouts are pjproject 2.17's (sip_module.h: pjsip_module; pj/types.h: pj_str_t). A module
is called on the thread that polls the endpoint (or sends): its callbacks must not raise.
"""
from __future__ import annotations

import ctypes
import functools
import logging
from typing import Callable, Protocol

import pjsua2 as pj

log = logging.getLogger("edgepbx.sip")

PRIORITY_LAST = 64 + 99      # PJSIP_MOD_PRIORITY_APPLICATION + 99: after every other module on
                             # receive, before them on send (pjsip sends lowest priority first)


class PjStr(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_char_p), ("slen", ctypes.c_ssize_t)]


ON_RX = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)     # pj_bool_t (*)(pjsip_rx_data*)
ON_TX = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)     # pj_status_t (*)(pjsip_tx_data*)


class Module(ctypes.Structure):
    _fields_ = [("prev", ctypes.c_void_p), ("next", ctypes.c_void_p), ("name", PjStr), ("id", ctypes.c_int),
                ("priority", ctypes.c_int), ("load", ctypes.c_void_p), ("start", ctypes.c_void_p),
                ("stop", ctypes.c_void_p), ("unload", ctypes.c_void_p), ("on_rx_request", ON_RX),
                ("on_rx_response", ctypes.c_void_p), ("on_tx_request", ctypes.c_void_p),
                ("on_tx_response", ON_TX), ("on_tsx_state", ctypes.c_void_p)]


@functools.cache
def binding() -> ctypes.CDLL:
    """The pjsua2 extension, which links pjsip statically: its pjsip symbols are the live ones."""
    lib = ctypes.CDLL(pj._pjsua2.__file__)
    lib.pjsua_get_pjsip_endpt.restype = ctypes.c_void_p
    lib.pjsip_endpt_register_module.restype = ctypes.c_int
    lib.pjsip_endpt_register_module.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.pjsip_endpt_create_response.restype = ctypes.c_int
    lib.pjsip_endpt_create_response.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                                ctypes.POINTER(ctypes.c_void_p)]
    lib.pjsip_tsx_send_msg.restype = ctypes.c_int
    lib.pjsip_tsx_send_msg.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.pjsip_transport_shutdown.restype = ctypes.c_int
    lib.pjsip_transport_shutdown.argtypes = [ctypes.c_void_p]
    return lib


class HasModule(Protocol):
    module: Module


_INSTALLED: list[HasModule] = []   # every module this process registers; pjsip keeps pointers


def install(make: Callable[[ctypes.CDLL], HasModule], lost: str) -> HasModule | None:
    """Builds an object holding a pjsip `module` (and its callbacks) from the binding and
    registers it with the running endpoint (after libInit, on the thread that polls it). It is
    kept alive for as long as the process lives. On a binding built elsewhere it logs what is
    `lost` instead."""
    try:
        lib = binding()
        holder = make(lib)
        status = lib.pjsip_endpt_register_module(lib.pjsua_get_pjsip_endpt(), ctypes.byref(holder.module))
        if status != 0:
            raise RuntimeError(f"pjsip_endpt_register_module: status {status}")
    except (OSError, AttributeError, RuntimeError) as exc:
        log.warning("%s: %s", lost, exc)
        return None
    _INSTALLED.append(holder)
    return holder


def respond_in_transaction(rdata: int, tsx: int, code: int) -> None:
    """Answers the request `rdata` in its server transaction `tsx` (pointers as pjsua2 gives
    them: SipRxData.pjRxData, SipTransaction.pjTransaction). Once answered, pjsua and the
    dialog leave the request alone: they act only on a transaction still "trying"."""
    lib = binding()
    tdata = ctypes.c_void_p()
    status = lib.pjsip_endpt_create_response(lib.pjsua_get_pjsip_endpt(), rdata, code, None, ctypes.byref(tdata))
    if status == 0:
        status = lib.pjsip_tsx_send_msg(tsx, tdata)
    if status != 0:
        raise RuntimeError(f"answering {code}: pjsip status {status}")


def terminate_at_once(call_id: int, code: int) -> bool:
    """Ends a pjsua call without a BYE, freeing its call slot now (edgepbx_call_terminate,
    firmware/pjsua2/patches/terminate-unconfirmed-call.patch); False without that patch."""
    try:
        function = binding()["edgepbx_call_terminate"]
    except (OSError, AttributeError):
        return False
    function.restype, function.argtypes = ctypes.c_int, [ctypes.c_int, ctypes.c_int]
    return function(call_id, code) == 0
