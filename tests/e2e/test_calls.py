"""Real SIP calls over loopback: the box process, a pjsua2 caller process, a pjsua2 central."""
from __future__ import annotations

import hashlib
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from edgepbx.sip.headers import parse_sip_headers
from tests.audio_match import locate, read_wav, tone_power_after
from tests.e2e.support import (PROMPTS, Box, Central, free_sip_port, free_tcp_port, heard_in_order, place_call,
                               prompt_pcm)

pytestmark = pytest.mark.e2e
def test_keypad_navigation_and_forward_to_central_with_context(tmp_path: Path) -> None:
    central = Central(tmp_path)
    box = Box(tmp_path, central=central.uri)
    try:
        result = place_call(box.uri, "2,1,1,2,3,4,5,6,#,+8,0", tmp_path / "heard.wav", hold=6, cwd=tmp_path)
    finally:
        assert box.stop() == 0, box.output
        central.stop()
    assert result["answered"] and result["first_audio_ms"] is not None

    offsets = heard_in_order(tmp_path / "heard.wav", [
        ("ecom_language", "zh"), ("ecom_main", "en"), ("ecom_enter_order", "en"),
        ("ecom_order_info", "en"), ("anything_else", "en"), ("transferring", "en")])
    audio, rate = read_wav(tmp_path / "heard.wav")
    for off_path in (("ecom_returns", "en"), ("ecom_main", "zh")):
        assert locate(audio, prompt_pcm(*off_path), rate)[1] < 0.5, f"{off_path} matched but was never played"
    assert tone_power_after(audio, rate, offsets[-1] + 4.0, Central.TONE_HZ) > 0.5, "central's audio not heard"

    path = ["language", "main", "order_number", "order_info", "anything_else", "operator"]
    [call] = central.calls()
    headers = {k.lower(): v for k, v in call["headers"].items()}
    assert headers["x-edgepbx-path"] == ",".join(path)
    assert headers["x-edgepbx-data"] == "order_number=123456"
    assert headers["x-edgepbx-lang"] == "en"
    assert headers["x-edgepbx-queue"] == "general"
    assert headers["x-edgepbx-caller"] == "1001"
    assert headers["x-edgepbx-box"] == "test-branch"

    db = sqlite3.connect(box.db)
    db.row_factory = sqlite3.Row
    [row] = db.execute("SELECT * FROM calls").fetchall()
    assert row["caller"] == "1001" and row["language"] == "en"
    assert row["outcome"] == "forwarded" and row["forward_target"] == central.uri
    assert row["ivr_path"] == '["' + '", "'.join(path) + '"]'
    assert row["digits"] == '{"order_number": "123456"}'
    assert row["answered_at"] >= row["started_at"] and row["ended_at"] > row["answered_at"]
    assert "at order_number (collect)" in box.output and "forwarding to" in box.output


def test_inband_secret_digits_without_central_reach_the_outage_menu_and_are_masked(tmp_path: Path) -> None:
    box = Box(tmp_path, flow="finance")
    try:
        result = place_call(box.uri, "2,2,+1,6,5,4,3,2,1,+1,1,1,2,2,3,3", tmp_path / "heard.wav",
                            inband=True, gap=1.5, hold=20, cwd=tmp_path)  # each prompt heard >1 s
    finally:
        assert box.stop() == 0, box.output
    assert result["answered"]
    heard_in_order(tmp_path / "heard.wav", [  # no central: the agent step falls back to the outage menu
        ("fin_language", "zh"), ("fin_main", "en"), ("fin_enter_id", "en"), ("fin_enter_pin", "en"),
        ("transferring", "en"), ("outage_notice", "en")])

    db = sqlite3.connect(box.db)
    db.row_factory = sqlite3.Row
    [row] = db.execute("SELECT * FROM calls").fetchall()
    assert row["hangup_cause"].startswith("caller hung up") and row["ivr_path"].endswith('"outage_menu"]')
    assert row["digits"] == '{"id_last6": "***", "pin": "***"}'
    assert box.output.count("key * (inband)") == 12
    for secret in ("654321", "112233"):
        assert secret not in box.output
        for f in box.db.parent.glob("box.db*"):
            assert secret.encode() not in f.read_bytes()


def test_central_that_never_answers_falls_back_for_that_call(tmp_path: Path) -> None:
    central = Central(tmp_path, "--no-answer")  # rings for ever, but answers OPTIONS: the link is up
    box = Box(tmp_path, central=central.uri)  # answer_timeout_s = 5
    try:
        result = place_call(box.uri, "2,0,+10,1,1", tmp_path / "heard.wav", hold=25, cwd=tmp_path)
    finally:
        assert box.stop() == 0, box.output
        central.stop()
    assert result["duration_s"] < 30, "the box should have hung up after taking the callback"
    heard_in_order(tmp_path / "heard.wav", [("transferring", "en"), ("outage_notice", "en"),
                                            ("callback_confirm", "en"), ("callback_taken", "en")])
    assert len(central.calls()) == 1
    [row] = sqlite3.connect(box.db).execute("SELECT outcome, hangup_cause, ivr_path FROM calls").fetchall()
    assert row[:2] == ("callback_requested", "box hung up")
    assert '"operator", "outage_menu"' in row[2]  # one path: the IVR, then survivable mode
    [cb] = sqlite3.connect(box.db).execute("SELECT number, during_outage FROM callbacks").fetchall()
    assert cb == ("1001", 1)
    assert "forward not answered in 5 s" in box.output


def test_a_queue_that_plays_early_media_but_never_answers_still_falls_back(tmp_path: Path) -> None:
    """Central rings with 183 and its queue music (early media) and never answers: the caller
    hears the music while waiting, and after answer_timeout_s the box still cancels the forward
    and takes the caller to the outage menu. (Early media used to count as an answer: the
    caller waited for ever.)"""
    central = Central(tmp_path, "--no-answer", "--early-media")
    box = Box(tmp_path, central=central.uri)  # answer_timeout_s = 5
    try:
        place_call(box.uri, "2,0", tmp_path / "heard.wav", hold=13, cwd=tmp_path)
    finally:
        assert box.stop() == 0, box.output
        central.stop()
    offsets = heard_in_order(tmp_path / "heard.wav", [("transferring", "en"), ("outage_notice", "en")])
    audio, rate = read_wav(tmp_path / "heard.wav")
    waiting = audio[int((offsets[0] + 3.0) * rate):int((offsets[1] - 0.5) * rate)]
    assert tone_power_after(waiting, rate, 0.0, Central.TONE_HZ) > 0.5, "the queue's early media not heard"
    assert "forward not answered in 5 s" in box.output and "at outage_menu (menu)" in box.output


def test_a_forward_redirected_by_central_reaches_the_agent_with_the_context(tmp_path: Path) -> None:
    """Central's queue answers the INVITE with 302 and an agent's own address (RFC 3261 8.1.3.4):
    the box follows it, and the agent gets the IVR context headers too."""
    (tmp_path / "agent").mkdir()
    agent = Central(tmp_path / "agent")
    queue = Central(tmp_path, "--redirect-to", agent.uri)
    box = Box(tmp_path, central=queue.uri)
    try:
        result = place_call(box.uri, "2,0", tmp_path / "heard.wav", hold=8, cwd=tmp_path)
    finally:
        assert box.stop() == 0, box.output
        queue.stop()
        agent.stop()
    assert result["answered"]
    assert len(queue.calls()) == 1
    [call] = agent.calls()
    headers = {k.lower(): v for k, v in call["headers"].items()}
    assert headers["x-edgepbx-path"] == "language,main,operator" and headers["x-edgepbx-lang"] == "en"
    audio, rate = read_wav(tmp_path / "heard.wav")
    assert tone_power_after(audio, rate, len(audio) / rate - 3.0, Central.TONE_HZ) > 0.5, "the agent not heard"
    [row] = sqlite3.connect(box.db).execute("SELECT outcome FROM calls").fetchall()
    assert row == ("forwarded",)


def test_a_caller_on_sip_over_tcp_is_answered_like_one_on_udp(tmp_path: Path) -> None:
    """RFC 3261 (18): every SIP element takes UDP and TCP; clients send large requests by TCP."""
    box = Box(tmp_path)
    try:
        result = place_call(box.uri + ";transport=tcp", "2,+3", tmp_path / "heard.wav", hold=2, cwd=tmp_path)
    finally:
        assert box.stop() == 0, box.output
    assert result["answered"] and result["code"] == 200
    heard_in_order(tmp_path / "heard.wav", [("ecom_language", "zh"), ("ecom_main", "en")])
    assert "ready: SIP udp+tcp" in box.output


@pytest.mark.parametrize("central_uri_transport", ["", ";transport=tcp"])
def test_forward_goes_by_the_transport_the_central_uri_names(tmp_path: Path, central_uri_transport: str) -> None:
    """A forward with the IVR context may be over 1300 bytes. It still goes by UDP unless
    central's URI says TCP: a central behind a firewall that drops TCP must not stall forwards."""
    central = Central(tmp_path)      # takes both: what arrives shows what the box chose
    box = Box(tmp_path, central=central.uri + central_uri_transport)
    caller = "8613812345678" * 16    # a long caller ID (X-EdgePBX-Caller) takes it past 1300 bytes
    try:
        result = place_call(box.uri, "2,0", tmp_path / "heard.wav", hold=6, cwd=tmp_path, from_user=caller)
    finally:
        assert box.stop() == 0, box.output
        central.stop()
    assert result["answered"]
    [call] = central.calls()
    assert call["headers"]["X-EdgePBX-Path"] == "language,main,operator"
    assert call["headers"]["X-EdgePBX-Caller"] == caller
    assert call["invite_bytes"] > 1300, call      # big enough that pjsip would switch by itself
    assert call["transport"] == ("TCP" if central_uri_transport else "UDP"), call
    assert call["media"] == ["audio"], call      # no T.140 text stream offered beside the voice


def test_keys_sent_as_sip_info_navigate_like_rfc4733(tmp_path: Path) -> None:
    """The three SIP INFO bodies phones and gateways send, one call each at once:
    application/dtmf-relay with the key; the same with the key's event code (`Signal=10` for *,
    which pjsua read as key 1); application/dtmf with the event code (which pjsua answered
    500 and dropped: here # = 11 ends the order number)."""
    box = Box(tmp_path)
    keys = {"relay": "2,1", "relay-code": "*", "dtmf": "2,1,1,2,3,4,5,6,#"}
    try:
        with ThreadPoolExecutor(len(keys)) as pool:
            results = dict(zip(keys, pool.map(
                lambda style: place_call(box.uri, keys[style], tmp_path / f"{style}.wav", sip_info=style, hold=3,
                                         cwd=tmp_path), keys)))
    finally:
        assert box.stop() == 0, box.output
    for style, result in results.items():
        assert result["answered"] and result["keys_sent"] == len(keys[style].split(",")), (style, result)
    heard_in_order(tmp_path / "relay.wav", [("ecom_language", "zh"), ("ecom_main", "en"), ("ecom_enter_order", "en")])
    heard_in_order(tmp_path / "dtmf.wav", [("ecom_main", "en"), ("ecom_enter_order", "en"), ("ecom_order_info", "en")])
    assert "now in visually_impaired mode (pressed * at the greeting)" in box.output
    assert box.output.count("key * (sip_info)") == 1 and box.output.count("key # (sip_info)") == 1
    assert box.output.count("key 2 (sip_info)") == 3 and box.output.count("key 1 (sip_info)") == 3


def test_a_caller_who_holds_the_box_is_asked_again_on_return_and_keys_still_work(tmp_path: Path) -> None:
    """A phone's hold button re-INVITEs with sendonly, then sendrecv: the stream gets a new
    bridge port. Held for 14 s (longer than the greeting and its timeout), the box must neither
    time out nor lose the caller's audio: on return the greeting starts again, in-band keys
    (which need the caller's audio) are heard, and the menu is in the language chosen."""
    box = Box(tmp_path)
    try:
        result = place_call(box.uri, "+15,2", tmp_path / "heard.wav", inband=True, on_hold=["2-16"], hold=6,
                            cwd=tmp_path)
    finally:
        assert box.stop() == 0, box.output
    assert result["answered"] and result["keys_sent"] == 1
    assert "on hold" in box.output and "back from hold" in box.output
    assert box.output.count("at language (language)") == 2, box.output
    assert "key 2 (inband)" in box.output
    heard_in_order(tmp_path / "heard.wav", [("ecom_language", "zh"), ("ecom_main", "en")])
    audio, rate = read_wav(tmp_path / "heard.wav")
    assert locate(audio, prompt_pcm("ecom_main", "zh"), rate)[1] < 0.5, "the greeting timed out during the hold"


def test_an_agents_hold_and_transfer_and_the_callers_hold_keep_the_conversation(tmp_path: Path) -> None:
    """Central's agent holds the caller (and resumes), then tries a blind transfer through the
    box (REFER), then the caller holds central (and resumes). Each re-INVITE gives a stream a
    new bridge port, and the box must connect the two legs again each time, or the
    conversation goes silent. The REFER is declined (603): pjsua would have placed the new call
    outside the box's legs, leaving the caller in silence (and crashing the box at shutdown)."""
    central = Central(tmp_path, "--on-hold", "2-5", "--transfer-to", "sip:specialist@127.0.0.1:9@7")
    box = Box(tmp_path, central=central.uri)
    try:
        result = place_call(box.uri, "2,+2,0", tmp_path / "heard.wav", on_hold=["18-21"], hold=5, cwd=tmp_path)
    finally:
        assert box.stop() == 0, box.output
        central.stop()
    assert result["answered"]
    assert "forwarding to" in box.output and "on hold" in box.output and "back from hold" in box.output
    assert "declined a transfer to sip:specialist@127.0.0.1:9" in box.output
    [call] = central.calls()
    audio, rate = read_wav(tmp_path / "heard.wav")
    assert tone_power_after(audio, rate, len(audio) / rate - 3.0, Central.TONE_HZ) > 0.5, \
        "central's audio not heard after the holds and the transfer"
    [row] = sqlite3.connect(box.db).execute("SELECT outcome FROM calls").fetchall()
    assert row == ("forwarded",)


def test_a_bad_config_stops_the_box_before_any_port_but_a_bad_flow_does_not(tmp_path: Path) -> None:
    """A config the box cannot run on is refused with the key; a bad flow file is something an
    operator repairs later: the box answers on the built-in template meanwhile, with an alarm."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[sip]\nmax_calls = 1000\n")
    done = subprocess.run([sys.executable, "-m", "edgepbx", "run", "--config", str(bad)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "[sip] max_calls: must be 1..64" in done.stderr
    flow = tmp_path / "flow.toml"
    flow.write_text('[flow]\nname = "x"\nstart = "main"\nfallback = "main"\n[nodes.main]\ntype = "menu"\n')
    box = Box(tmp_path, flow=str(flow), language="en")
    assert "main.prompt: required" in box.output and "running 'ecommerce' instead" in box.output, box.output
    assert box.stop() == 0


def _bare_config(path: Path, sip: str, api: str, store: Path, sip_extra: str = "") -> Path:
    """A box config with only its addresses, store and prompts (for start-up tests without Box)."""
    path.write_text(f'[sip]\nlisten = "{sip}"\n{sip_extra}[api]\nlisten = "{api}"\n'
                    f'[store]\npath = "{store}"\n[ivr]\nprompts = "{PROMPTS}"\n')
    return path


def test_a_second_box_on_taken_ports_says_which_and_exits(tmp_path: Path) -> None:
    """Two boxes on one address (a second `make run`, a stale process): the second one names
    the port in one line and exits 1, without a traceback or a hang."""
    first = Box(tmp_path)
    try:
        for section, taken in (("sip", f"127.0.0.1:{first.port}"), ("api", f"127.0.0.1:{first.api_port}")):
            other = {"sip": f"127.0.0.1:{free_sip_port()}", "api": f"127.0.0.1:{free_tcp_port()}"}
            other[section] = taken
            config = _bare_config(tmp_path / f"second-{section}.toml", other["sip"], other["api"], tmp_path / "second.db")
            done = subprocess.run([sys.executable, "-m", "edgepbx", "run", "--config", str(config)],
                                  capture_output=True, text=True, timeout=60, cwd=tmp_path)
            assert done.returncode == 1, done.stderr
            assert f"{taken}: Address already in use" in done.stderr and "Traceback" not in done.stderr, done.stderr
    finally:
        assert first.stop() == 0, first.output


def test_a_box_listening_on_every_interface_announces_a_reachable_address(tmp_path: Path) -> None:
    """`listen = "0.0.0.0:PORT"` (a box on a LAN) takes UDP and TCP on every interface and puts
    the default interface's address in Contact and SDP, never 0.0.0.0 (which SDP reads as
    hold, and which pjsip refuses for TCP: the box used to exit). No call: the announced
    address is not loopback."""
    from tests.e2e.support import Proc
    port = free_sip_port()
    config = _bare_config(tmp_path / "any.toml", f"0.0.0.0:{port}", f"127.0.0.1:{free_tcp_port()}", tmp_path / "box.db",
                          'trusted = ["127.0.0.0/8"]\n')
    box = Proc(["-m", "edgepbx", "run", "--config", str(config)], cwd=tmp_path)
    try:
        box.wait_for("ready:")
    finally:
        assert box.stop() == 0, box.output
    announced = box.output.split(f"SIP udp+tcp 0.0.0.0:{port} (announced as ", 1)[1].split(")", 1)[0]
    assert announced and announced != "0.0.0.0", box.output


def test_a_box_stopped_the_moment_it_says_ready_stops_cleanly(tmp_path: Path) -> None:
    """systemd (or a technician's script) may send SIGTERM as soon as the ready line is out. The
    box used to take SIGTERM over only after its console and front panel started, after that
    line, and died of the signal with the store open (exit -15 in about 3 tries of 4). The
    signal is sent the moment the line is read, three times over."""
    config = _bare_config(tmp_path / "box.toml", f"127.0.0.1:{free_sip_port()}", f"127.0.0.1:{free_tcp_port()}",
                          tmp_path / "box.db")
    for _ in range(3):
        box = subprocess.Popen([sys.executable, "-u", "-m", "edgepbx", "run", "--config", str(config)], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            lines = []
            for line in box.stdout:
                lines.append(line)
                if "ready:" in line:
                    box.send_signal(signal.SIGTERM)
                    break
            lines.extend(box.stdout)
            assert box.wait(timeout=30) == 0, "".join(lines)
            assert lines[-1].rstrip().endswith("stopped"), "".join(lines)
        finally:
            if box.poll() is None:
                box.kill()
                box.wait()


def _sip_request(port: int, method: str, uri: str, extra: str = "", sdp: str = "") -> str:
    """One request over UDP from a raw socket; the first final response's text ("" if none in
    3 s). With `sdp` (media lines), the body is an SDP offer from 127.0.0.1."""
    body = f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n{sdp}" if sdp else ""
    if body:
        extra += "Content-Type: application/sdp\r\n"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(3.0)
        here = sock.getsockname()[1]
        sock.sendto((f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{here};branch=z9hG4bK-{method}-{here}\r\n"
                     f"Max-Forwards: 70\r\nFrom: <sip:tech@127.0.0.1>;tag=t1\r\nTo: <sip:tech@127.0.0.1>\r\n"
                     f"Call-ID: {method}-{here}@127.0.0.1\r\nCSeq: 1 {method}\r\nContact: <sip:tech@127.0.0.1:{here}>\r\n"
                     f"{extra}Content-Length: {len(body)}\r\n\r\n{body}").encode(), ("127.0.0.1", port))
        try:
            while True:
                answer = sock.recv(8192).decode()
                if not answer.startswith("SIP/2.0 1"):
                    return answer
        except socket.timeout:
            return ""


def test_a_softphone_that_registers_first_is_told_at_once_and_presence_is_refused(tmp_path: Path) -> None:
    """Most softphones REGISTER before anything else. The box is not a registrar, and used to
    leave the REGISTER (and PUBLISH, and unknown methods) unanswered: the phone retried for
    32 s and showed a timeout. Now 405 with the methods it allows (RFC 3261 8.2.1), and the
    log says to call without registering. A presence SUBSCRIBE was accepted, with NOTIFYs sent
    to whatever Contact it gave; now 403."""
    box = Box(tmp_path)
    try:
        for method in ("REGISTER", "PUBLISH"):
            answer = _sip_request(box.port, method, f"sip:127.0.0.1:{box.port}", "Expires: 60\r\n")
            status = answer.split("\r\n", 1)[0]
            allow = [line for line in answer.split("\r\n") if line.startswith("Allow:")]
            assert status == "SIP/2.0 405 Method Not Allowed", answer
            assert allow and "INVITE" in allow[0] and "REGISTER" not in allow[0], answer
        answer = _sip_request(box.port, "SUBSCRIBE", f"sip:ivr@127.0.0.1:{box.port}", "Event: presence\r\nExpires: 60\r\n")
        assert answer.startswith("SIP/2.0 403 "), answer
        assert _sip_request(box.port, "OPTIONS", f"sip:ivr@127.0.0.1:{box.port}").startswith("SIP/2.0 200 OK")
    finally:
        assert box.stop() == 0, box.output
    assert "SIP REGISTER answered 405 (not a registrar: call the box without registering)" in box.output


def test_an_invite_the_stack_refuses_is_logged_with_the_caller_and_the_reason(tmp_path: Path) -> None:
    """pjsua refuses an INVITE it cannot take (a G.729-only gateway, an SRTP-only phone, an
    extension the caller requires, a short session timer) before the box hears of the call:
    the log used to say nothing, and the technician commissioning a gateway had no trace."""
    box = Box(tmp_path)
    pcmu = "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    try:
        uri = f"sip:ivr@127.0.0.1:{box.port}"
        g729 = _sip_request(box.port, "INVITE", uri, sdp="m=audio 40000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n")
        srtp = _sip_request(box.port, "INVITE", uri, sdp="m=audio 40000 RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
                            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n")
        extension = _sip_request(box.port, "INVITE", uri, "Require: foo\r\n", sdp=pcmu)
        timer = _sip_request(box.port, "INVITE", uri, "Supported: timer\r\nSession-Expires: 60\r\n", sdp=pcmu)
    finally:
        assert box.stop() == 0, box.output
    assert g729.startswith("SIP/2.0 488 ") and srtp.startswith("SIP/2.0 488 "), (g729, srtp)
    assert extension.startswith("SIP/2.0 420 ") and timer.startswith("SIP/2.0 422 "), (extension, timer)
    lines = [line.split("WARNING ", 1)[1] for line in box.output.splitlines() if "refused:" in line]
    no_audio = "no audio the box takes: G.711 (PCMU, PCMA) over RTP/AVP, no SRTP, no other codec"
    assert lines[0] == f"SIP INVITE from tech refused: 488 Not Acceptable Here ({no_audio}; No suitable codec for remote offer (PJMEDIA_SDPNEG_NOANSCODEC))"
    assert lines[1] == f"SIP INVITE from tech refused: 488 Not Acceptable Here ({no_audio})"
    assert lines[2] == "SIP INVITE from tech refused: 420 Bad Extension (the caller requires a SIP extension the box lacks; unsupported: foo)"
    assert lines[3].startswith("SIP INVITE from tech refused: 422 Session Interval Too Small (") and "Min-SE 90 s" in lines[3]
    assert len(lines) == 4, lines
    db = sqlite3.connect(box.db)
    causes = [cause for (cause,) in db.execute("SELECT hangup_cause FROM calls")]
    assert causes == ["not connected (422 Session Interval Too Small)"], causes   # pjsua told the box of this one


class _ChallengingCentral:
    """A central SBC that demands digest authentication (RFC 3261 22, RFC 2617 with qop=auth):
    OPTIONS are answered 200; an INVITE without valid Proxy-Authorization gets 407; one with
    it is checked against USER/PASSWORD and recorded, and if right answered 486 (so the box
    falls back)."""

    REALM, NONCE = "central.example", "5f1d0c3e"

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.uri = f"sip:queue@127.0.0.1:{self.sock.getsockname()[1]}"
        self.invites: list[dict[str, str]] = []      # the INVITEs' auth parameters ({} for none)
        self.valid: list[bool] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def _serve(self) -> None:
        seen: set[str] = set()
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            text = data.decode("utf-8", "replace")
            method = text.split(" ", 1)[0]
            headers = parse_sip_headers(text)
            if method == "OPTIONS":
                self._respond(text, peer, "200 OK")
            elif method == "INVITE" and headers.get("Via", "") not in seen:    # not a retransmission
                seen.add(headers.get("Via", ""))
                auth = headers.get("Proxy-Authorization", "")
                params = dict(re.findall(r'(\w+)="?([^",]*)"?', auth.removeprefix("Digest "))) if auth else {}
                self.invites.append(params)
                if params:
                    self.valid.append(self._digest_ok(params))
                if self.valid and self.valid[-1] and params:
                    self._respond(text, peer, "486 Busy Here")
                else:
                    self._respond(text, peer, "407 Proxy Authentication Required",
                                  f'Proxy-Authenticate: Digest realm="{self.REALM}", nonce="{self.NONCE}", '
                                  'algorithm=MD5, qop="auth"\r\n')

    def _digest_ok(self, p: dict[str, str]) -> bool:
        md5 = lambda text: hashlib.md5(text.encode()).hexdigest()     # noqa: E731 - RFC 2617's H()
        ha1 = md5(f"{self.user}:{self.REALM}:{self.password}")
        ha2 = md5(f"INVITE:{p.get('uri', '')}")
        expected = md5(f"{ha1}:{p.get('nonce')}:{p.get('nc')}:{p.get('cnonce')}:{p.get('qop')}:{ha2}")
        return p.get("username") == self.user and p.get("realm") == self.REALM and p.get("response") == expected

    def _respond(self, request: str, peer: tuple, status: str, extra: str = "") -> None:
        headers = parse_sip_headers(request)
        to = headers.get("To", "") + ("" if ";tag=" in headers.get("To", "") else ";tag=c1")
        self.sock.sendto((f"SIP/2.0 {status}\r\nVia: {headers.get('Via', '')}\r\nFrom: {headers.get('From', '')}\r\n"
                          f"To: {to}\r\nCall-ID: {headers.get('Call-ID', '')}\r\nCSeq: {headers.get('CSeq', '')}\r\n"
                          f"{extra}Content-Length: 0\r\n\r\n").encode(), peer)


@pytest.mark.parametrize("password", ["right", "wrong"])
def test_a_central_that_demands_digest_authentication_gets_the_configured_credentials(tmp_path: Path, password: str) -> None:
    """Central's SBC challenges the box's forward with 407. The box answers with `[sip]
    auth_user`/`auth_password` (before: no credentials could be set, so no forward to such a
    central ever connected). The password never appears in the log or the store; a refused
    password is named as the cause for the technician."""
    secret = "Br4nch-17-secret"
    central = _ChallengingCentral("branch-17", secret if password == "right" else "another-one")
    box = Box(tmp_path, central=central.uri, language="en",
              sip_extra=f'auth_user = "branch-17"\nauth_password = "{secret}"')
    try:
        place_call(box.uri, "2,0", tmp_path / "heard.wav", wait=2, hold=8, cwd=tmp_path)     # English, operator
    finally:
        assert box.stop() == 0, box.output
        central.stop()
    assert central.invites[0] == {} and central.invites[1]["username"] == "branch-17", central.invites
    assert central.valid[0] is (password == "right")
    heard_in_order(tmp_path / "heard.wav", [("transferring", "en"), ("outage_notice", "en")])
    if password == "right":
        assert "forward failed: 486 Busy Here" in box.output
    else:
        assert "the credentials of [sip] auth_user 'branch-17' were refused" in box.output
    assert secret not in box.output
    for f in box.db.parent.glob("box.db*"):
        assert secret.encode() not in f.read_bytes()


def test_the_directory_knows_a_caller_whichever_way_the_trunk_writes_the_number(tmp_path: Path) -> None:
    """Central enters 13800000001; the carrier's trunk presents +86-138-0000-0001 (E.164 with
    visual separators). The box still finds the entry: an elderly caller gets elderly mode."""
    import httpx
    box = Box(tmp_path)
    token = box.create_token("ops", "write")
    r = httpx.post(f"{box.api}/api/v1/directory", headers={"Authorization": f"Bearer {token}"},
                   json={"upsert": [{"number": "13800000001", "name": "王奶奶", "language": "zh", "flags": ["elderly"]}]})
    assert r.status_code == 200, r.text
    try:
        result = place_call(box.uri, "", tmp_path / "heard.wav", from_user="+86-138-0000-0001", hold=3, cwd=tmp_path)
    finally:
        assert box.stop() == 0, box.output
    assert result["answered"]
    assert "from +8613800000001 to ivr" in box.output and "in elderly mode (directory)" in box.output, box.output
    [row] = sqlite3.connect(box.db).execute("SELECT caller, mode FROM calls").fetchall()
    assert row == ("+8613800000001", "elderly")
