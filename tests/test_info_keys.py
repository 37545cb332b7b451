"""Keys in SIP INFO bodies, as phones and gateways write them."""
from __future__ import annotations

import pytest

from edgepbx.sip.info_keys import NotAKey, info_key


@pytest.mark.parametrize("content_type, body, key", [
    ("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", "5"),
    ("application/dtmf-relay", "Signal= *\r\nDuration= 250\r\n", "*"),     # Cisco's spaces
    ("Application/DTMF-Relay; charset=us-ascii", "signal=#\n", "#"),       # case, LF lines
    ("application/dtmf-relay", "Signal=10\r\nDuration=160\r\n", "*"),      # event codes
    ("application/dtmf-relay", "Signal=11\r\n", "#"),
    ("application/dtmf-relay", "Signal=12\r\n", "A"),
    ("application/dtmf-relay", "Signal=d\r\n", "D"),
    ("application/dtmf", "7", "7"),
    ("application/dtmf", "10\r\n", "*"),
    ("application/dtmf", "11", "#"),
    ("application/dtmf", "16", ""),                                        # hook flash: no key
    ("application/dtmf-relay", "Signal=!\r\n", ""),
])
def test_a_key_is_read_from_either_body_by_character_or_event_code(content_type: str, body: str, key: str) -> None:
    assert info_key(content_type, body) == key


@pytest.mark.parametrize("content_type, body", [
    ("application/dtmf-relay", "Duration=160\r\n"),
    ("application/dtmf-relay", "Signal=\r\n"),
    ("application/dtmf-relay", "Signal=17\r\n"),
    ("application/dtmf-relay", "Signal=123456\r\n"),
    ("application/dtmf", ""),
    ("application/dtmf", "E"),
])
def test_a_dtmf_body_naming_no_key_is_refused_without_repeating_it(content_type: str, body: str) -> None:
    with pytest.raises(NotAKey) as refused:
        info_key(content_type, body)
    assert "123456" not in str(refused.value)


def test_other_info_packages_are_not_keys() -> None:
    assert info_key("application/media_control+xml", "<media_control/>") is None
    assert info_key("application/broadsoft", "event flashhook") is None
    assert info_key("", "") is None
