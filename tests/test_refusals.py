"""The log line for an INVITE the SIP stack refuses, and how many such lines are kept."""
from __future__ import annotations

from edgepbx.sip.log_budget import LogBudget
from edgepbx.sip.refusals import refusal_line


def test_the_line_names_the_caller_the_status_and_every_reason_given() -> None:
    response = ("SIP/2.0 488 Not Acceptable Here\r\nVia: SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK1\r\n"
                'From: "Gateway" <sip:+86-138-0000-0001@10.0.0.7>;tag=a\r\nTo: <sip:ivr@box>;tag=b\r\n'
                "Call-ID: x@10.0.0.7\r\nCSeq: 1 INVITE\r\n"
                'Warning: 399 box "No suitable codec for remote offer"\r\nContent-Length: 0\r\n\r\n')
    assert refusal_line(488, response) == (
        "SIP INVITE from +8613800000001 refused: 488 Not Acceptable Here (no audio the box takes: G.711 "
        "(PCMU, PCMA) over RTP/AVP, no SRTP, no other codec; No suitable codec for remote offer)")
    extension = "SIP/2.0 420 Bad Extension\r\nFrom: <sip:anonymous@anonymous.invalid>\r\nUnsupported: foo, bar\r\n\r\n"
    assert refusal_line(420, extension) == ("SIP INVITE from anonymous refused: 420 Bad Extension "
                                            "(the caller requires a SIP extension the box lacks; unsupported: foo, bar)")
    assert refusal_line(483, "SIP/2.0 483 Too Many Hops\r\n\r\n") == "SIP INVITE from anonymous refused: 483 Too Many Hops"


def test_a_scanner_flood_is_cut_to_a_few_lines_a_minute_and_the_rest_counted() -> None:
    budget = LogBudget(limit=3, window_s=60.0)
    taken = [budget.take(t * 0.1) for t in range(10)]          # ten refusals within a second
    assert taken == [0, 0, 0, None, None, None, None, None, None, None]
    assert budget.take(61.0) == 7                              # the next minute says what was left out
    assert budget.take(62.0) == 0
