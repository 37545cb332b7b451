"""The X- context headers: golden wire format and a round trip."""
from __future__ import annotations

from edgepbx.ivr.events import ForwardContext
from edgepbx.sip.headers import caller_number, context_headers, parse_context_headers, parse_sip_headers

CTX = ForwardContext(path=("language", "main", "order_number", "operator"), language="en",
                     data={"order_number": "123456", "note": "a;b=c 中"}, secret_fields=("pin",),
                     mode="normal", queue="general")


def test_golden_headers() -> None:
    assert context_headers(CTX, box="branch-7", call_uid="ab12cd-3", caller="1001") == [
        ("X-EdgePBX-Box", "branch-7"),
        ("X-EdgePBX-Call", "ab12cd-3"),
        ("X-EdgePBX-Caller", "1001"),
        ("X-EdgePBX-Lang", "en"),
        ("X-EdgePBX-Mode", "normal"),
        ("X-EdgePBX-Path", "language,main,order_number,operator"),
        ("X-EdgePBX-Queue", "general"),
        ("X-EdgePBX-Data", "note=a%3Bb%3Dc%20%E4%B8%AD;order_number=123456"),
        ("X-EdgePBX-Secret-Fields", "pin"),
    ]


def test_round_trip_and_case_insensitive() -> None:
    headers = {k.lower(): v for k, v in context_headers(CTX, box="b", call_uid="u", caller="1001")}
    parsed = parse_context_headers(headers)
    assert parsed["data"] == dict(CTX.data) and parsed["path"] == list(CTX.path)
    assert parsed["secret_fields"] == ["pin"] and parsed["queue"] == "general"


def test_parse_sip_message_and_caller_number() -> None:
    msg = "INVITE sip:ivr@h SIP/2.0\r\nFrom: \"Ann\" <sip:1001@10.0.0.1>;tag=1\r\nX-A: one\r\n two\r\n\r\nv=0"
    assert parse_sip_headers(msg) == {"From": "\"Ann\" <sip:1001@10.0.0.1>;tag=1", "X-A": "one two"}
    assert caller_number("\"Ann\" <sip:1001@10.0.0.1>") == "1001"
    assert caller_number("sip:host") == ""
