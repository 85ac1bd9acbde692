-- Portable DDL: the same file runs on SQLite and PostgreSQL.
-- Times are Unix milliseconds; flags are 0/1 BIGINTs.
CREATE TABLE sessions (
    id                 TEXT PRIMARY KEY,
    title              TEXT NOT NULL,
    instructor_id      TEXT NOT NULL,
    instructor_name    TEXT NOT NULL,
    scheduled_start    BIGINT,
    scheduled_end      BIGINT,
    state              TEXT NOT NULL DEFAULT 'scheduled'
                       CHECK (state IN ('scheduled', 'live', 'ended')),
    max_webrtc_viewers BIGINT NOT NULL,
    record             BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX sessions_instructor_idx ON sessions (instructor_id);

CREATE TABLE publish_events (
    id             TEXT PRIMARY KEY,
    session_id     TEXT NOT NULL REFERENCES sessions (id),
    resource_id    TEXT NOT NULL,
    publisher_id   TEXT NOT NULL,
    publisher_name TEXT NOT NULL,
    video_codec    TEXT,
    audio_codec    TEXT,
    started_at     BIGINT NOT NULL,
    stopped_at     BIGINT,
    stop_reason    TEXT
);
CREATE INDEX publish_events_session_idx ON publish_events (session_id, started_at);
