"""SIP admission control's I/O-free core, driven by synthetic requests and a hand clock."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from edgepbx.config import ConfigError, parse_config
from edgepbx.sip.admission import Admission, Policy, parse_rate, parse_trusted
from edgepbx.sip.gate import request_facts
from edgepbx.sip.trust import central_hosts, policy

LAN = Policy(networks=(ipaddress.IPv4Network("192.168.1.0/24"),), central=frozenset({"10.0.0.5"}),
             invite_rate=2.0, invite_burst=4, calls_per_source=3, block_s=60.0)


def test_untrusted_sources_are_refused_403_or_dropped_and_counted() -> None:
    gate = Admission(LAN)
    verdict = gate.decide("203.0.113.9", "INVITE", False, 0.0)
    assert (verdict.admit, verdict.code, verdict.reason) == (False, 403, "untrusted")
    assert not gate.decide("203.0.113.9", "OPTIONS", False, 0.1).admit
    assert not gate.decide("203.0.113.9", "REGISTER", False, 0.2).admit
    dropping = Admission(Policy(networks=LAN.networks, untrusted="drop"))
    verdict = dropping.decide("203.0.113.9", "INVITE", False, 0.0)
    assert (verdict.admit, verdict.code) == (False, 0)
    assert gate.summary(1.0)["refused"] == {"untrusted": 3}
    assert gate.summary(1.0)["refused_by_source"] == {"203.0.113.9": 3}


def test_trusted_ranges_central_hosts_acks_and_in_dialog_requests_pass() -> None:
    gate = Admission(LAN)
    assert gate.decide("192.168.1.20", "INVITE", False, 0.0).admit
    assert gate.decide("10.0.0.5", "OPTIONS", False, 0.0).admit          # central
    assert gate.decide("203.0.113.9", "ACK", False, 0.0).admit           # never answered anyway
    assert gate.decide("203.0.113.9", "BYE", True, 0.0).admit            # the stack answers 481
    assert gate.decide("203.0.113.9", "CANCEL", False, 0.0).admit        # matches nothing: 481


def test_invite_rate_is_a_token_bucket_and_excess_gets_503_with_retry_after() -> None:
    gate = Admission(LAN)
    assert all(gate.decide("192.168.1.20", "INVITE", False, 0.0).admit for _ in range(4))   # the burst
    verdict = gate.decide("192.168.1.20", "INVITE", False, 0.0)
    assert (verdict.admit, verdict.code, verdict.reason, verdict.retry_after) == (False, 503, "rate", 1)
    assert gate.decide("192.168.1.20", "INVITE", False, 0.5).admit       # 2/s: a token back after 0.5 s
    assert gate.decide("192.168.1.21", "INVITE", False, 0.5).admit       # another source has its own


def test_a_source_that_keeps_flooding_is_blocked_then_let_back() -> None:
    gate = Admission(LAN)
    for _ in range(4):
        gate.decide("192.168.1.20", "INVITE", False, 0.0)
    refusals = [gate.decide("192.168.1.20", "INVITE", False, 0.01 * i) for i in range(3)]
    assert [v.reason for v in refusals] == ["rate", "rate", "rate"]
    verdict = gate.decide("192.168.1.20", "OPTIONS", False, 1.0)
    assert (verdict.reason, verdict.code) == ("blocked", 503) and 58 <= verdict.retry_after <= 60
    assert "192.168.1.20" in gate.blocked(1.0)
    assert gate.decide("192.168.1.20", "INVITE", False, 61.0).admit


def test_central_is_never_throttled() -> None:
    gate = Admission(LAN)
    assert all(gate.decide("10.0.0.5", "INVITE", False, 0.0).admit for _ in range(100))


def test_calls_per_source_caps_concurrent_legs() -> None:
    gate = Admission(LAN)
    for t in range(3):
        assert gate.decide("192.168.1.20", "INVITE", False, float(t)).admit
        gate.call_started("192.168.1.20", float(t))
        gate.call_confirmed("192.168.1.20")
    verdict = gate.decide("192.168.1.20", "INVITE", False, 3.0)
    assert (verdict.admit, verdict.reason) == (False, "calls")
    gate.call_ended("192.168.1.20", confirmed=True)
    assert gate.decide("192.168.1.20", "INVITE", False, 4.0).admit


def test_a_source_whose_calls_go_unconfirmed_gets_one_at_a_time_then_is_blocked() -> None:
    gate = Admission(Policy(networks=LAN.networks, invite_rate=100, invite_burst=100, calls_per_source=30))
    src = "192.168.1.66"
    for t in (0.0, 0.1):
        assert gate.decide(src, "INVITE", False, t).admit
        gate.call_started(src, t)
    gate.call_unconfirmed(src, 4.0)            # the first one never ACKed: hung up
    gate.call_confirmed(src)
    gate.call_ended(src, confirmed=True)
    verdict = gate.decide(src, "INVITE", False, 4.1)      # one still pending: no more for now
    assert (verdict.admit, verdict.reason) == (False, "unconfirmed")
    gate.call_confirmed(src)                   # the second one did confirm
    assert gate.decide(src, "INVITE", False, 4.2).admit
    gate.call_started(src, 4.2)
    gate.call_unconfirmed(src, 8.2)
    gate.call_unconfirmed(src, 8.3)            # three strikes within the window: blocked
    assert gate.decide(src, "INVITE", False, 9.0).reason == "blocked"


def test_source_state_is_bounded_under_a_spoofed_source_flood() -> None:
    gate = Admission(Policy(networks=(ipaddress.IPv4Network("0.0.0.0/0"),)))
    for i in range(Admission.MAX_SOURCES * 2):
        gate.decide(str(ipaddress.IPv4Address(0x0A000000 + i)), "INVITE", False, i * 0.001)
    assert len(gate._sources) <= Admission.MAX_SOURCES


def test_refusals_are_logged_once_per_source_per_minute() -> None:
    gate = Admission(LAN)
    assert gate.should_log("203.0.113.9", 0.0)
    assert not gate.should_log("203.0.113.9", 30.0)
    assert gate.should_log("203.0.113.10", 30.0)
    assert gate.should_log("203.0.113.9", 61.0)


def test_parse_rate_and_trusted_entries() -> None:
    assert parse_rate("10/s burst 30") == (10.0, 30)
    assert parse_rate("5/s") == (5.0, 10)
    for bad in ("fast", "10", "0/s", "10/s burst 0"):
        with pytest.raises(ValueError):
            parse_rate(bad)
    assert parse_trusted("10.1.2.3") == ipaddress.IPv4Network("10.1.2.3/32")
    assert parse_trusted("10.1.2.0/24") == ipaddress.IPv4Network("10.1.2.0/24")
    assert parse_trusted("sbc.example.net") == "sbc.example.net"
    for bad in ("10.1.2.300", "300.1.1.1/8", "not a host", ""):
        with pytest.raises(ValueError):
            parse_trusted(bad)


def _config(text: str):  # noqa: ANN202
    return parse_config(text, "test.toml", Path("/tmp"))


def test_a_box_listening_beyond_loopback_must_say_whom_it_trusts() -> None:
    with pytest.raises(ConfigError) as exc:
        _config('[sip]\nlisten = "0.0.0.0:5060"\n')
    assert "[sip] trusted" in str(exc.value) and '["0.0.0.0/0"]' in str(exc.value)
    assert _config('[sip]\nlisten = "0.0.0.0:5060"\ntrusted = ["192.168.1.0/24"]\n').sip.trusted == ("192.168.1.0/24",)
    for bad, key in (('trusted = ["10.0.0.300"]', "[sip] trusted"), ('trusted = "10.0.0.1"', "[sip] trusted"),
                     ('untrusted = "ignore"', "[sip] untrusted"), ('invite_rate = "lots"', "[sip] invite_rate")):
        with pytest.raises(ConfigError) as exc:
            _config(f"[sip]\n{bad}\n")
        assert key in str(exc.value)


def test_policy_from_config_trusts_loopback_by_default_and_central_hosts() -> None:
    config = _config('[central]\nuri = "sip:queue@10.0.0.5:5060;transport=tcp"\n'
                     'backup_uri = "sip:8001@pbx.example.net"\ncallback_uri = "sip:{number}@10.0.0.9"\n')
    assert central_hosts(config) == ("10.0.0.5", "pbx.example.net", "10.0.0.9")
    rules = policy(config, {"pbx.example.net": ("10.0.0.77",)})
    assert rules.trusts("127.0.0.2") and rules.trusts("10.0.0.5") and rules.trusts("10.0.0.77")
    assert not rules.trusts("10.0.0.6")
    assert rules.central == frozenset({"10.0.0.5", "10.0.0.9", "10.0.0.77"})
    open_box = policy(_config('[sip]\nlisten = "0.0.0.0:5060"\ntrusted = ["192.168.1.0/24"]\n'))
    assert open_box.trusts("192.168.1.9") and not open_box.trusts("10.1.1.1")
    assert open_box.trusts("127.0.0.1") and not open_box.trusts("127.0.0.2")   # the box itself, no one else


def test_request_facts_reads_method_dialog_and_what_rfc_3261_and_4475_refuse() -> None:
    invite = (b"INVITE sip:1@b SIP/2.0\r\nVia: SIP/2.0/UDP a\r\nTo: <sip:1@b>\r\nFrom: <sip:2@a>;tag=x\r\n"
              b"Call-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 4\r\n\r\nv=0\n")
    facts = request_facts(invite)
    assert (facts.method, facts.in_dialog, facts.call_id, facts.problem) == ("INVITE", False, "c1", None)
    assert request_facts(invite.replace(b"To: <sip:1@b>", b"t: <sip:1@b>;tag=abc")).in_dialog is True
    too_long = request_facts(invite.replace(b"Content-Length: 4", b"Content-Length: 9999"))
    assert too_long.problem and too_long.udp_only and too_long.code == 400
    assert request_facts(invite.replace(b"Content-Length: 4", b"l: -3")).problem
    assert request_facts(invite.replace(b"Content-Length: 4", b"Content-Length: 2")).problem is None
    for change, code in (((b"SIP/2.0\r\nVia", b"SIP/7.0\r\nVia"), 505),            # RFC 4475 3.1.2.16
                         ((b"CSeq: 1 INVITE", b"CSeq: 1 OPTIONS"), 400),              # 3.1.2.17
                         ((b"CSeq: 1 INVITE", b"CSeq: 36893488147419103232 INVITE"), 400),   # 3.1.2.9
                         ((b"Max-Forwards: 70", b"Max-Forwards: 300"), 400)):
        facts = request_facts(invite.replace(*change))
        assert facts.problem and facts.code == code and not facts.udp_only, change


def test_tcp_connections_are_counted_per_source_and_central_is_exempt() -> None:
    from edgepbx.sip.tcp_guard import TcpCount
    count = TcpCount(limit=2)
    assert count.connected(1, "10.0.0.9") and count.connected(2, "10.0.0.9")
    assert not count.connected(3, "10.0.0.9") and count.refused == 1
    assert count.connected(4, "10.0.0.5", exempt=True)
    count.gone(1)
    assert count.connected(5, "10.0.0.9")
    count.gone(3)                       # one never counted: nothing changes
    assert count.count["10.0.0.9"] == 2
