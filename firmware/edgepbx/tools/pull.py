"""Pull a box's records into a local SQLite file, exactly once, even if killed at any moment.

    python -m edgepbx.tools.pull http://10.1.2.3:8080 --token-file ops.token --into branch-042.db

For each kind (calls, callbacks, messages) it asks for records after its saved cursor,
stores the page and the new cursor in one transaction, and only then acknowledges them on
the box. Killed before the commit, it asks for the same page again; killed after, it
resumes from the saved cursor and repeats the (idempotent) acknowledgement. Message audio
is saved beside the database before its row is committed. `--follow` keeps polling.
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

KINDS = ("calls", "callbacks", "messages")


class Puller:
    def __init__(self, base: str, token: str, into: Path, page: int = 200) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.page = page
        self.audio_dir = into.parent / f"{into.stem}-audio"
        self.db = sqlite3.connect(into, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS cursors (kind TEXT PRIMARY KEY, after INTEGER NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, id INTEGER NOT NULL,"
                        " body TEXT NOT NULL, pulled_at REAL NOT NULL, PRIMARY KEY (kind, id))")

    def _request(self, method: str, path: str, body: dict | None = None) -> bytes:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.base}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.read()

    def cursor(self, kind: str) -> int:
        row = self.db.execute("SELECT after FROM cursors WHERE kind = ?", (kind,)).fetchone()
        return int(row[0]) if row else 0

    def pull_kind(self, kind: str) -> int:
        """Pull every new record of one kind; returns how many were stored."""
        after = self.cursor(kind)
        if after:
            self._request("POST", f"/api/v1/{kind}/ack", {"through": after})  # in case we died before
        stored = 0
        while True:
            page = json.loads(self._request("GET", f"/api/v1/{kind}?after={after}&limit={self.page}"))
            items = page["items"]
            if not items:
                return stored
            if kind == "messages":
                for item in items:
                    self._save_audio(item)
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR IGNORE INTO records (kind, id, body, pulled_at) VALUES (?, ?, ?, ?)",
                                [(kind, item["id"], json.dumps(item, ensure_ascii=False), time.time()) for item in items])
            self.db.execute("INSERT INTO cursors (kind, after) VALUES (?, ?)"
                            " ON CONFLICT (kind) DO UPDATE SET after = excluded.after", (kind, page["next"]))
            self.db.execute("COMMIT")
            stored += len(items)
            after = page["next"]
            self._request("POST", f"/api/v1/{kind}/ack", {"through": after})

    def _save_audio(self, item: dict) -> None:
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        target = self.audio_dir / f"message-{int(item['id'])}.wav"
        if target.exists():
            return
        part = target.with_suffix(".part")
        part.write_bytes(self._request("GET", f"/api/v1/messages/{int(item['id'])}/audio"))
        with open(part, "rb") as f:
            os.fsync(f.fileno())
        part.replace(target)

    def pull_all(self) -> dict[str, int]:
        return {kind: self.pull_kind(kind) for kind in KINDS}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edgepbx.tools.pull", description=__doc__.split("\n")[0])
    p.add_argument("box", help="the box's API base URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--token-file", type=Path, required=True, help="file holding a write token (acks need write)")
    p.add_argument("--into", type=Path, required=True, help="local SQLite file (created if missing)")
    p.add_argument("--page", type=int, default=200, help="records per request (1..1000)")
    p.add_argument("--follow", type=float, metavar="SECONDS", help="keep polling at this interval")
    args = p.parse_args(argv)
    puller = Puller(args.box, args.token_file.read_text(encoding="utf-8").strip(), args.into, args.page)
    while True:
        try:
            counts = puller.pull_all()
        except urllib.error.HTTPError as exc:
            print(f"pull: {exc.code} {exc.read().decode(errors='replace')}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"pull: box unreachable: {exc}", file=sys.stderr)
            if not args.follow:
                return 1
            counts = {}
        print(json.dumps({"pulled": counts, "cursors": {k: puller.cursor(k) for k in KINDS}}), flush=True)
        if not args.follow:
            return 0
        time.sleep(args.follow)


if __name__ == "__main__":
    raise SystemExit(main())
