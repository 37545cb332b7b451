"""Registering a pjsip module from Python through ctypes, which pjsua2 does not expose.

The layouts are pjproject 2.17's (sip_module.h: pjsip_module; pj/types.h: pj_str_t). A module
is called on the thread that polls the endpoint (or sends): its callbacks must not raise.
"""
from __future__ import annotations

import ctypes

import pjsua2 as pj

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


def binding() -> ctypes.CDLL:
    """The pjsua2 extension, which links pjsip statically: its pjsip symbols are the live ones."""
    return ctypes.CDLL(pj._pjsua2.__file__)


def register(lib: ctypes.CDLL, module: Module) -> None:
    """Adds `module` to the running endpoint (after libInit). The caller keeps `module` and
    its callbacks alive for as long as the endpoint lives: pjsip keeps pointers to them."""
    lib.pjsua_get_pjsip_endpt.restype = ctypes.c_void_p
    lib.pjsip_endpt_register_module.restype = ctypes.c_int
    lib.pjsip_endpt_register_module.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    status = lib.pjsip_endpt_register_module(lib.pjsua_get_pjsip_endpt(), ctypes.byref(module))
    if status != 0:
        raise RuntimeError(f"pjsip_endpt_register_module: status {status}")
