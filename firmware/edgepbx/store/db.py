"""The store: aiosqlite in WAL mode with synchronous=FULL, so a committed record survives a
power cut; every write method returns only after its COMMIT.

One connection, one lock: a statement issued while another coroutine's transaction is open
would join that transaction (and vanish with its rollback), so every access takes the lock.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Iterable

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
    mode: str = "normal"            # normal, elderly, visually_impaired (as the call ended)
    csat: int | None = None         # 1-5, when the caller scored the call


async def _insert_call(db: aiosqlite.Connection, record: CallRecord) -> int:
    cur = await db.execute(
        "INSERT INTO calls (call_uid, caller, called, started_at, answered_at, ended_at, language,"
        " ivr_path, digits, outcome, forward_target, hangup_cause, mode, csat)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (record.call_uid, record.caller, record.called, record.started_at, record.answered_at,
         record.ended_at, record.language, json.dumps(list(record.ivr_path)),
         json.dumps(record.digits, ensure_ascii=False), record.outcome, record.forward_target,
         record.hangup_cause, record.mode, record.csat))
    row = int(cur.lastrowid)
    await db.execute("DELETE FROM calls_open WHERE call_uid = ?", (record.call_uid,))
    return row


RECORD_KINDS = ("calls", "callbacks", "messages", "sms")
_TIME_COLUMN = {"calls": "ended_at", "callbacks": "requested_at", "messages": "recorded_at", "sms": "received_at"}


@dataclass(frozen=True)
class DirectoryEntry:
    number: str
    name: str = ""
    language: str | None = None
    flags: tuple[str, ...] = ()
    notes: str = ""


class Store:
    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def _one(self, sql: str, args: tuple = ()) -> aiosqlite.Row | None:
        async with self._lock:
            async with self._db.execute(sql, args) as cur:
                return await cur.fetchone()

    async def _all(self, sql: str, args: tuple = ()) -> list[aiosqlite.Row]:
        async with self._lock:
            async with self._db.execute(sql, args) as cur:
                return list(await cur.fetchall())

    async def _insert(self, sql: str, args: tuple) -> int:
        async with self._lock:
            cur = await self._db.execute(sql, args)
            return int(cur.lastrowid)

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

    async def check_integrity(self) -> None:
        """Raises when SQLite finds the file damaged (PRAGMA quick_check)."""
        async with self._lock:
            async with self._db.execute("PRAGMA quick_check") as cur:
                result = [row[0] for row in await cur.fetchall()]
        if result != ["ok"]:
            raise RuntimeError(f"{self.path} is damaged: {'; '.join(result[:3])}")

    async def close(self) -> None:
        await self._db.close()

    async def snapshot(self, target: Path) -> None:
        """A consistent copy of the whole store at `target` (SQLite's online backup), synced to
        disk: what a firmware update restores if the new release fails."""
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.unlink(missing_ok=True)
        async with self._lock:
            copy = await aiosqlite.connect(tmp)
            try:
                await self._db.backup(copy)
            finally:
                await copy.close()
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)

    async def schema_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cur:  # also used before the lock exists
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
        """Insert one call-detail record (and drop its in-progress copy); returns its id once
        committed."""
        async with self._transaction() as db:
            return await _insert_call(db, record)

    async def call_in_progress(self, record: CallRecord) -> None:
        """Keep what a call in progress has done so far (its ended_at: now). Should the box die
        before the call ends, the next start records it as "interrupted" with this context."""
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO calls_open (call_uid, record, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (call_uid) DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at",
                (record.call_uid, json.dumps(dataclasses.asdict(record), ensure_ascii=False), record.ended_at))

    async def close_interrupted(self) -> list[CallRecord]:
        """Calls a crash or power cut left in progress, recorded as ended "interrupted" at the
        last moment they were known alive; returns them."""
        closed = []
        async with self._transaction() as db:
            async with db.execute("SELECT call_uid, record, updated_at FROM calls_open ORDER BY updated_at") as cur:
                rows = list(await cur.fetchall())
            for row in rows:
                try:
                    fields = json.loads(row["record"])
                    fields["ivr_path"] = tuple(fields.get("ivr_path", ()))
                    base = CallRecord(**fields)
                except (ValueError, TypeError):
                    base = CallRecord(row["call_uid"], "unknown", "unknown", row["updated_at"], None,
                                      row["updated_at"], "", (), {}, "interrupted", None, "")
                record = dataclasses.replace(base, ended_at=row["updated_at"], outcome="interrupted",
                                             hangup_cause="box stopped mid-call (crash or power cut)")
                await _insert_call(db, record)
                closed.append(record)
        return closed

    async def add_callback(self, call_uid: str, number: str, requested_at: float, language: str,
                           ivr_path: tuple[str, ...], context: dict[str, Any], during_outage: bool = False,
                           priority: int = 0) -> int:
        """`priority` 1: an elderly caller's request, dialled and listed first."""
        return await self._insert(
            "INSERT INTO callbacks (call_uid, number, requested_at, language, ivr_path, context, during_outage, priority)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (call_uid, number, requested_at, language, json.dumps(list(ivr_path)),
             json.dumps(context, ensure_ascii=False), int(during_outage), priority))

    async def add_message(self, call_uid: str, caller: str, recorded_at: float, duration_s: float,
                          language: str, ivr_path: tuple[str, ...], audio: str, during_outage: bool = False) -> int:
        """A voice message whose audio file (under `messages_dir`) is already written and synced."""
        return await self._insert(
            "INSERT INTO messages (call_uid, caller, recorded_at, duration_s, language, ivr_path,"
            " during_outage, audio) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (call_uid, caller, recorded_at, duration_s, language, json.dumps(list(ivr_path)),
             int(during_outage), audio))

    @property
    def messages_dir(self) -> Path:
        return self.path.parent / "messages"

    # ---- records out: monotonic ids are the cursor ----------------------------------

    async def records(self, kind: str, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Records of `kind` with id > after, oldest first (ids only grow: a stable cursor)."""
        rows = await self._all(f"SELECT * FROM {_kind(kind)} WHERE id > ? ORDER BY id LIMIT ?", (after, limit))
        return [_decode(dict(row)) for row in rows]

    async def calls(self, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        return await self.records("calls", after, limit)

    async def callbacks(self, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        return await self.records("callbacks", after, limit)

    async def message(self, message_id: int) -> dict[str, Any] | None:
        row = await self._one("SELECT * FROM messages WHERE id = ?", (message_id,))
        return _decode(dict(row)) if row else None

    async def acknowledge(self, kind: str, through: int, at: float | None = None) -> int:
        """Mark every record of `kind` with id <= through as collected; returns how many were new."""
        async with self._transaction() as db:
            cur = await db.execute(f"UPDATE {_kind(kind)} SET collected_at = ? WHERE id <= ? AND collected_at IS NULL",
                                   (at or time.time(), through))
            return cur.rowcount

    async def record_counts(self, kind: str) -> dict[str, int]:
        table = _kind(kind)
        row = await self._one(f"SELECT (SELECT count(*) FROM {table}),"
                              f" (SELECT count(*) FROM {table} WHERE collected_at IS NULL),"
                              f" (SELECT coalesce(max(id), 0) FROM {table})")
        assert row is not None
        return {"total": row[0], "uncollected": row[1], "last_id": row[2]}

    async def purge_collected(self, kind: str, limit: int) -> list[dict[str, Any]]:
        """Delete up to `limit` collected records of `kind`, oldest first; returns the rows deleted."""
        table = _kind(kind)
        async with self._transaction() as db:
            async with db.execute(f"SELECT * FROM {table} WHERE collected_at IS NOT NULL"
                                  f" ORDER BY {_TIME_COLUMN[kind]}, id LIMIT ?", (limit,)) as cur:
                rows = [dict(r) for r in await cur.fetchall()]
            await db.executemany(f"DELETE FROM {table} WHERE id = ?", [(r["id"],) for r in rows])
            if kind == "calls":     # a call's learnt words go with its record
                await db.executemany("DELETE FROM voice_samples WHERE call_uid = ?", [(r["call_uid"],) for r in rows])
        return rows

    # ---- text messages ([sms]) ---------------------------------------------------------------
    async def add_sms(self, sender: str, text: str, received_at: float, during_outage: bool) -> int:
        """A text received (the text line), kept until central collected it."""
        return await self._insert("INSERT INTO sms (sender, received_at, text, during_outage) VALUES (?, ?, ?, ?)",
                                  (sender, received_at, text, int(during_outage)))

    async def queue_sms(self, to_number: str, text: str, purpose: str, at: float | None = None) -> int:
        now = time.time() if at is None else at
        return await self._insert("INSERT INTO sms_out (to_number, text, purpose, created_at, next_at)"
                                  " VALUES (?, ?, ?, ?, ?)", (to_number, text, purpose, now, now))

    async def sms_due(self, now: float, limit: int = 20) -> list[dict[str, Any]]:
        rows = await self._all("SELECT * FROM sms_out WHERE sent_at IS NULL AND failed IS NULL AND next_at <= ?"
                               " ORDER BY id LIMIT ?", (now, limit))
        return [dict(r) for r in rows]

    async def sms_next_due(self) -> float | None:
        row = await self._one("SELECT min(next_at) FROM sms_out WHERE sent_at IS NULL AND failed IS NULL")
        return None if row is None or row[0] is None else float(row[0])

    async def sms_sent(self, sms_id: int, at: float) -> None:
        async with self._transaction() as db:
            await db.execute("UPDATE sms_out SET sent_at = ?, attempts = attempts + 1 WHERE id = ?", (at, sms_id))

    async def sms_attempt_failed(self, sms_id: int, error: str, next_at: float | None) -> None:
        """One failed attempt: try again at `next_at`, or give up (None)."""
        async with self._transaction() as db:
            await db.execute("UPDATE sms_out SET attempts = attempts + 1, last_error = ?, next_at = coalesce(?, next_at),"
                             " failed = CASE WHEN ? IS NULL THEN ? ELSE NULL END WHERE id = ?",
                             (error, next_at, next_at, error, sms_id))

    async def sms_count_to(self, to_number: str, since: float, purposes: tuple[str, ...]) -> int:
        marks = ",".join("?" * len(purposes))
        row = await self._one(f"SELECT count(*) FROM sms_out WHERE to_number = ? AND created_at >= ? AND purpose IN ({marks})",
                              (to_number, since, *purposes))
        return int(row[0]) if row else 0

    async def sms_out_counts(self) -> dict[str, int]:
        row = await self._one("SELECT (SELECT count(*) FROM sms_out WHERE sent_at IS NULL AND failed IS NULL),"
                              " (SELECT count(*) FROM sms_out WHERE sent_at IS NOT NULL),"
                              " (SELECT count(*) FROM sms_out WHERE failed IS NOT NULL)")
        assert row is not None
        return {"queued": row[0], "sent": row[1], "failed": row[2]}

    async def sms_outbox(self, limit: int = 50) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._all("SELECT * FROM sms_out ORDER BY id DESC LIMIT ?", (limit,))]

    # ---- voices learnt on the box -------------------------------------------------------------
    async def add_voice_sample(self, call_uid: str, language: str, key: str, audio: bytes, at: float | None = None) -> int:
        return await self._insert("INSERT INTO voice_samples (call_uid, kept_at, language, key, audio) VALUES (?, ?, ?, ?, ?)",
                                  (call_uid, time.time() if at is None else at, language, key, audio))

    async def voice_samples(self, language: str, limit: int = 2000) -> list[dict[str, Any]]:
        """The newest `limit` samples of `language`, oldest first."""
        rows = await self._all("SELECT id, call_uid, kept_at, key, audio FROM voice_samples WHERE language = ?"
                               " ORDER BY id DESC LIMIT ?", (language, limit))
        return [dict(r) for r in reversed(rows)]

    async def voice_sample_counts(self) -> dict[str, int]:
        rows = await self._all("SELECT language, count(*) AS n FROM voice_samples GROUP BY language")
        return {r["language"]: r["n"] for r in rows}

    async def forget_voices(self) -> int:
        """Every learnt sample deleted (learning switched off, or a technician asks)."""
        async with self._transaction() as db:
            cur = await db.execute("DELETE FROM voice_samples")
            return cur.rowcount

    async def callbacks_to_dial(self, max_attempts: int, retry_after_s: float, now: float) -> list[dict[str, Any]]:
        """Outage callbacks the box should place now: not connected, not collected, tries left."""
        rows = await self._all(
            "SELECT * FROM callbacks WHERE during_outage = 1 AND collected_at IS NULL"
            " AND coalesce(dial_result, '') != 'connected' AND coalesce(dial_result, '') NOT LIKE 'not dialled%'"
            " AND dial_attempts < ?"
            " AND (dialed_at IS NULL OR dialed_at <= ?) ORDER BY priority DESC, id", (max_attempts, now - retry_after_s))
        return [_decode(dict(r)) for r in rows]

    async def note_not_dialled(self, callback_id: int, why: str) -> None:
        """The box will never dial this request (central's agents may): 'not dialled: WHY'."""
        async with self._transaction() as db:
            await db.execute("UPDATE callbacks SET dial_result = ? WHERE id = ?", (f"not dialled: {why}", callback_id))

    async def note_dial(self, callback_id: int, result: str, at: float) -> None:
        async with self._transaction() as db:
            await db.execute("UPDATE callbacks SET dial_attempts = dial_attempts + 1, dialed_at = ?, dial_result = ?"
                             " WHERE id = ?", (at, result, callback_id))

    # ---- events ---------------------------------------------------------------------------

    async def add_event(self, what: str, old: str, new: str, cause: str, at: float | None = None) -> int:
        return await self._insert("INSERT INTO events (at, what, old, new, cause) VALUES (?, ?, ?, ?, ?)",
                                  (at or time.time(), what, old, new, cause))

    async def events(self, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._all("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", (after, limit))]

    # ---- API tokens ---------------------------------------------------------------------

    async def add_token(self, name: str, scope: str, token_hash: str) -> None:
        async with self._transaction() as db:
            await db.execute("INSERT INTO api_tokens (name, scope, token_hash, created_at) VALUES (?, ?, ?, ?)",
                             (name, scope, token_hash, time.time()))

    async def revoke_token(self, name: str) -> bool:
        async with self._transaction() as db:
            cur = await db.execute("DELETE FROM api_tokens WHERE name = ?", (name,))
            return cur.rowcount > 0

    async def tokens(self) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._all("SELECT name, scope, created_at FROM api_tokens ORDER BY name")]

    async def token_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        row = await self._one("SELECT name, scope, token_hash FROM api_tokens WHERE token_hash = ?", (token_hash,))
        return dict(row) if row else None

    # ---- audit ----------------------------------------------------------------------------

    async def add_audit(self, source: str, what: str, result: str, at: float | None = None) -> int:
        return await self._insert("INSERT INTO audit (at, source, what, result) VALUES (?, ?, ?, ?)",
                                  (time.time() if at is None else at, source, what, result))

    async def audit(self, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._all("SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?", (after, limit))]

    # ---- settings -------------------------------------------------------------------------

    async def setting(self, key: str, default: str | None = None) -> str | None:
        row = await self._one("SELECT value FROM settings WHERE key = ?", (key,))
        return row[0] if row else default

    async def set_setting(self, key: str, value: str) -> None:
        async with self._transaction() as db:
            await db.execute("INSERT INTO settings (key, value) VALUES (?, ?)"
                             " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    # ---- flow history -------------------------------------------------------------------

    async def add_flow(self, document: str, sha256: str, label: str | None, comment: str,
                       rollback_of: int | None = None) -> int:
        """Store a flow version and make it the active one, in one transaction."""
        async with self._transaction() as db:
            cur = await db.execute("INSERT INTO flows (label, document, sha256, created_at, comment, rollback_of)"
                                   " VALUES (?, ?, ?, ?, ?, ?)", (label, document, sha256, time.time(), comment, rollback_of))
            version = int(cur.lastrowid)
            await db.execute("INSERT INTO settings (key, value) VALUES ('active_flow', ?)"
                             " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(version),))
            return version

    async def flow_version(self, version: int) -> dict[str, Any] | None:
        row = await self._one("SELECT * FROM flows WHERE version = ?", (version,))
        return dict(row) if row else None

    async def flow_by_label(self, label: str) -> dict[str, Any] | None:
        row = await self._one("SELECT * FROM flows WHERE label = ? ORDER BY version DESC LIMIT 1", (label,))
        return dict(row) if row else None

    async def flow_history(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self._all("SELECT version, label, sha256, created_at, comment, rollback_of FROM flows"
                               " ORDER BY version DESC LIMIT ?", (limit,))
        return [dict(r) for r in rows]

    async def active_flow(self) -> dict[str, Any] | None:
        value = await self.setting("active_flow")
        return await self.flow_version(int(value)) if value else None

    # ---- caller directory ---------------------------------------------------------------

    async def directory_version(self) -> int:
        return int(await self.setting("directory_version", "0") or 0)

    async def update_directory(self, upserts: Iterable[DirectoryEntry], deletes: Iterable[str]) -> int:
        """Apply a bulk change atomically; returns the new directory version."""
        async with self._transaction() as db:
            async with db.execute("SELECT value FROM settings WHERE key = 'directory_version'") as cur:
                row = await cur.fetchone()
            version = (int(row[0]) if row else 0) + 1
            now = time.time()
            await db.executemany(
                "INSERT INTO directory (number, name, language, flags, notes, version, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (number) DO UPDATE SET name = excluded.name,"
                " language = excluded.language, flags = excluded.flags, notes = excluded.notes,"
                " version = excluded.version, updated_at = excluded.updated_at",
                [(e.number, e.name, e.language, json.dumps(list(e.flags)), e.notes, version, now) for e in upserts])
            await db.executemany("DELETE FROM directory WHERE number = ?", [(n,) for n in deletes])
            await db.execute("INSERT INTO settings (key, value) VALUES ('directory_version', ?)"
                             " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(version),))
            return version

    async def directory(self, after: str = "", limit: int = 100) -> list[dict[str, Any]]:
        rows = await self._all("SELECT * FROM directory WHERE number > ? ORDER BY number LIMIT ?", (after, limit))
        return [_decode(dict(r)) for r in rows]

    async def directory_row(self, number: str) -> dict[str, Any] | None:
        row = await self._one("SELECT * FROM directory WHERE number = ?", (number,))
        return _decode(dict(row)) if row else None

    async def lookup(self, forms: list[str]) -> DirectoryEntry | None:
        """The directory entry written in any of `forms` (edgepbx.numbers.forms), the first
        form preferred when several are entered."""
        marks = ",".join("?" * len(forms))
        row = await self._one(f"SELECT * FROM directory WHERE number IN ({marks}) "
                              f"ORDER BY instr(?, '|' || number || '|') LIMIT 1",
                              (*forms, "|" + "|".join(forms) + "|"))
        if row is None:
            return None
        return DirectoryEntry(row["number"], row["name"], row["language"], tuple(json.loads(row["flags"])), row["notes"])


def _kind(kind: str) -> str:
    if kind not in RECORD_KINDS:
        raise ValueError(f"unknown record kind {kind!r}")
    return kind


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("ivr_path", "digits", "context", "flags"):
        if key in row:
            row[key] = json.loads(row[key])
    return row


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip() and not s.strip().startswith("--")]
