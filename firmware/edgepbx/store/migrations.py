"""Versioned schema: migration N brings the database from version N-1 to N. Append only."""

MIGRATIONS: list[str] = [
    # 1: call-detail records and callback requests
    """
    CREATE TABLE calls (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        call_uid      TEXT NOT NULL UNIQUE,
        caller        TEXT NOT NULL,
        called        TEXT NOT NULL,
        started_at    REAL NOT NULL,
        answered_at   REAL,
        ended_at      REAL NOT NULL,
        language      TEXT NOT NULL,
        ivr_path      TEXT NOT NULL,      -- JSON list of node ids
        digits        TEXT NOT NULL,      -- JSON object field -> value, secret values masked
        outcome       TEXT NOT NULL,
        forward_target TEXT,
        hangup_cause  TEXT NOT NULL
    );
    CREATE TABLE callbacks (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        call_uid      TEXT NOT NULL,
        number        TEXT NOT NULL,
        requested_at  REAL NOT NULL,
        language      TEXT NOT NULL,
        ivr_path      TEXT NOT NULL,
        context       TEXT NOT NULL       -- JSON: non-secret data and queue
    );
    """,
]
