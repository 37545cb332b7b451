"""The box calls people back only within its daily hours (central may return at 2 a.m.)."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from edgepbx.central.dialer import CallbackDialer
from edgepbx.central.hours import parse_window, within
from edgepbx.store import Store


def at(hour: int, minute: int = 0) -> time.struct_time:
    return time.struct_time((2026, 11, 26, hour, minute, 0, 3, 330, 0))


def test_a_day_window_and_one_past_midnight() -> None:
    day = parse_window("09:00-20:00")
    assert day == (540, 1200)
    assert [within(day, at(h, m)) for h, m in ((8, 59), (9, 0), (19, 59), (20, 0), (2, 0))] == [
        False, True, True, False, False]
    night = parse_window("18:00-02:00")
    assert [within(night, at(h)) for h in (17, 18, 23, 0, 1, 2, 12)] == [False, True, True, True, True, False, False]
    assert all(within(parse_window("00:00-24:00"), at(h, 59)) for h in range(24))


@pytest.mark.parametrize("text", ["9-20", "09:00", "09:00-25:00", "09:60-20:00", "09:00-09:00", "nine-ten", ""])
def test_a_bad_window_says_what_is_wrong(text: str) -> None:
    with pytest.raises(ValueError, match="window|time of day"):
        parse_window(text)


def test_the_dialer_waits_for_its_hours(tmp_path: Path) -> None:
    placed: list[str] = []

    async def place_call(uid: str, uri: str, context, files) -> str:  # noqa: ANN001
        placed.append(uri)
        return "forwarded"

    async def scenario() -> tuple[int, int, list]:
        store = await Store.open(tmp_path / "box.db")
        try:
            await store.add_callback("c-1", "13800000001", time.time(), "en", ("outage_menu",), {}, during_outage=True)
            now = [at(2, 0)]
            dialer = CallbackDialer(store, "sip:{number}@gw", 3, 300.0, place_call, "09:00-20:00", lambda: now[0])
            await dialer.set_enabled(True)
            at_night = await dialer.run_once()
            now[0] = at(9, 1)
            in_the_morning = await dialer.run_once()
            return at_night, in_the_morning, await store.callbacks_to_dial(3, 300.0, time.time() + 1000)
        finally:
            await store.close()

    at_night, in_the_morning, left = asyncio.run(scenario())
    assert (at_night, in_the_morning) == (0, 1)
    assert placed == ["sip:13800000001@gw"] and left == []
