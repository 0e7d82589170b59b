"""The PostgreSQL schema of every store, created when missing.

The same tables as on SQLite, with these differences::

    events.seq            BIGINT given by the appender, not a sequence: it is the next
                          number after log_head.seq, taken under that row's lock
    log_head(seq, hash)   one row: the last seq and hash of the chain. Every append
                          locks it (SELECT ... FOR UPDATE) until it commits, so appends
                          from every orchestrator are serialised and seq order is
                          commit order: a reader that has seen seq N never later finds
                          an event with a smaller seq (no gaps appear behind it)
    blobs, blob_chunks    content-addressed bytes in chunks, reachable by every
                          orchestrator (no local folder)
    orchestrators         each orchestrator's heartbeat; worker_homes: which
                          orchestrator each worker is connected to
    worker_identities     registered workers and the hashes of their secrets, shared
                          by every orchestrator (as on SQLite)

Text that is ordered or hashed is stored as given (``COLLATE "C"``: code point order,
as SQLite's; event data and times are TEXT, byte for byte what the hash chain sealed).
Creating the schema takes an advisory lock, so orchestrators starting at once do not
race on ``CREATE TABLE``.
"""

from __future__ import annotations

from xxci.orchestrator.store.chain import GENESIS

__all__ = ["SCHEMA", "SCHEMA_LOCK"]

SCHEMA_LOCK = 74_200_001
"""The advisory lock key taken while the schema is created."""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS events (
    seq     BIGINT PRIMARY KEY,
    stream  TEXT COLLATE "C" NOT NULL,
    version INTEGER NOT NULL,
    type    TEXT NOT NULL,
    data    TEXT NOT NULL,
    at      TEXT NOT NULL,
    hash    TEXT,
    UNIQUE (stream, version)
);
CREATE INDEX IF NOT EXISTS events_by_type ON events (type);
CREATE TABLE IF NOT EXISTS log_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO log_head (id, seq, hash) VALUES (1, 0, '{GENESIS}') ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS log_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id       TEXT PRIMARY KEY,
    stream       TEXT COLLATE "C" NOT NULL,
    pipeline     TEXT COLLATE "C" NOT NULL,
    number       INTEGER NOT NULL,
    repo         TEXT COLLATE "C" NOT NULL,
    branch       TEXT NOT NULL,
    "commit"     TEXT NOT NULL,
    created_seq  BIGINT NOT NULL,
    created_at   TEXT NOT NULL,
    finished_seq BIGINT,
    UNIQUE (pipeline, number)
);
CREATE INDEX IF NOT EXISTS runs_by_repo ON runs (repo, pipeline, number);
CREATE INDEX IF NOT EXISTS runs_by_stream ON runs (stream);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created_seq);
CREATE INDEX IF NOT EXISTS runs_live ON runs (created_seq) WHERE finished_seq IS NULL;
CREATE TABLE IF NOT EXISTS logs (
    run_id  TEXT NOT NULL,
    job     TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    stream  TEXT NOT NULL,
    data    BYTEA NOT NULL,
    at      TEXT NOT NULL,
    PRIMARY KEY (run_id, job, attempt, seq)
);
CREATE TABLE IF NOT EXISTS report_cache (
    run_id   TEXT PRIMARY KEY,
    version  INTEGER NOT NULL,
    last_seq BIGINT NOT NULL,
    summary  TEXT NOT NULL,
    report   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS blobs (
    digest TEXT PRIMARY KEY,
    size   BIGINT NOT NULL,
    chunks INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS blob_chunks (
    digest TEXT NOT NULL,
    n      INTEGER NOT NULL,
    data   BYTEA NOT NULL,
    PRIMARY KEY (digest, n)
);
CREATE TABLE IF NOT EXISTS orchestrators (
    id           TEXT PRIMARY KEY,
    address      TEXT NOT NULL,
    started_at   DOUBLE PRECISION NOT NULL,
    heartbeat_at DOUBLE PRECISION NOT NULL,
    stopped      BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE IF NOT EXISTS worker_homes (
    worker_id    TEXT PRIMARY KEY,
    orchestrator TEXT NOT NULL,
    since        DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS worker_identities (
    worker_id     TEXT COLLATE "C" PRIMARY KEY,
    name          TEXT NOT NULL,
    secret_hash   TEXT NOT NULL,
    registered_at TEXT COLLATE "C" NOT NULL,
    last_seen_at  TEXT COLLATE "C",
    revoked_at    TEXT
);
"""
