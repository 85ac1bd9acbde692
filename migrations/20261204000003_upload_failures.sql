-- One upload that keeps failing must not hold up the others: each waits out
-- its own backoff, and after too many failures while the store worked it is
-- given up (its file stays on disk; a restart retries it).
ALTER TABLE uploads ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE uploads ADD COLUMN strikes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE uploads ADD COLUMN failed_at BIGINT;
CREATE INDEX uploads_due_idx ON uploads (failed_at, next_attempt_at, seq);
