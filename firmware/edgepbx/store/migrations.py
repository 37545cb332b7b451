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
MIGRATIONS.append(
    # 2: the sync API: tokens, flow history, caller directory, voice messages, collection marks
    """
    CREATE TABLE api_tokens (
        name          TEXT PRIMARY KEY NOT NULL,
        scope         TEXT NOT NULL CHECK (scope IN ('read', 'write')),
        token_hash    TEXT NOT NULL UNIQUE,   -- SHA-256 of the token, never the token itself
        created_at    REAL NOT NULL
    );
    CREATE TABLE flows (
        version       INTEGER PRIMARY KEY AUTOINCREMENT,
        label         TEXT,
        document      TEXT NOT NULL,          -- the flow as canonical JSON
        sha256        TEXT NOT NULL,
        created_at    REAL NOT NULL,
        comment       TEXT NOT NULL DEFAULT '',
        rollback_of   INTEGER
    );
    CREATE TABLE settings (
        key           TEXT PRIMARY KEY NOT NULL,
        value         TEXT NOT NULL
    );
    CREATE TABLE directory (
        number        TEXT PRIMARY KEY NOT NULL,
        name          TEXT NOT NULL DEFAULT '',
        language      TEXT,
        flags         TEXT NOT NULL DEFAULT '[]',   -- JSON list: elderly, visually_impaired, vip
        notes         TEXT NOT NULL DEFAULT '',
        version       INTEGER NOT NULL,
        updated_at    REAL NOT NULL
    );
    CREATE TABLE messages (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        call_uid      TEXT NOT NULL,
        caller        TEXT NOT NULL,
        recorded_at   REAL NOT NULL,
        duration_s    REAL NOT NULL,
        language      TEXT NOT NULL,
        ivr_path      TEXT NOT NULL,
        during_outage INTEGER NOT NULL DEFAULT 0,
        audio         TEXT NOT NULL,          -- file name under the store's messages directory
        collected_at  REAL
    );
    ALTER TABLE calls ADD COLUMN collected_at REAL;
    ALTER TABLE callbacks ADD COLUMN collected_at REAL;
    ALTER TABLE callbacks ADD COLUMN during_outage INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX calls_uncollected ON calls (collected_at);
    CREATE INDEX callbacks_uncollected ON callbacks (collected_at);
    CREATE INDEX messages_uncollected ON messages (collected_at)
    """)
MIGRATIONS.append(
    # 3: what happened to the box, with the cause (central link, routing, operator mode)
    """
    CREATE TABLE events (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        at            REAL NOT NULL,
        what          TEXT NOT NULL,
        old           TEXT NOT NULL,
        new           TEXT NOT NULL,
        cause         TEXT NOT NULL
    )
    """)
MIGRATIONS.append(
    # 4: the box calling callers back itself once central is back
    """
    ALTER TABLE callbacks ADD COLUMN dial_attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE callbacks ADD COLUMN dialed_at REAL;
    ALTER TABLE callbacks ADD COLUMN dial_result TEXT
    """)
MIGRATIONS.append(
    # 5: accessibility: the mode each call ended in, its satisfaction score, priority callbacks
    """
    ALTER TABLE calls ADD COLUMN mode TEXT NOT NULL DEFAULT 'normal';
    ALTER TABLE calls ADD COLUMN csat INTEGER CHECK (csat BETWEEN 1 AND 5);
    ALTER TABLE callbacks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0
    """)
MIGRATIONS.append(
    # 6: what technicians did on the console (never a password or a secret value)
    """
    CREATE TABLE audit (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        at            REAL NOT NULL,
        source        TEXT NOT NULL,
        what          TEXT NOT NULL,
        result        TEXT NOT NULL
    )
    """)
MIGRATIONS.append(
    # 7: calls in progress, kept as they go: a crash or power cut mid-call leaves each one
    # here, and the next start records it as ended "interrupted" with what it had collected
    """
    CREATE TABLE calls_open (
        call_uid      TEXT PRIMARY KEY,
        record        TEXT NOT NULL,
        updated_at    REAL NOT NULL
    )
    """)
MIGRATIONS.append(
    # 8: callers' words the box keeps to learn a site's voices ([ivr] learn_voices): a menu word
    # not understood and the key the caller pressed for it at once. Never a collected number.
    # Deleted with the call's record (retention), so no audio outlives its call.
    """
    CREATE TABLE voice_samples (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        call_uid      TEXT NOT NULL,
        kept_at       REAL NOT NULL,
        language      TEXT NOT NULL,
        key           TEXT NOT NULL,
        audio         BLOB NOT NULL
    );
    CREATE INDEX voice_samples_call ON voice_samples (call_uid)
    """)
MIGRATIONS.append(
    # 9: text messages ([sms]). `sms`: texts received (the text line for deaf callers), pulled by
    # central like call records. `sms_out`: texts to send, kept until the modem took them (or they
    # failed for good), so a restart or an unplugged modem loses none.
    """
    CREATE TABLE sms (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        sender        TEXT NOT NULL,
        received_at   REAL NOT NULL,
        text          TEXT NOT NULL,
        during_outage INTEGER NOT NULL DEFAULT 0,
        collected_at  REAL
    );
    CREATE TABLE sms_out (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        to_number     TEXT NOT NULL,
        text          TEXT NOT NULL,
        purpose       TEXT NOT NULL,
        created_at    REAL NOT NULL,
        attempts      INTEGER NOT NULL DEFAULT 0,
        next_at       REAL NOT NULL,
        sent_at       REAL,
        failed        TEXT,
        last_error    TEXT
    );
    CREATE INDEX sms_out_due ON sms_out (sent_at, failed, next_at);
    CREATE INDEX sms_out_number ON sms_out (to_number, created_at)
    """)
