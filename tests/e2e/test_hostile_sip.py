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

from tests.e2e.rawsip import UdpPeer, ack_for, header, invite, mutants, options, sdp_audio_port, status_codes
from tests.e2e.support import Box, free_tcp_port

pytestmark = pytest.mark.e2e
UNTRUSTED, FLOODER, CALLER = "127.0.0.2", "127.0.0.3", "127.0.0.1"


METRICS_PORT = free_tcp_port()


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    tmp = tmp_path_factory.mktemp("hostile")
    box = Box(tmp, language="en", sip_extra=f'trusted = ["{CALLER}", "{FLOODER}"]\nconfirm_timeout_s = 2.0\n'
                                            'invite_rate = "5/s burst 5"\nblock_s = 20.0\n',
              extra=f'metrics_listen = "127.0.0.1:{METRICS_PORT}"')
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
        for data in [*specials, *mutants(rng, valid, 400)]:
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


def _dtmf_rtp(ssrc: int, digit_hz: tuple[float, float], seconds: float) -> list[bytes]:
    """G.711 µ-law RTP packets (20 ms each) carrying a DTMF tone at -10 dBm0 a frequency."""
    import audioop
    import struct
    import numpy as np
    t = np.arange(int(8000 * seconds)) / 8000
    pcm = (4000 * (np.sin(2 * np.pi * digit_hz[0] * t) + np.sin(2 * np.pi * digit_hz[1] * t))).astype("<i2").tobytes()
    packets = []
    for i in range(len(pcm) // 320):
        payload = audioop.lin2ulaw(pcm[i * 320:(i + 1) * 320], 2)
        packets.append(struct.pack("!BBHII", 0x80, 0, i & 0xFFFF, (i * 160) & 0xFFFFFFFF, ssrc) + payload)
    return packets


def _rtp_call(box: Box, sender: str) -> tuple[int, str]:
    """A call by hand from CALLER (SDP: RTP at CALLER:40000): INVITE, ACK; then `sender` plays
    the DTMF tone for 1 (697 + 1209 Hz) at the box's RTP port. Returns how many keys the box
    logged for the call, and its Call-ID."""
    peer = UdpPeer(CALLER, box.port)
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind((sender, 40000 if sender == CALLER else 0))
    try:
        sent = invite(peer.target, peer.source, peer.port)
        peer.send(sent)
        ok = peer.first("SIP/2.0 200", 3.0)
        peer.send(ack_for(sent, ok, peer.source, peer.port))
        port = sdp_audio_port(ok)
        call_id = header(ok, "Call-ID")
        # a steady stream as a phone sends it: silence, the tone, silence (the jitter buffer
        # plays out only a stream it has settled on)
        packets = _dtmf_rtp(0x1234, (697.0, 1209.0), 2.6)
        quiet = _dtmf_rtp(0x1234, (0.0, 0.0), 2.6)
        for i in range(130):
            rtp.sendto(packets[i] if 60 <= i < 75 else quiet[i], ("127.0.0.1", port))
            time.sleep(0.02)
        time.sleep(0.5)
    finally:
        rtp.close()
        peer.close()
    uid = next(line.split("call ", 1)[1].split()[0] for line in box.output.splitlines() if "from scanner to ivr" in line
               and line.split("call ", 1)[1].split()[0] not in _SEEN)
    _SEEN.add(uid)
    return sum(1 for line in box.output.splitlines() if f"call {uid} key 1 (inband)" in line), call_id


_SEEN: set[str] = set()


def test_rtp_from_another_host_never_reaches_the_call(box: Box, api: httpx.Client) -> None:
    """RTP bleed: the same in-band key, sent to the call's RTP port from the caller's own host
    is heard; from another host (127.0.0.2) it is dropped before the stream reads it."""
    for line in box.output.splitlines():
        if "from scanner to ivr" in line:
            _SEEN.add(line.split("call ", 1)[1].split()[0])
    before = api.get("/api/v1/sip").json()["rtp_foreign_dropped"]
    heard, _ = _rtp_call(box, CALLER)
    assert heard == 1, "the control failed: the caller's own in-band key was not heard\n" + box.output[-3000:]
    heard, _ = _rtp_call(box, UNTRUSTED)
    assert heard == 0, "RTP from another host reached the call"
    assert api.get("/api/v1/sip").json()["rtp_foreign_dropped"] >= before + 10


def test_tcp_connections_per_source_are_limited_and_silent_ones_closed(box: Box) -> None:
    """[sip] tcp_per_source (16 by default): a client opening 40 connections keeps 16; a
    connection that sends nothing is closed after 10 s (PJSIP_TCP_INITIAL_TIMEOUT)."""
    conns = [socket.create_connection(("127.0.0.1", box.port), timeout=5) for _ in range(40)]
    time.sleep(1.0)

    def is_open(conn: socket.socket) -> bool:
        conn.settimeout(0.05)
        try:
            return conn.recv(1) != b""
        except socket.timeout:
            return True
        except OSError:
            return False
    try:
        assert sum(is_open(c) for c in conns) == 16
        still_answers(box)
        time.sleep(10.5)
        assert sum(is_open(c) for c in conns) == 0
    finally:
        for conn in conns:
            conn.close()
    assert "over [sip] tcp_per_source (16) closed" in box.output


def test_rfc_4475_invalid_requests_are_refused_not_taken_as_calls(box: Box) -> None:
    """A few of RFC 4475's invalid messages (3.1.2): each gets its 4xx/5xx and never rings."""
    before = box.output.count("ringing")
    peer = UdpPeer(CALLER, box.port)
    try:
        valid = invite(peer.target, peer.source, peer.port)
        cases = {
            "clerr (3.1.2.2)": (invite(peer.target, peer.source, peer.port, content_length=9999), 400),
            "ncl (3.1.2.3)": (valid.replace(b"Content-Length: ", b"Content-Length: -"), None),  # pjsip's parser drops it
            "scalar02 CSeq (3.1.2.9)": (valid.replace(b"CSeq: 1 INVITE", b"CSeq: 36893488147419103232 INVITE"),
                                        None),                                   # pjsip's parser drops it
            "scalar02 Max-Forwards (3.1.2.9)": (valid.replace(b"Max-Forwards: 70", b"Max-Forwards: 300"), 400),
            "badvers (3.1.2.16)": (valid.replace(b" SIP/2.0\r\nVia", b" SIP/7.0\r\nVia", 1), None),  # dropped by pjsip
            "mismatch01 (3.1.2.17)": (valid.replace(b"CSeq: 1 INVITE", b"CSeq: 1 OPTIONS"), 400),
            "mismatch02 (3.1.2.18)": (valid.replace(b"INVITE sip:", b"NEWMETHOD sip:", 1), 400),
        }
        for name, (data, code) in cases.items():
            peer.send(data)
            got = status_codes(peer.answers(0.8))
            assert got == ([code] if code else []), (name, got)
    finally:
        peer.close()
    assert box.output.count("ringing") == before


def test_legs_of_unacked_calls_are_free_again_within_the_confirm_time(tmp_path: Path) -> None:
    """Every leg taken by INVITEs never ACKed: a caller gets in once they are hung up (pjsua
    would hold each slot 32 s more for a BYE nobody answers)."""
    box = Box(tmp_path, language="en", sip_extra="max_calls = 4\nconfirm_timeout_s = 2.0\n")
    peer = UdpPeer("127.0.0.5", box.port)      # trusted here (127.0.0.0/8); blocked after this
    try:
        for _ in range(6):
            peer.send(invite(peer.target, peer.source, peer.port))
        assert status_codes(peer.answers(1.0)).count(486) == 2            # 4 legs, all taken
        time.sleep(2.5)
        result = call(box)
        assert result["answered"], (result, box.output[-2000:])
    finally:
        peer.close()
        assert box.stop() == 0


def test_metrics_scrape_parses_and_counts_what_happened(box: Box, api: httpx.Client) -> None:
    """GET /metrics (a read token), read with Prometheus' own text parser."""
    from prometheus_client.parser import text_string_to_metric_families
    assert httpx.get(f"{box.api}/metrics").status_code == 401
    peer = UdpPeer(UNTRUSTED, box.port)
    try:
        peer.send(invite(peer.target, peer.source, peer.port))
        assert status_codes(peer.answers(1.0)) == [403]
    finally:
        peer.close()
    call(box)
    before = api.get("/api/v1/status").json()["active_calls"]
    r = api.get("/metrics")
    after = api.get("/api/v1/status").json()["active_calls"]
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(r.text) for s in family.samples}
    # the raw calls of the RTP test may still be in the IVR: the gauge agrees with the status
    assert min(before, after) <= samples[("edgepbx_calls_active", ())] <= max(before, after)
    assert sum(v for (name, _), v in samples.items() if name == "edgepbx_calls_total") >= 1
    assert samples[("edgepbx_sip_refused_total", (("reason", "untrusted"),))] >= 1
    assert samples[("edgepbx_dtmf_keys_total", (("source", "rfc4733"),))] >= 1
    assert samples[("edgepbx_disk_free_bytes", ())] > 0 and samples[("edgepbx_uptime_seconds", ())] > 0
    assert ("edgepbx_build_info", (("release", ""), ("version", __import__("edgepbx").__version__))) in samples
    assert samples[("edgepbx_audio_frames_total", ())] > 0 and ("edgepbx_audio_frames_late_total", ()) in samples
    # the same without a token, on the management address ([api] metrics_listen); only /metrics there
    plain = httpx.get(f"http://127.0.0.1:{METRICS_PORT}/metrics")
    assert plain.status_code == 200
    names = {f.name for f in text_string_to_metric_families(plain.text)}
    assert {"edgepbx_calls_active", "edgepbx_sip_refused", "edgepbx_audio_frames_late"} <= names
    assert httpx.get(f"http://127.0.0.1:{METRICS_PORT}/api/v1/status").status_code == 404
    assert httpx.post(f"http://127.0.0.1:{METRICS_PORT}/metrics").status_code == 405
