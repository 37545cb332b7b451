"""The box on a hostile network: untrusted sources, floods, INVITEs never ACKed, malformed SIP.

One box for the module; "other hosts" are other loopback addresses (127.0.0.2 is untrusted,
127.0.0.3 trusted but flooding). Every test ends with the box still answering a real call.
"""
from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.e2e.rawsip import UdpPeer, header, invite, options, status_codes
from tests.e2e.support import Box

pytestmark = pytest.mark.e2e
UNTRUSTED, FLOODER, CALLER = "127.0.0.2", "127.0.0.3", "127.0.0.1"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    tmp = tmp_path_factory.mktemp("hostile")
    box = Box(tmp, language="en", sip_extra=f'trusted = ["{CALLER}", "{FLOODER}"]\nconfirm_timeout_s = 2.0\n'
                                            'invite_rate = "5/s burst 5"\nblock_s = 20.0\n')
    yield box
    box.stop()


@pytest.fixture(scope="module")
def api(box: Box) -> httpx.Client:
    return httpx.Client(base_url=box.api, headers={"Authorization": f"Bearer {box.create_token('ops', 'write')}"})


def call(box: Box, bind: str = CALLER, timeout: float = 20.0) -> dict:
    """A real call by the caller tool (pjsua2), from `bind`: a key, then hang up."""
    done = subprocess.run([sys.executable, "-m", "edgepbx.tools.call", box.uri, "--bind", bind, "--dtmf", "1",
                           "--wait", "0.5", "--hold", "0.5", "--timeout", str(timeout)],
                          capture_output=True, text=True, timeout=timeout + 30)
    return json.loads(done.stdout.strip().splitlines()[-1])


def still_answers(box: Box) -> None:
    assert box.proc.poll() is None, box.output
    result = call(box)
    assert result["answered"], result
    assert "Traceback" not in box.output


def test_an_untrusted_source_gets_403_and_costs_no_call(box: Box, api: httpx.Client) -> None:
    before = box.output.count("ringing")
    peer = UdpPeer(UNTRUSTED, box.port)
    try:
        peer.send(invite(peer.target, peer.source, peer.port))
        assert status_codes(peer.answers(1.0)) == [403]
        peer.send(options(peer.target, peer.source, peer.port))
        assert status_codes(peer.answers(1.0)) == [403]
    finally:
        peer.close()
    assert call(box, bind=UNTRUSTED)["code"] == 403          # a real SIP client, refused alike
    assert box.output.count("ringing") == before              # no IVR, no call leg, no record
    sip = api.get("/api/v1/sip").json()
    assert sip["refused"]["untrusted"] >= 3 and sip["refused_by_source"][UNTRUSTED] >= 3
    assert api.get("/api/v1/status").json()["sip"]["refused"]["untrusted"] >= 3
    lines = [line for line in box.output.splitlines() if f"from {UNTRUSTED}" in line and "not in [sip] trusted" in line]
    assert len(lines) == 1, lines                              # once a minute per source
    still_answers(box)


def test_an_invite_never_acked_frees_its_leg_within_the_confirm_time(box: Box) -> None:
    peer = UdpPeer(CALLER, box.port)
    try:
        peer.send(invite(peer.target, peer.source, peer.port, call_id="never-acked-1"))
        codes = status_codes(peer.answers(3.5))
    finally:
        peer.close()
    assert 200 in codes
    assert "not confirmed (no ACK) in 2 s, hung up" in box.output
    box.wait_for("not connected (408", timeout=5)
    still_answers(box)


def test_a_trusted_source_that_floods_is_held_and_others_still_get_in(box: Box, api: httpx.Client) -> None:
    peer = UdpPeer(FLOODER, box.port)
    try:
        for _ in range(40):
            peer.send(invite(peer.target, peer.source, peer.port))
        answers = peer.answers(1.5)
        codes = Counter(status_codes(answers))
        assert codes[503] >= 30, codes                         # burst 5: the rest refused
        assert codes[180] <= 5, codes
        retry = [header(a, "Retry-After") for a in answers if a.startswith("SIP/2.0 503")]
        assert all(r and r.isdigit() and int(r) >= 1 for r in retry), retry
        assert FLOODER in api.get("/api/v1/sip").json()["blocked"]
        result = call(box)                                      # another source is not held up
        assert result["answered"], result
        peer.send(invite(peer.target, peer.source, peer.port, call_id="after-the-flood"))   # still blocked
        late = [a for a in peer.answers(1.0) if "after-the-flood" in a]   # (not the 200 OKs still resent)
        assert status_codes(late) == [503]
    finally:
        peer.close()


def test_a_udp_request_with_a_content_length_beyond_its_body_is_400(box: Box) -> None:
    peer = UdpPeer(CALLER, box.port)
    try:
        peer.send(invite(peer.target, peer.source, peer.port, content_length=5000))
        assert status_codes(peer.answers(1.0)) == [400]
    finally:
        peer.close()


def _mutants(rng: random.Random, valid: bytes, n: int) -> Iterator[bytes]:
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


def test_malformed_sip_gets_an_answer_or_silence_never_a_crash(box: Box) -> None:
    rng = random.Random(4475)
    peer = UdpPeer(CALLER, box.port)
    try:
        valid = invite(peer.target, peer.source, peer.port)
        sdp_body = valid.split(b"\r\n\r\n", 1)[1].decode()
        many_lines = sdp_body + "".join(f"m=audio {40002 + 2 * k} RTP/AVP 0\r\n" for k in range(500))
        specials = [invite(peer.target, peer.source, peer.port, body=many_lines),     # 500 media lines
                    b"\0" * 1400, b"INVITE\r\n\r\n", b"SIP/2.0 200 OK\r\n\r\n",        # a response out of nowhere
                    invite(peer.target, peer.source, peer.port, extra="Via: " + "x" * 1200 + "\r\n")]
        sent = 0
        for data in [*specials, *_mutants(rng, valid, 400)]:
            peer.send(data[:65000])
            sent += 1
            if sent % 50 == 0:
                peer.answers(0.05)
        codes = Counter(status_codes(peer.answers(1.0)))
    finally:
        peer.close()
    assert all(100 <= code < 700 for code in codes), codes
    # over TCP: a 2 MB header, and half a message left hanging
    big = socket.create_connection(("127.0.0.1", box.port), timeout=5)
    try:
        big.sendall(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nX-Big: " + b"a" * 2_000_000 + b"\r\n\r\n")
    except OSError:
        pass                                                  # the box may close it mid-way: fine
    big.close()
    half = socket.create_connection(("127.0.0.1", box.port), timeout=5)
    half.sendall(invite(f"127.0.0.1:{box.port}", "127.0.0.1", 5999, transport="TCP")[:300])
    time.sleep(0.5)
    still_answers(box)
    half.close()
    assert "Traceback" not in box.output


def test_trust_is_changed_from_afar_and_drop_sends_nothing(box: Box, api: httpx.Client) -> None:
    r = api.put("/api/v1/sip/trust", json={"trusted": [CALLER, FLOODER], "untrusted": "drop"})
    assert r.status_code == 200, r.text
    assert 'untrusted = "drop"' in box.config.read_text()       # kept for the next start
    peer = UdpPeer(UNTRUSTED, box.port)
    try:
        peer.send(invite(peer.target, peer.source, peer.port))
        assert peer.answers(1.0) == []
    finally:
        peer.close()
    bad = api.put("/api/v1/sip/trust", json={"trusted": ["10.0.0.300"], "untrusted": "reject"})
    assert bad.status_code == 422 and "[sip] trusted" in bad.text
    assert api.get("/api/v1/sip").json()["untrusted"] == "drop"  # the running config stays
    r = api.put("/api/v1/sip/trust", json={"trusted": [CALLER, FLOODER], "untrusted": "reject"})
    assert r.status_code == 200
    still_answers(box)
