"""Every RTP packet one loopback host sends, timed by the kernel as it arrives (for `make bench`).

The box under test runs on its own loopback address (127.0.0.2), so its packets are told apart
from everyone else's by their source. An AF_PACKET socket on `lo` with a classic BPF filter
(kernel side: only packets delivered to the host, IPv4 UDP from that address) keeps the Python
side to the box's own streams; SO_TIMESTAMPNS gives each packet its arrival time in the kernel,
so a busy reader never makes a packet look late. Needs root (CAP_NET_RAW); `available()` says.

Per stream (destination port and SSRC): frames received, frames lost (RTP timestamps never seen),
the worst gap between two arrivals, and late frames: a frame is late when it arrives more than
`late_ms` after its place in the stream's 20 ms schedule, the schedule anchored at the earliest
frame (a receiver with a `late_ms` jitter buffer would have played a gap instead).
"""
from __future__ import annotations

import ctypes
import os
import socket
import struct
import threading
import time
from array import array
from dataclasses import dataclass

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
SOL_PACKET = 263
PACKET_STATISTICS = 6
FRAME_SAMPLES = 160          # 20 ms at 8 kHz (G.711)
AUDIO_PAYLOADS = (0, 8)      # PCMU, PCMA (RFC 3551); telephone-event is not a frame


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def _filter_program(source: str) -> list[tuple[int, int, int, int]]:
    """Classic BPF: delivered to this host (not the outgoing copy lo also shows), IPv4, UDP,
    from `source`, not a fragment; keep the first 96 bytes (headers and the RTP header)."""
    addr = struct.unpack("!I", socket.inet_aton(source))[0]
    return [
        (0x20, 0, 0, 0xFFFFF004),   # ld  [SKF_AD_PKTTYPE]
        (0x15, 0, 9, 0),            # jeq PACKET_HOST        else drop
        (0x28, 0, 0, 12),           # ldh [12]  ethertype
        (0x15, 0, 7, 0x0800),       # jeq IPv4               else drop
        (0x30, 0, 0, 23),           # ldb [23]  protocol
        (0x15, 0, 5, 17),           # jeq UDP                else drop
        (0x20, 0, 0, 26),           # ld  [26]  source address
        (0x15, 0, 3, addr),         # jeq source             else drop
        (0x28, 0, 0, 20),           # ldh [20]  flags, fragment offset
        (0x45, 1, 0, 0x1FFF),       # jset fragment offset   drop
        (0x06, 0, 0, 96),           # ret 96
        (0x06, 0, 0, 0),            # drop: ret 0
    ]


def available() -> str:
    """"" when packets can be captured here, else why not."""
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)).close()
    except (PermissionError, OSError) as exc:
        return f"no packet capture ({exc.strerror or exc}; run as root)"
    return ""


@dataclass
class StreamFigures:
    dst_port: int
    frames: int
    lost: int
    late: int
    worst_gap_ms: float
    seconds: float
    started: float = 0.0                                   # first arrival (s, CLOCK_REALTIME)
    late_at: tuple[float, ...] = ()                        # arrivals of late frames (s)


class RtpWire:
    """Capture in a thread from start() to stop(); then streams()."""

    def __init__(self, source: str, late_ms: float = 40.0) -> None:
        self.source = source
        self.late_ms = late_ms
        self._arrivals: dict[tuple[int, int], array] = {}
        self._stamps: dict[tuple[int, int], array] = {}
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
        program = _filter_program(source)
        self._code = (_SockFilter * len(program))(*program)
        fprog = _SockFprog(len(program), self._code)
        self._sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(fprog))
        self._sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self._sock.bind(("lo", 0))
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.dropped = 0

    def start(self) -> "RtpWire":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        stats = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        self.dropped += struct.unpack("II", stats)[1]
        self._sock.close()

    def _run(self) -> None:
        sock, arrivals, stamps = self._sock, self._arrivals, self._stamps
        while not self._stop.is_set():
            try:
                data, ancillary, _, _ = sock.recvmsg(96, socket.CMSG_SPACE(16))
            except (TimeoutError, socket.timeout):
                continue
            if len(data) < 14 + 20 + 8 + 12:
                continue
            ihl = (data[14] & 0x0F) * 4
            udp = 14 + ihl
            rtp = udp + 8
            if len(data) < rtp + 12 or data[rtp] >> 6 != 2 or data[rtp + 1] & 0x7F not in AUDIO_PAYLOADS:
                continue
            when = time.clock_gettime_ns(time.CLOCK_REALTIME)
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = struct.unpack("qq", value[:16])
                    when = sec * 1_000_000_000 + nsec
            dst_port = (data[udp + 2] << 8) | data[udp + 3]
            timestamp, ssrc = struct.unpack_from("!II", data, rtp + 4)
            key = (dst_port, ssrc)
            if key not in arrivals:
                arrivals[key], stamps[key] = array("q"), array("q")
            arrivals[key].append(when)
            stamps[key].append(timestamp)

    def streams(self) -> list[StreamFigures]:
        out = []
        for key, times in self._arrivals.items():
            out.append(self._figures(key[0], times, self._stamps[key]))
        return out

    def _figures(self, dst_port: int, times: array, stamps: array) -> StreamFigures:
        import numpy as np
        t = np.frombuffer(times, dtype=np.int64).astype(np.float64) / 1e6          # ms
        ts = np.frombuffer(stamps, dtype=np.int64)
        ts = np.unwrap(ts, period=1 << 32) if ts.size else ts                     # RTP timestamps wrap at 2^32
        slot = np.round((ts - ts.min()) / FRAME_SAMPLES).astype(np.int64) if ts.size else ts
        expected = int(slot.max()) + 1 if slot.size else 0
        received = int(np.unique(slot).size)
        schedule = t - slot * 20.0
        lateness = schedule - schedule.min() if t.size else t
        gaps = np.diff(np.sort(t)) if t.size > 1 else np.zeros(1)
        return StreamFigures(dst_port=dst_port, frames=int(t.size), lost=expected - received,
                             late=int((lateness > self.late_ms).sum()), worst_gap_ms=float(gaps.max()),
                             seconds=float((t.max() - t.min()) / 1000) if t.size else 0.0,
                             started=float(t.min() / 1000) if t.size else 0.0,
                             late_at=tuple(float(x / 1000) for x in t[lateness > self.late_ms]))


def self_test() -> None:
    """The filter and the sums on a stream of our own: 20 ms UDP 'RTP' from 127.0.0.9, one frame
    held back 70 ms (late at 40) and one never sent (lost); the same from 127.0.0.1, not seen."""
    wire = RtpWire("127.0.0.9").start()
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind(("127.0.0.9", 0))
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))          # another host: filtered out in the kernel
    start = time.monotonic()
    for i in range(50):
        if i == 20:
            continue
        due = start + i * 0.02 + (0.07 if i == 30 else 0.0)
        time.sleep(max(0.0, due - time.monotonic()))
        packet = struct.pack("!BBHII", 0x80, 0, i, i * FRAME_SAMPLES, 0x1234) + bytes(160)
        tx.sendto(packet, rx.getsockname())
        other.sendto(packet, rx.getsockname())
    time.sleep(0.3)
    wire.stop()
    [s] = wire.streams()
    assert (s.frames, s.lost) == (49, 1) and s.late >= 1 and s.worst_gap_ms > 40, s


if __name__ == "__main__":
    if os.geteuid() == 0:
        self_test()
        print("rtp_wire: self-test passed")
