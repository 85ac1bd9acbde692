-- Room settings an instructor changes during a class, kept so that a room
-- started again (after it closed with nobody in it, or a restart) comes
-- back as it was. `updated_at` orders writes from several processes: an
-- older write never replaces a newer one.
CREATE TABLE classroom_settings (
    session_id    TEXT PRIMARY KEY REFERENCES sessions (id),
    lobby_enabled BIGINT NOT NULL DEFAULT 0,
    updated_at    BIGINT NOT NULL
);
