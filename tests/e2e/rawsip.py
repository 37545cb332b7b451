"""Raw SIP over UDP and TCP from any loopback address: what a scanner, a flood or a broken
client sends, written by hand (no SIP stack), and what came back."""
from __future__ import annotations

import random
import secrets
import socket
import time
from typing import Iterator

SDP = ("v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
       "m=audio {rtp} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")


def invite(target: str, source: str, source_port: int, *, transport: str = "UDP", body: str | None = None,
           call_id: str | None = None, extra: str = "", content_length: int | None = None, user: str = "ivr") -> bytes:
    """A well-formed INVITE (RFC 3261 8.1.1) with SDP, from `source`."""
    body = SDP.format(host=source, rtp=40000) if body is None else body
    call_id = call_id or secrets.token_hex(8)
    length = len(body.encode()) if content_length is None else content_length
    return (f"INVITE sip:{user}@{target} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} {source}:{source_port};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:scanner@{source}>;tag={secrets.token_hex(4)}\r\n"
            f"To: <sip:{user}@{target}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:scanner@{source}:{source_port}>\r\nContent-Type: application/sdp\r\n{extra}"
            f"Content-Length: {length}\r\n\r\n{body}").encode()


def options(target: str, source: str, source_port: int) -> bytes:
    return (f"OPTIONS sip:{target} SIP/2.0\r\nVia: SIP/2.0/UDP {source}:{source_port};branch=z9hG4bK{secrets.token_hex(6)}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:probe@{source}>;tag={secrets.token_hex(4)}\r\nTo: <sip:{target}>\r\n"
            f"Call-ID: {secrets.token_hex(8)}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()


class UdpPeer:
    """A UDP socket bound to `source` (e.g. 127.0.0.2) that sends to the box and collects answers."""

    def __init__(self, source: str, box_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((source, 0))
        self.source, self.port = self.sock.getsockname()
        self.box = ("127.0.0.1", box_port)
        self.target = f"127.0.0.1:{box_port}"

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.box)

    def answers(self, seconds: float) -> list[str]:
        """Every datagram received within `seconds`."""
        out, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65535)
            except (socket.timeout, BlockingIOError):
                break
            out.append(data.decode("utf-8", "replace"))
        return out

    def first(self, prefix: str, seconds: float) -> str:
        """The first datagram starting with `prefix` (e.g. "SIP/2.0 200") within `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            for answer in self.answers(min(left, 0.05)):
                if answer.startswith(prefix):
                    return answer
        raise TimeoutError(f"no {prefix!r} within {seconds} s")

    def close(self) -> None:
        self.sock.close()


def status_codes(answers: list[str]) -> list[int]:
    return [int(a.split(" ", 2)[1]) for a in answers if a.startswith("SIP/2.0 ")]


def header(message: str, name: str) -> str | None:
    for line in message.split("\r\n")[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name.lower():
            return value.strip()
    return None


def mutants(rng: random.Random, valid: bytes, n: int) -> Iterator[bytes]:
    """A valid INVITE changed the ways broken clients and fuzzers change it."""
    lines = valid.split(b"\r\n")
    for i in range(n):
        kind = i % 8
        if kind == 0:
            yield valid[: rng.randrange(1, len(valid))]                          # truncated
        elif kind == 1:
            data = bytearray(valid)
            for _ in range(rng.randrange(1, 20)):
                data[rng.randrange(len(data))] = rng.randrange(256)              # bytes flipped
            yield bytes(data)
        elif kind == 2:
            picked = lines[:]
            rng.shuffle(picked)                                                  # lines shuffled
            yield b"\r\n".join(picked)
        elif kind == 3:
            yield bytes(rng.randrange(256) for _ in range(rng.randrange(1, 1400)))   # noise
        elif kind == 4:
            dup = lines[rng.randrange(1, 8)]
            yield b"\r\n".join(lines[:2] + [dup] * rng.randrange(2, 60) + lines[2:])   # repeated headers
        elif kind == 5:
            port = rng.choice([b"0", b"65536", b"99999", b"-1", b"4294967297"])
            yield valid.replace(b"m=audio 40000", b"m=audio " + port)           # absurd ports
        elif kind == 6:
            yield valid.replace(b"RTP/AVP 0 101", rng.choice([b"RTP/AVP 127 96 35", b"RTP/AVP", b"RTP/AVP 0 " + b"1 " * 300]))
        else:
            yield valid.replace(b"SIP/2.0\r\n", rng.choice([b"SIP/3.0\r\n", b"\r\n", b"SIP/2.0 extra\r\n"]), 1)


def ack_for(sent_invite: bytes, ok: str, source: str, source_port: int) -> bytes:
    """The ACK for a 2xx to `sent_invite` (RFC 3261 13.2.2.4): to the answer's Contact, its To tag."""
    text = sent_invite.decode()
    contact = (header(ok, "Contact") or "").strip("<>").split(">", 1)[0]
    return (f"ACK {contact} SIP/2.0\r\nVia: SIP/2.0/UDP {source}:{source_port};branch=z9hG4bK{secrets.token_hex(6)}\r\n"
            f"Max-Forwards: 70\r\nFrom: {header(text, 'From')}\r\nTo: {header(ok, 'To')}\r\n"
            f"Call-ID: {header(text, 'Call-ID')}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n").encode()


def sdp_audio_port(message: str) -> int:
    for line in message.split("\r\n"):
        if line.startswith("m=audio "):
            return int(line.split()[1])
    raise ValueError("no m=audio line")
