-- The broadcast's layout (what HLS and the recording show when several
-- people publish): the instructor's choice per session, and a log of the
-- layout the composition actually showed, from which a recording's chapter
-- marks are read. `updated_at` orders writes from several processes.
CREATE TABLE broadcast_settings (
    session_id TEXT PRIMARY KEY REFERENCES sessions (id),
    layout     TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE broadcast_chapters (
    session_id TEXT NOT NULL REFERENCES sessions (id),
    at         BIGINT NOT NULL,
    layout     TEXT NOT NULL
);
CREATE INDEX broadcast_chapters_session_at ON broadcast_chapters (session_id, at);
