"""SMS: the PDU codec against the simulated modem's own (independent) codec, who may get a text,
and the SMS service against the simulated modem on a real pseudo-terminal with a real store."""
from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest

from edgepbx.config import load_config
from edgepbx.sms.pdu import Reassembler, decode_deliver, encode_submit
from edgepbx.sms.service import SmsService
from edgepbx.sms.texts import recipient, redacted
from edgepbx.store import Store
from tests.sim_modem import SimModem, decode_submit, deliver_pdus

CHINESE_LONG = "您好，" + "这是一条很长的中文短信，用来检查两段拼接是否正确。" * 3     # > 70 UCS2 units


@pytest.mark.parametrize("text", ["Your callback is booked.", "Price: 5€ [ok] {x} ~^|\\", "收到，客服将尽快以短信回复。",
                                  "x" * 160, "y" * 161, CHINESE_LONG, "emoji 😀 " * 12])
def test_submit_pdus_decode_to_the_text_by_an_independent_decoder(text: str) -> None:
    parts = encode_submit("+8613800000001", text, reference=7)
    decoded = [decode_submit(p.hex) for p in parts]
    assert all(d.to == "+8613800000001" for d in decoded)
    assert "".join(d.text for d in decoded) == text
    if len(parts) > 1:
        assert [d.concat for d in decoded] == [(7, len(parts), i) for i in range(1, len(parts) + 1)]
    for part in parts:                   # the AT+CMGS length is the TPDU without the SMSC octet
        assert part.length == len(part.hex) // 2 - 1
    if text.isascii() and text.isalnum():     # 160 GSM characters in one text, 70 UCS2
        assert len(parts) == (1 if len(text) <= 160 else 2)
    if text == CHINESE_LONG:
        assert len(parts) == 2


def test_deliver_pdus_and_a_two_part_ucs2_text_are_joined() -> None:
    one = decode_deliver(deliver_pdus("+8613912345678", "Hello box")[0])
    assert (one.sender, one.text, one.concat) == ("+8613912345678", "Hello box", None)
    parts = [decode_deliver(p) for p in deliver_pdus("13912345678", CHINESE_LONG, parts=2)]
    assert [p.concat[1:] for p in parts] == [(2, 1), (2, 2)]
    join = Reassembler()
    assert join.add(parts[1], 9, 0.0) is None                    # out of order: waits
    whole, tags = join.add(parts[0], 8, 1.0)
    assert whole.text == CHINESE_LONG and tags == [8, 9]


def test_texts_go_only_to_mobiles_of_the_box_country() -> None:
    assert recipient("13800000001", "86", "0", r"1[3-9]\d{9}") == ("+8613800000001", "")
    assert recipient("+86 138-0000-0001", "86", "0", r"1[3-9]\d{9}")[0] == "+8613800000001"
    assert recipient("01012345678", "86", "0", r"1[3-9]\d{9}")[0] is None        # a landline
    assert recipient("+447700900123", "86", "0", r"1[3-9]\d{9}")[0] is None      # another country
    assert recipient("106575000", "86", "0", r"1[3-9]\d{9}")[0] is None          # a short code
    assert recipient("Bank", "86", "0", r"1[3-9]\d{9}")[0] is None               # a sender name


def test_card_numbers_are_masked_for_logs() -> None:
    assert "6222021234567890" not in redacted("card 6222021234567890 lost")
    assert redacted("card 6222 0212 3456 7890").endswith("90")


# ---- the service against the simulated modem ---------------------------------------------------

@pytest.fixture
def modem() -> SimModem:
    sim = SimModem()
    yield sim
    sim.close()


def _config(tmp: Path, device: str, **sms) -> object:
    config = load_config(None)
    values = {"device": device, "command_timeout_s": 1.0, "retry_s": 0.2, **sms}
    return dataclasses.replace(config, sms=dataclasses.replace(config.sms, **values))


async def _until(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def run(coro) -> None:
    asyncio.run(coro)


def test_queued_texts_are_sent_retried_after_cms_errors_and_kept_across_restarts(tmp_path: Path, modem: SimModem) -> None:
    async def main() -> None:
        store = await Store.open(tmp_path / "box.db")
        service = SmsService(_config(tmp_path, modem.device), store, central_up=lambda: True)
        sms_id, why = await service.send("13800000001", "您的回电请求已登记。", "callback_booked")
        assert sms_id and not why
        assert (await service.send("01012345678", "x", "callback_booked"))[0] is None     # a landline: refused
        modem.fail_next = 2                                  # +CMS ERROR twice, then the network takes it
        worker = asyncio.create_task(service.run())
        await _until(lambda: _sent(modem, 1))
        await _until(lambda: _stored_as_sent(store))
        row = (await store.sms_outbox())[0]
        assert row["sent_at"] and row["attempts"] == 3 and row["last_error"] == "+CMS ERROR: 38"
        assert service.modem.state == "ready" and service.modem.signal_dbm == -71 and service.modem.registration == "home"
        worker.cancel()
        await store.close()
        store = await Store.open(tmp_path / "box.db")      # queued while the box was down: sent at start
        await store.queue_sms("+8613800000002", "later", "central")
        await store.close()
        store = await Store.open(tmp_path / "box.db")
        service = SmsService(_config(tmp_path, modem.device), store, central_up=lambda: True)
        worker = asyncio.create_task(service.run())
        await _until(lambda: _sent(modem, 2))
        assert modem.sent[1].to == "+8613800000002"
        worker.cancel()
        await store.close()
    run(main())


async def _stored_as_sent(store: Store) -> bool:
    return (await store.sms_out_counts())["queued"] == 0


async def _sent(modem: SimModem, count: int) -> bool:
    return len(modem.sent) >= count


def test_a_text_to_the_box_is_stored_acknowledged_and_deleted_from_the_sim(tmp_path: Path, modem: SimModem) -> None:
    async def main() -> None:
        store = await Store.open(tmp_path / "box.db")
        central = {"up": True}
        service = SmsService(_config(tmp_path, modem.device), store, central_up=lambda: central["up"])
        worker = asyncio.create_task(service.run())
        await _until(lambda: _ready(service))
        modem.deliver("+8613912345678", CHINESE_LONG, parts=2)      # a UCS2 two-part text
        await _until(lambda: _sent(modem, 1))
        [row] = await store.records("sms")
        assert row["text"] == CHINESE_LONG and row["sender"] == "+8613912345678" and not row["during_outage"]
        assert modem.sent[0].to == "+8613912345678" and modem.sent[0].text.startswith("收到")
        assert modem.storage == {}                                   # both parts off the SIM
        central["up"] = False                                        # an outage: the outage reply
        modem.deliver("13912345679", "Where is my order?")
        await _until(lambda: _sent(modem, 2))
        assert "cannot be reached" in modem.sent[1].text and "CALL" in modem.sent[1].text
        assert (await store.records("sms"))[1]["during_outage"] == 1
        worker.cancel()
        await store.close()
    run(main())


async def _ready(service: SmsService) -> bool:
    return service.modem.state == "ready"


def test_a_modem_that_stops_answering_or_vanishes_loses_no_text(tmp_path: Path, modem: SimModem) -> None:
    async def main() -> None:
        store = await Store.open(tmp_path / "box.db")
        service = SmsService(_config(tmp_path, modem.device), store, central_up=lambda: True)
        worker = asyncio.create_task(service.run())
        await _until(lambda: _ready(service))
        modem.silent = True
        await service.send("13800000003", "hello", "central")
        await _until(lambda: _state(service, "not_answering"))
        assert (await store.sms_out_counts())["queued"] == 1             # kept
        modem.silent = False                                             # it comes back: reopened, sent
        await _until(lambda: _sent(modem, 1), timeout=20)
        assert modem.sent[0].text == "hello"
        worker.cancel()
        await store.close()
        gone = SmsService(_config(tmp_path, str(tmp_path / "no-such-modem")), await Store.open(tmp_path / "b.db"),
                          central_up=lambda: True)
        worker = asyncio.create_task(gone.run())
        await _until(lambda: _state(gone, "absent"))
        assert "no-such-modem" in gone.modem.last_error
        worker.cancel()
        await gone.store.close()
    run(main())


async def _state(service: SmsService, state: str) -> bool:
    return service.modem.state == state


def test_automatic_texts_stop_at_the_daily_limit_per_number(tmp_path: Path) -> None:
    async def main() -> None:
        store = await Store.open(tmp_path / "box.db")
        service = SmsService(_config(tmp_path, "/dev/null", per_number_per_day=2), store, central_up=lambda: True)
        results = [await service.send("13800000001", "x", "callback_booked") for _ in range(3)]
        assert [r[0] is not None for r in results] == [True, True, False] and "per_number_per_day" in results[2][1]
        assert (await service.send("13800000001", "agent answer", "central"))[0] is not None   # central's own: no cap
        await store.close()
    run(main())
