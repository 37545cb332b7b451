"""Which numbers the box's own dialer calls back: a caller chooses the number (or spoofs
the caller ID), so a premium-rate line abroad must not be rung, at each retry, by the box."""
from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from edgepbx.central.dialer import CallbackDialer
from edgepbx.numbers import callback_refusal
from edgepbx.store import Store


@pytest.mark.parametrize("number, why", [
    ("13800000001", None),
    ("+86 138-0000-0001", None),
    ("008613800000001", None),
    ("01087654321", None),                      # a Beijing landline with the trunk prefix
    ("+88213012345", "another country's number"),  # a satellite premium range
    ("0088213012345", "another country's number"),
    ("+1 900 555 0100", "another country's number"),
    ("anonymous", "not a telephone number"),
    ("12", "not a telephone number"),
])
def test_only_numbers_of_the_box_country_are_called_back(number: str, why: str | None) -> None:
    got = callback_refusal(number, "86", "0", international=False)
    assert (got is None) if why is None else got.startswith(why), got
    assert (callback_refusal(number, "86", "0", international=True) is None) == (why != "not a telephone number")


def test_the_dialer_leaves_a_number_abroad_to_central_and_says_why(tmp_path: Path) -> None:
    placed: list[str] = []

    async def place_call(uid: str, uri: str, context, files) -> str:  # noqa: ANN001
        placed.append(uri)
        return "forwarded"

    async def scenario() -> list:
        store = await Store.open(tmp_path / "box.db")
        try:
            for uid, number in (("c-1", "+88213012345"), ("c-2", "13800000001")):
                await store.add_callback(uid, number, time.time(), "en", ("outage_menu",), {}, during_outage=True)
            dialer = CallbackDialer(store, "sip:{number}@gw", 3, 0.0, place_call,
                                    refusal=lambda n: callback_refusal(n, "86", "0", international=False))
            await dialer.set_enabled(True)
            for _ in range(3):                  # retries never pick the refused one up again
                await dialer.run_once()
            return await store.callbacks_to_dial(3, 0.0, time.time() + 1000)
        finally:
            await store.close()

    left = asyncio.run(scenario())
    assert placed == ["sip:13800000001@gw"] and left == []
    rows = sqlite3.connect(tmp_path / "box.db").execute("SELECT number, dial_result, dial_attempts FROM callbacks").fetchall()
    assert rows == [("+88213012345", "not dialled: another country's number ([central] callback_international is off)", 0),
                    ("13800000001", "connected", 1)]
