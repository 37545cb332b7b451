"""A limit on SIP-over-TCP connections per source address.

pjsip accepts every TCP connection and keeps each one until the client closes it, it sends
no complete message for 10 s (PJSIP_TCP_INITIAL_TIMEOUT, config_site.h) or it idles for 2
minutes: one client opening 1,000 connections would use up the box's sockets (512 ioqueue
handles, shared with RTP). Each new connection is reported by pjsip's transport-state
callback; a source holding `limit` already gets the new one closed at the next poll, before
it can carry a request. Central's hosts and untrusted sources are not counted here: the
former are never limited, the latter get nothing anyway (edgepbx.sip.gate closes them).

`TcpCount` is the I/O-free part; `transport_source` reads the remote address of a
`pjsip_transport` (pjproject 2.17's layout, checked by its type name before it is trusted).
"""
from __future__ import annotations

import ctypes
import ipaddress
import socket
from collections import Counter

PJSIP_TP_STATE_CONNECTED = 0


class TcpCount:
    """Connections by source; decides which new ones to close."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sources: dict[int, str] = {}       # transport pointer -> source address
        self.count: Counter[str] = Counter()
        self.refused = 0

    def connected(self, transport: int, source: str, exempt: bool = False) -> bool:
        """A new connection; False when it must be closed (its source holds `limit`)."""
        if exempt:
            return True
        if self.count[source] >= self.limit:
            self.refused += 1
            return False
        self.sources[transport] = source
        self.count[source] += 1
        return True

    def gone(self, transport: int) -> None:
        source = self.sources.pop(transport, None)
        if source is not None:
            self.count[source] -= 1
            if self.count[source] <= 0:
                del self.count[source]


class _TransportHead(ctypes.Structure):
    """pjsip_transport up to type_name (sip_transport.h): obj_name, four pointers, three
    pj_bool_t, the key (a long and a pj_sockaddr), then type_name."""
    _fields_ = [("obj_name", ctypes.c_char * 32), ("pool", ctypes.c_void_p), ("ref_cnt", ctypes.c_void_p),
                ("lock", ctypes.c_void_p), ("grp_lock", ctypes.c_void_p), ("tracing", ctypes.c_int),
                ("is_shutdown", ctypes.c_int), ("is_destroying", ctypes.c_int), ("key_type", ctypes.c_long),
                ("rem_family", ctypes.c_uint16), ("rem_port", ctypes.c_uint16), ("rem_addr", ctypes.c_uint8 * 4),
                ("rem_rest", ctypes.c_uint8 * 20), ("key_pad", ctypes.c_uint8 * 4),
                ("type_name", ctypes.c_char_p)]


def transport_source(transport: int) -> str | None:
    """The remote IPv4 address of a TCP `pjsip_transport`, or None when the layout does not
    hold (its type name is not "TCP") or the remote is not IPv4."""
    head = _TransportHead.from_address(transport)
    if head.type_name not in (b"TCP", b"tcp") or head.rem_family != socket.AF_INET:
        return None
    return str(ipaddress.IPv4Address(bytes(head.rem_addr)))
