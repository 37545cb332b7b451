"""The FXO interface's sound device: 8 kHz mono 16-bit PCM, in 20 ms frames.

Production reads and writes the ALSA device through `arecord`/`aplay` pipes; a pair of FIFOs
or files (`pipe:IN,OUT`) is the same interface, which is how tests and the bench feed a line.
`AudioRing` carries frames between the device's clock and the call stack's clock, which drift:
it holds at most `max_ms` (older audio is dropped) and gives silence when empty.
"""
from __future__ import annotations

import collections
import os
import subprocess
import threading
from typing import BinaryIO, Protocol

RATE = 8000
FRAME_BYTES = 320                    # 20 ms of 8 kHz 16-bit mono
SILENCE = bytes(FRAME_BYTES)


class LineAudio(Protocol):
    def read(self) -> bytes:
        """The next 20 ms from the line (blocks until there); b"" when the device is gone."""

    def write(self, pcm: bytes) -> None:
        """Audio to the line."""

    def close(self) -> None: ...


class PipeAudio:
    """Line audio from one binary stream and to another (FIFOs, files, or a process's pipes)."""

    def __init__(self, source: BinaryIO, sink: BinaryIO) -> None:
        self._source, self._sink = source, sink
        self._lock = threading.Lock()

    def read(self) -> bytes:
        data = b""
        while len(data) < FRAME_BYTES:
            chunk = self._source.read(FRAME_BYTES - len(data))
            if not chunk:
                return b""
            data += chunk
        return data

    def write(self, pcm: bytes) -> None:
        with self._lock:
            try:
                self._sink.write(pcm)
                self._sink.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass

    def close(self) -> None:
        for stream in (self._source, self._sink):
            try:
                stream.close()
            except OSError:
                pass


class AlsaAudio(PipeAudio):
    """The interface's ALSA device (e.g. "plughw:1,0") through arecord and aplay (alsa-utils)."""

    def __init__(self, device: str) -> None:
        fmt = ["-q", "-D", device, "-f", "S16_LE", "-r", str(RATE), "-c", "1", "-t", "raw"]
        self._rec = subprocess.Popen(["arecord", *fmt], stdout=subprocess.PIPE)
        self._play = subprocess.Popen(["aplay", *fmt], stdin=subprocess.PIPE)
        super().__init__(self._rec.stdout, self._play.stdin)   # type: ignore[arg-type]

    def close(self) -> None:
        super().close()
        for proc in (self._rec, self._play):
            proc.terminate()


def open_audio(spec: str) -> LineAudio:
    """"alsa:DEVICE" or "pipe:IN,OUT" (paths; FIFOs are opened as the other end opens them)."""
    kind, _, rest = spec.partition(":")
    if kind == "alsa" and rest:
        return AlsaAudio(rest)
    if kind == "pipe" and rest.count(",") == 1:
        inp, out = rest.split(",")
        sink = open(os.open(out, os.O_RDWR if _is_fifo(out) else os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb",
                    buffering=0)
        return PipeAudio(open(inp, "rb", buffering=0), sink)
    raise ValueError(f"line audio {spec!r}: expected \"alsa:DEVICE\" or \"pipe:IN,OUT\"")


def _is_fifo(path: str) -> bool:
    import stat
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


class AudioRing:
    """Thread-safe frame queue between two clocks."""

    def __init__(self, max_ms: int = 200) -> None:
        self._frames: collections.deque[bytes] = collections.deque(maxlen=max(1, max_ms // 20))
        self._lock = threading.Lock()

    def push(self, frame: bytes) -> None:
        with self._lock:
            self._frames.append(frame)

    def pop(self) -> bytes:
        with self._lock:
            return self._frames.popleft() if self._frames else SILENCE

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
