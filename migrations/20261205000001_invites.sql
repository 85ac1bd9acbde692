-- Invite links: a code that anyone holding it redeems, with a display name,
-- for a token scoped to the session in the invite's role. Portable DDL as in
-- the first migration: Unix milliseconds, 0/1 BIGINT flags.
CREATE TABLE invites (
    id          TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions (id),
    -- The secret in the link (URL-safe, 144 random bits).
    code        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('student', 'guest')),
    expires_at  BIGINT NOT NULL,
    -- NULL: unlimited.
    max_uses    BIGINT,
    -- Counted in the same UPDATE that checks `uses < max_uses`.
    uses        BIGINT NOT NULL DEFAULT 0,
    revoked_at  BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX invites_session_idx ON invites (session_id, created_at);
