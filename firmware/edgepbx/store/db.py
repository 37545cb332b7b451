"""The store: aiosqlite in WAL mode with synchronous=FULL, so a committed record survives a
power cut; every write method returns only after its COMMIT."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from edgepbx.store.migrations import MIGRATIONS


@dataclass(frozen=True)
class CallRecord:
    call_uid: str
    caller: str
    called: str
    started_at: float
    answered_at: float | None
    ended_at: float
    language: str
    ivr_path: tuple[str, ...]
    digits: dict[str, str]   # secret values already masked by the engine
    outcome: str
    forward_target: str | None
    hangup_cause: str


class Store:
    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> "Store":
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            db.row_factory = aiosqlite.Row
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=FULL")
            await db.execute("PRAGMA foreign_keys=ON")
            store = cls(db, path)
            await store._migrate()
        except BaseException:
            await db.close()  # its worker thread would otherwise keep the process alive
            raise
        return store

    async def close(self) -> None:
        await self._db.close()

    async def schema_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0])

    async def _migrate(self) -> None:
        current = await self.schema_version()
        if current > len(MIGRATIONS):
            raise RuntimeError(f"{self.path}: schema version {current} is newer than this firmware "
                               f"knows ({len(MIGRATIONS)}); refusing to touch it")
        for version in range(current + 1, len(MIGRATIONS) + 1):
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(MIGRATIONS[version - 1]):
                    await self._db.execute(statement)
                await self._db.execute(f"PRAGMA user_version = {version}")
                await self._db.execute("COMMIT")
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise

    async def add_call(self, record: CallRecord) -> int:
        """Insert one call-detail record; returns its id once committed."""
        cur = await self._db.execute(
            "INSERT INTO calls (call_uid, caller, called, started_at, answered_at, ended_at, language,"
            " ivr_path, digits, outcome, forward_target, hangup_cause)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.call_uid, record.caller, record.called, record.started_at, record.answered_at,
             record.ended_at, record.language, json.dumps(list(record.ivr_path)),
             json.dumps(record.digits, ensure_ascii=False), record.outcome, record.forward_target,
             record.hangup_cause))
        return int(cur.lastrowid)

    async def add_callback(self, call_uid: str, number: str, requested_at: float, language: str,
                           ivr_path: tuple[str, ...], context: dict[str, Any]) -> int:
        cur = await self._db.execute(
            "INSERT INTO callbacks (call_uid, number, requested_at, language, ivr_path, context)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (call_uid, number, requested_at, language, json.dumps(list(ivr_path)),
             json.dumps(context, ensure_ascii=False)))
        return int(cur.lastrowid)

    async def calls(self, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        async with self._db.execute("SELECT * FROM calls WHERE id > ? ORDER BY id LIMIT ?", (after, limit)) as cur:
            rows = await cur.fetchall()
        return [_decode(dict(row)) for row in rows]

    async def callbacks(self, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        async with self._db.execute("SELECT * FROM callbacks WHERE id > ? ORDER BY id LIMIT ?", (after, limit)) as cur:
            rows = await cur.fetchall()
        return [_decode(dict(row)) for row in rows]


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("ivr_path", "digits", "context"):
        if key in row:
            row[key] = json.loads(row[key])
    return row


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip() and not s.strip().startswith("--")]
