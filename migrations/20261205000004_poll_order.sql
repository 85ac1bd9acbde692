-- Polls restored in the order they were made: two made in the same
-- millisecond have equal created_at, and their random ids do not order them.
ALTER TABLE polls ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
