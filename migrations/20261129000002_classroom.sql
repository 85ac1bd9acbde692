-- The classroom control plane: chat, reactions, attendance, hand raises,
-- polls and bans. Portable DDL as in the first migration: Unix milliseconds,
-- 0/1 BIGINT flags, JSON kept as TEXT.

CREATE TABLE chat_messages (
    id          TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions (id),
    -- Insertion order within the session: breaks ties between messages of
    -- the same millisecond.
    seq         BIGINT NOT NULL,
    sender_id   TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    text        TEXT NOT NULL,
    -- The thread: the message this one replies to.
    reply_to    TEXT,
    -- JSON array of participant ids.
    mentions    TEXT NOT NULL DEFAULT '[]',
    created_at  BIGINT NOT NULL,
    -- Removed by the instructor: kept for the report, not shown.
    deleted_at  BIGINT
);
CREATE INDEX chat_messages_session_idx ON chat_messages (session_id, created_at, seq);
CREATE INDEX chat_messages_sender_idx ON chat_messages (session_id, sender_id);

-- No foreign key to chat_messages: effects from several server processes may
-- reach the database in any order. Reactions of unknown messages are ignored.
CREATE TABLE chat_reactions (
    message_id     TEXT NOT NULL,
    participant_id TEXT NOT NULL,
    emoji          TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (message_id, participant_id, emoji)
);
CREATE INDEX chat_reactions_participant_idx ON chat_reactions (participant_id);

-- One row per stay: joined (admitted) until left; NULL while present.
CREATE TABLE attendance (
    id             TEXT PRIMARY KEY,
    session_id     TEXT NOT NULL REFERENCES sessions (id),
    participant_id TEXT NOT NULL,
    name           TEXT NOT NULL,
    role           TEXT NOT NULL,
    joined_at      BIGINT NOT NULL,
    left_at        BIGINT
);
CREATE INDEX attendance_session_idx ON attendance (session_id, participant_id, joined_at);
CREATE INDEX attendance_open_idx ON attendance (session_id, participant_id) WHERE left_at IS NULL;

-- Engagement beyond chat and reactions (which have their own tables).
CREATE TABLE hand_raises (
    session_id     TEXT NOT NULL REFERENCES sessions (id),
    participant_id TEXT NOT NULL,
    raised_at      BIGINT NOT NULL
);
CREATE INDEX hand_raises_session_idx ON hand_raises (session_id, participant_id);

CREATE TABLE polls (
    id            TEXT PRIMARY KEY,
    session_id    TEXT NOT NULL REFERENCES sessions (id),
    question      TEXT NOT NULL,
    -- JSON array of strings.
    options       TEXT NOT NULL,
    multiple      BIGINT NOT NULL DEFAULT 0,
    share_results BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    -- The timer, if any.
    closes_at     BIGINT,
    closed_at     BIGINT,
    -- JSON PollResults, once closed.
    results       TEXT
);
CREATE INDEX polls_session_idx ON polls (session_id, created_at);

-- One answer per participant and poll: the first one counts. No foreign key
-- to polls, for the same reason as chat_reactions.
CREATE TABLE poll_answers (
    poll_id        TEXT NOT NULL,
    participant_id TEXT NOT NULL,
    -- JSON array of option indexes.
    choices        TEXT NOT NULL,
    answered_at    BIGINT NOT NULL,
    PRIMARY KEY (poll_id, participant_id)
);

-- Kicked participants: their rejoin is refused for the session.
CREATE TABLE session_bans (
    session_id     TEXT NOT NULL REFERENCES sessions (id),
    participant_id TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (session_id, participant_id)
);
