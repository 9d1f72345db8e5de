-- SQLite equivalent of sql/postgres/0002_ingest_failures.sql.
CREATE TABLE IF NOT EXISTS media_pipeline.ingest_failures (
  url_sha1         TEXT PRIMARY KEY,
  url              TEXT NOT NULL,
  campaign_name    TEXT,
  status           TEXT NOT NULL CHECK (status IN ('transient', 'permanent')),
  error_code       INTEGER,
  error            TEXT,
  attempts         INTEGER NOT NULL DEFAULT 1,
  first_failed_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
  last_attempt_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
CREATE INDEX IF NOT EXISTS media_pipeline.ix_ingest_failures_status
  ON ingest_failures (status);
