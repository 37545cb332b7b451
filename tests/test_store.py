"""The store on real SQLite files: migrations, WAL, records survive a reopen."""
from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from edgepbx.store import CallRecord, Store
from edgepbx.store.migrations import MIGRATIONS


def record(uid: str) -> CallRecord:
    return CallRecord(call_uid=uid, caller="1001", called="ivr", started_at=1.0, answered_at=1.1,
                      ended_at=9.0, language="zh", ivr_path=("language", "main"),
                      digits={"order_number": "123456", "pin": "***"}, outcome="completed",
                      forward_target=None, hangup_cause="caller hung up")


def test_records_are_committed_and_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "var" / "box.db"

    async def scenario() -> list[dict]:
        store = await Store.open(path)
        assert await store.schema_version() == len(MIGRATIONS)
        await store.add_call(record("a-1"))
        await store.add_callback("a-1", "1001", 2.0, "zh", ("main", "collection"), {"queue": None})
        # another connection sees the row before close: it was committed
        rows = sqlite3.connect(path).execute("SELECT caller, outcome FROM calls").fetchall()
        assert rows == [("1001", "completed")]
        await store.close()
        store = await Store.open(path)
        calls = await store.calls()
        callbacks = await store.callbacks()
        await store.close()
        assert callbacks[0]["ivr_path"] == ["main", "collection"]
        return calls

    calls = asyncio.run(scenario())
    assert calls[0]["digits"] == {"order_number": "123456", "pin": "***"}
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_refuses_a_database_from_newer_firmware(tmp_path: Path) -> None:
    path = tmp_path / "box.db"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError, match="newer than this firmware"):
        asyncio.run(Store.open(path))


def test_cursor_pagination(tmp_path: Path) -> None:
    async def scenario() -> tuple[list, list]:
        store = await Store.open(tmp_path / "box.db")
        for i in range(5):
            await store.add_call(record(f"u-{i}"))
        first = await store.calls(after=0, limit=3)
        rest = await store.calls(after=first[-1]["id"], limit=3)
        await store.close()
        return first, rest
    first, rest = asyncio.run(scenario())
    assert [r["call_uid"] for r in first + rest] == [f"u-{i}" for i in range(5)]


def test_retention_deletes_only_collected_records_oldest_first(tmp_path: Path) -> None:
    from edgepbx import retention

    async def scenario() -> tuple[int, list[str], int]:
        store = await Store.open(tmp_path / "box.db")
        try:
            for i in range(10):
                await store.add_call(record(f"c-{i}"))
            await store.acknowledge("calls", through=5)
            free = iter([0, 0, 10**12])  # short of space twice, then fine
            deleted = await retention.free_space(store, 1000, free=lambda _: next(free))
            left = [r["call_uid"] for r in await store.calls(limit=100)]
            counts = await store.record_counts("calls")
            return deleted, left, counts["uncollected"]
        finally:
            await store.close()

    deleted, left, uncollected = asyncio.run(scenario())
    assert deleted == 5 and left == [f"c-{i}" for i in range(5, 10)] and uncollected == 5


def test_directory_changes_are_versioned_and_atomic(tmp_path: Path) -> None:
    from edgepbx.store import DirectoryEntry

    async def scenario() -> None:
        store = await Store.open(tmp_path / "box.db")
        try:
            v1 = await store.update_directory([DirectoryEntry("1001", "A", "zh", ("elderly",))], [])
            with pytest.raises(sqlite3.IntegrityError):  # one bad row: nothing of the change applies
                await store.update_directory([DirectoryEntry("1002", "B"), DirectoryEntry(None, "C")], ["1001"])  # type: ignore[arg-type]
            assert await store.directory_version() == v1 == 1
            assert (await store.lookup(["1001"])) == DirectoryEntry("1001", "A", "zh", ("elderly",))
            assert await store.lookup(["1002"]) is None
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_directory_lookup_takes_every_form_of_the_number_and_prefers_the_first(tmp_path: Path) -> None:
    from edgepbx.numbers import forms
    from edgepbx.store import DirectoryEntry

    async def scenario() -> None:
        store = await Store.open(tmp_path / "box.db")
        try:
            await store.update_directory([DirectoryEntry("13800000001", "national"),
                                          DirectoryEntry("+8613900000002", "e164")], [])
            found = await store.lookup(forms("+86 138 0000 0001", "86", "0"))
            assert found is not None and found.name == "national"
            found = await store.lookup(forms("13900000002", "86", "0"))
            assert found is not None and found.name == "e164"
            assert await store.lookup(forms("+4413800000001", "86", "0")) is None
            await store.update_directory([DirectoryEntry("+8613800000001", "exact")], [])
            found = await store.lookup(forms("+8613800000001", "86", "0"))
            assert found is not None and found.name == "exact"     # the form as received wins
            found = await store.lookup(forms("13800000001", "86", "0"))
            assert found is not None and found.name == "national"
        finally:
            await store.close()

    asyncio.run(scenario())
