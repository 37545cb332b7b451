"""spandsp's DTMF receiver (`dtmf_rx`) and caller-ID receiver (`adsi_rx`), Debian libspandsp2,
through ctypes: the references.

It runs with its own defaults (no dial-tone filter, twist 8 dB normal / 4 dB reverse,
threshold -42 dBm0), as an application that links spandsp would.
"""
from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int)
_MSG_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_int)
ADSI_STANDARD = {"bell202": 1, "v23": 2}   # ADSI_STANDARD_CLASS, ADSI_STANDARD_CLIP


def load() -> ctypes.CDLL | None:
    """The library, or None when libspandsp2 is not installed."""
    name = ctypes.util.find_library("spandsp") or "libspandsp.so.2"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.dtmf_rx_init.restype = ctypes.c_void_p
    lib.dtmf_rx_init.argtypes = [ctypes.c_void_p, _CALLBACK, ctypes.c_void_p]
    lib.dtmf_rx.restype = ctypes.c_int
    lib.dtmf_rx.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]
    lib.dtmf_rx_free.argtypes = [ctypes.c_void_p]
    lib.adsi_rx_init.restype = ctypes.c_void_p
    lib.adsi_rx_init.argtypes = [ctypes.c_void_p, ctypes.c_int, _MSG_CALLBACK, ctypes.c_void_p]
    lib.adsi_rx.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]
    lib.adsi_rx_free.argtypes = [ctypes.c_void_p]
    return lib


class SpandspDtmf:
    """One dtmf_rx instance; `feed` returns the digits it reported for these samples."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._lib = lib
        self._got: list[str] = []
        self._cb = _CALLBACK(self._on_digits)  # kept alive as long as the state
        self._state = lib.dtmf_rx_init(None, self._cb, None)
        if not self._state:
            raise RuntimeError("dtmf_rx_init failed")

    def _on_digits(self, _user: int, digits: bytes, length: int) -> None:
        self._got.extend(digits[:length].decode("ascii"))

    def feed(self, pcm: np.ndarray) -> list[str]:
        x = np.ascontiguousarray(pcm, dtype=np.int16)
        self._lib.dtmf_rx(self._state, x.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), len(x))
        got, self._got = self._got, []
        return got

    def close(self) -> None:
        if self._state:
            self._lib.dtmf_rx_free(self._state)
            self._state = None

    def __del__(self) -> None:
        self.close()


class SpandspAdsi:
    """adsi_rx, told the standard; `decode` returns the messages it delivered (checksum already
    checked and removed by spandsp)."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._lib = lib
        self._got: list[bytes] = []
        self._cb = _MSG_CALLBACK(self._on_message)  # kept alive as long as the receiver

    def _on_message(self, _user: int, msg: ctypes.POINTER(ctypes.c_uint8), length: int) -> None:
        if length > 0:
            self._got.append(bytes(msg[:length]))

    def decode(self, pcm: np.ndarray, standard: str) -> list[bytes]:
        state = self._lib.adsi_rx_init(None, ADSI_STANDARD[standard], self._cb, None)
        x = np.ascontiguousarray(pcm, dtype=np.int16)
        self._lib.adsi_rx(state, x.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), len(x))
        self._lib.adsi_rx_free(state)
        got, self._got = self._got, []
        return got
