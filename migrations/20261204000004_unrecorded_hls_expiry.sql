-- HLS of a class nobody chose to record is deleted a while after its last
-- publish ended; when (NULL: not deleted, or published again since).
ALTER TABLE sessions ADD COLUMN hls_expired_at BIGINT;
