"""Caller ID receiver: both FSK standards and formats, DTMF caller ID, damage never guessed."""
from __future__ import annotations

import numpy as np
import pytest

from edgepbx.dsp.callerid import CallerId, CallerIdReceiver, decode, parse_message
from tests.callerid_signals import Fsk, dtmf_callerid, mdmf, on_line, sdmf


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(659)


@pytest.mark.parametrize("standard", ["v23", "bell202"])
def test_mdmf_number_name_and_time(standard: str, rng: np.random.Generator) -> None:
    x = on_line(Fsk(standard).signal(mdmf("13812345678", "ZHANG SAN", when="02291405")), 30, rng)
    assert decode(x) == CallerId("13812345678", "ZHANG SAN", "02-29 14:05", standard=standard)


@pytest.mark.parametrize("standard", ["v23", "bell202"])
def test_sdmf_number_and_withheld(standard: str, rng: np.random.Generator) -> None:
    assert decode(on_line(Fsk(standard).signal(sdmf("5550123")), 30, rng)).number == "5550123"
    withheld = decode(on_line(Fsk(standard).signal(sdmf("P")), 30, rng))
    assert withheld.number is None and withheld.reason == "private"


def test_reason_for_absent_number_and_name(rng: np.random.Generator) -> None:
    cid = decode(on_line(Fsk().signal(mdmf(None, reason="O", name_reason="P")), 30, rng))
    assert (cid.number, cid.reason, cid.name_reason) == (None, "unavailable", "private")


def test_bad_checksum_is_no_caller_id(rng: np.random.Generator) -> None:
    message = bytearray(mdmf("5550123"))
    message[-1] ^= 0x01
    assert parse_message(bytes(message)) is None
    assert decode(on_line(Fsk().signal(bytes(message)), 30, rng)) is None


def test_one_flipped_bit_on_the_line_is_never_a_wrong_number(rng: np.random.Generator) -> None:
    fsk = Fsk()
    message = mdmf("5550123")
    bits = fsk.bits(message)
    first_data = fsk.seizure_bits + fsk.mark_bits
    for flip in range(first_data + 25, first_data + 25 + 40, 3):   # inside the number's bytes
        damaged = list(bits)
        damaged[flip] ^= 1
        fsk_bits = fsk.bits
        fsk.bits = lambda _m, d=damaged: d  # type: ignore[method-assign]
        got = decode(on_line(fsk.signal(message), None, rng))
        fsk.bits = fsk_bits  # type: ignore[method-assign]
        assert got is None or got.number == "5550123"


@pytest.mark.parametrize("level,twist,error", [(0.0, 0.0, 0.0), (-45.0, 0.0, 0.0), (-20.0, 6.0, 0.0),
                                               (-20.0, -6.0, 0.0), (-20.0, 0.0, 0.015), (-20.0, 0.0, -0.015)])
def test_levels_twist_and_frequency_error(level: float, twist: float, error: float, rng: np.random.Generator) -> None:
    fsk = Fsk(level_dbm0=level, twist_db=twist, freq_error=error, baud_error=error / 2)
    assert decode(on_line(fsk.signal(mdmf("02161234567")), 25, rng)).number == "02161234567"


def test_dtmf_caller_id(rng: np.random.Generator) -> None:
    assert decode(on_line(dtmf_callerid("A02161234567C"), 30, rng)) == CallerId("02161234567", standard="dtmf")
    assert decode(on_line(dtmf_callerid("B10C"), 30, rng)).reason == "private"


def test_silence_and_noise_give_nothing(rng: np.random.Generator) -> None:
    assert decode(np.zeros(16000, dtype=np.int16)) is None
    assert decode(on_line(np.zeros(24000), 0, rng, noise_ref_dbm0=-20)) is None


def test_streaming_reports_each_message_once_in_any_frame_size(rng: np.random.Generator) -> None:
    first = on_line(Fsk("bell202").signal(mdmf("5550001", "ALICE")), 30, rng, lead_s=1.0)
    second = on_line(Fsk("v23").signal(sdmf("5550002")), 30, rng, lead_s=1.5)
    x = np.concatenate([first, second])
    for frame in (80, 160, 1000):
        receiver = CallerIdReceiver()
        got = [c for i in range(0, len(x), frame) for c in receiver.feed(x[i:i + frame])]
        assert [c.number for c in got] == ["5550001", "5550002"], frame
        assert got[0].name == "ALICE"


def test_rejects_other_rates_and_odd_bytes() -> None:
    with pytest.raises(ValueError):
        decode(np.zeros(100, dtype=np.int16), rate=11025)
    with pytest.raises(ValueError):
        CallerIdReceiver().feed(b"\x00\x01\x02")
