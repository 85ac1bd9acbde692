-- Where each user left off in each recording (resume on any device); last
-- write wins. One small row per user and recording they played.
CREATE TABLE replay_positions (
    user_id      TEXT NOT NULL,
    recording_id TEXT NOT NULL REFERENCES recordings (id),
    position_ms  BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (user_id, recording_id)
);
