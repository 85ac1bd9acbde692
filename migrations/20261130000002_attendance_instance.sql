-- Which server instance holds a stay: at start-up an instance closes only
-- the stays its own previous run left open, not those of other processes
-- sharing the database.
ALTER TABLE attendance ADD COLUMN instance TEXT;
