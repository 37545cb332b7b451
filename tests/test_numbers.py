"""Telephone numbers in the forms phones, gateways and carriers write them."""
from __future__ import annotations

import pytest

from edgepbx.numbers import clean, forms, national
from edgepbx.sip.headers import caller_number


@pytest.mark.parametrize("written", ["13800000001", "+8613800000001", "008613800000001", "+86 138-0000-0001",
                                     "0086 (138) 0000.0001", "013800000001"])
def test_every_form_of_a_number_of_this_country_gives_the_same_subscriber(written: str) -> None:
    assert national(written, "86", "0") == "13800000001"
    assert "13800000001" in forms(written, "86", "0")


def test_forms_start_with_the_number_as_given_and_cover_the_usual_writings() -> None:
    assert forms("+86-10-1234-5678", "86", "0") == [
        "+86-10-1234-5678", "+861012345678", "1012345678", "01012345678", "00861012345678"]


def test_a_number_of_another_country_or_a_name_is_only_itself() -> None:
    assert national("+4420 7946 0000", "86", "0") is None
    assert forms("+44 20 7946 0000", "86", "0") == ["+44 20 7946 0000", "+442079460000"]
    assert forms("alice", "86", "0") == ["alice"]
    assert forms("1001", "", "") == ["1001"]
    assert clean("(010) 1234-5678") == "01012345678"


@pytest.mark.parametrize("uri, number", [
    ('"Ann" <sip:1001@10.0.0.1>', "1001"),
    ("sip:+86-138-0000-0001;isub=12@gw.example;user=phone", "+8613800000001"),
    ("<tel:+86-138-0000-0001;phone-context=+86>", "+8613800000001"),
    ("sip:%2B8613800000001@gw", "+8613800000001"),
    ("sip:anonymous@anonymous.invalid", "anonymous"),
    ("sip:alice.smith@example.com", "alice.smith"),
    ("sip:example.com", ""),
    ("", ""),
])
def test_the_caller_number_is_read_from_sip_and_tel_uris(uri: str, number: str) -> None:
    assert caller_number(uri) == number
