-- settle PostgreSQL schema, version 1.
--
-- ledger: every record of the write-back ledger in append order. seq is the
-- record's 0-based position (the same number the file store gives the
-- record: its position among the records of the ledger file). line is the
-- record's exact JSON line without the '\n' (the bytes the file store
-- writes); the other columns are derived from it for the indexes.
CREATE TABLE ledger (
    seq            bigint      PRIMARY KEY CHECK (seq >= 0),
    kind           text        NOT NULL CHECK (kind IN ('durable', 'registry', 'conflict')),
    task_id        text        NOT NULL,
    track_id       text,
    batch_id       text,
    writeback_id   text,
    conflict_id    text,
    classification text,
    line           bytea       NOT NULL,
    appended_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_task ON ledger (task_id, seq);
CREATE INDEX ledger_batch ON ledger (batch_id, seq) WHERE batch_id IS NOT NULL;
CREATE INDEX ledger_conflict ON ledger (conflict_id) WHERE conflict_id IS NOT NULL;
CREATE INDEX ledger_settled ON ledger (batch_id, seq)
    WHERE kind = 'durable' AND classification = 'DURABLE_SUCCESS_WRITTEN';

-- ledger_head holds the next seq. Appenders lock its one row (UPDATE) from
-- the moment they take sequence numbers until they commit, so records
-- commit in seq order, without gaps: a reader that sees seq n sees every
-- seq below n.
CREATE TABLE ledger_head (
    id       int    PRIMARY KEY CHECK (id = 1),
    next_seq bigint NOT NULL CHECK (next_seq >= 0)
);
INSERT INTO ledger_head (id, next_seq) VALUES (1, 0);

-- batches: batch declarations; data is the declaration's exact JSON (the
-- bytes of the file store's batches/<batch>.json).
CREATE TABLE batches (
    batch_id   text        PRIMARY KEY,
    data       bytea       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- summaries: consolidated summaries, written once per batch (the bytes of
-- the file store's batch_summaries/<batch>.json).
CREATE TABLE summaries (
    batch_id   text        PRIMARY KEY,
    data       bytea       NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);

-- scene_files: the scene store's files, one row per file of a project's
-- scenes directory (flat bodies ep_NNN_<batch>.json, versioned bodies
-- ep_NNN_<batch>.vNNN.json, manifests ep_NNN_<batch>.versions.json), with
-- their exact bytes, so a body's fingerprint and bytes never change by
-- moving stores.
CREATE TABLE scene_files (
    project    text        NOT NULL,
    name       text        NOT NULL,
    data       bytea       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, name)
);

-- events: the durable event log (/v1/events). ids start at 1 and grow by
-- one; event_head is locked by appenders until they commit, like
-- ledger_head, so ids commit in order.
CREATE TABLE events (
    id   bigint      PRIMARY KEY CHECK (id >= 1),
    type text        NOT NULL,
    time timestamptz NOT NULL,
    key  text,
    data bytea       NOT NULL
);
CREATE UNIQUE INDEX events_key ON events (key) WHERE key IS NOT NULL;

CREATE TABLE event_head (
    id      int    PRIMARY KEY CHECK (id = 1),
    last_id bigint NOT NULL CHECK (last_id >= 0)
);
INSERT INTO event_head (id, last_id) VALUES (1, 0);
