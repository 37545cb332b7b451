"""Raw SIP over UDP and TCP from any loopback address: what a scanner, a flood or a broken
client sends, written by hand (no SIP stack), and what came back."""
from __future__ import annotations

import secrets
import socket
import time

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
