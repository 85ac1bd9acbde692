-- A session's course (the library groups recordings by it) and whether its
-- recordings may be downloaded. `allow_download` is 0/1 like the other flags.
ALTER TABLE sessions ADD COLUMN course TEXT;
ALTER TABLE sessions ADD COLUMN allow_download BIGINT NOT NULL DEFAULT 0;
CREATE INDEX sessions_course_idx ON sessions (instructor_id, course);
