-- Recordings, the upload spool and participants (recording consent).
-- Portable DDL as in the first migration: Unix milliseconds, 0/1 BIGINT flags.

-- One recording is a contiguous range of the ladder's top-rung segments within
-- one publish; a reconnect starts the next part.
CREATE TABLE recordings (
    id            TEXT PRIMARY KEY,
    session_id    TEXT NOT NULL REFERENCES sessions (id),
    part          BIGINT NOT NULL,
    state         TEXT NOT NULL
                  CHECK (state IN ('recording', 'processing', 'ready', 'failed', 'deleted')),
    rung          TEXT NOT NULL,
    first_segment BIGINT NOT NULL,
    -- Inclusive; NULL until the recording stops (then: up to the publish's end).
    last_segment  BIGINT,
    storage_key   TEXT,
    duration_ms   BIGINT,
    size_bytes    BIGINT,
    error         TEXT,
    created_at    BIGINT NOT NULL,
    stopped_at    BIGINT,
    ready_at      BIGINT,
    deleted_at    BIGINT
);
CREATE INDEX recordings_session_idx ON recordings (session_id, part);
CREATE INDEX recordings_state_idx ON recordings (state, created_at);

-- Files waiting to reach object storage. The local file (or the stored body,
-- for playlists) is the spool; a row leaves only once the store has it.
CREATE TABLE uploads (
    storage_key     TEXT PRIMARY KEY,
    -- Enqueue order; playlists and invalidations wait for earlier files of
    -- their group (session).
    seq             BIGINT NOT NULL,
    group_id        TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('file', 'playlist', 'invalidation')),
    local_path      TEXT,
    body            TEXT,
    content_type    TEXT NOT NULL,
    cache_control   TEXT NOT NULL,
    recording_id    TEXT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX uploads_seq_idx ON uploads (seq);
CREATE INDEX uploads_group_idx ON uploads (group_id, kind, seq);

CREATE TABLE participants (
    session_id        TEXT NOT NULL REFERENCES sessions (id),
    user_id           TEXT NOT NULL,
    name              TEXT NOT NULL,
    role              TEXT NOT NULL,
    -- NULL: not answered yet.
    recording_consent BIGINT,
    consent_at        BIGINT,
    first_seen_at     BIGINT NOT NULL,
    last_seen_at      BIGINT NOT NULL,
    PRIMARY KEY (session_id, user_id)
);
