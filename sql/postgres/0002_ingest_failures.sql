-- Additive: remembers audio URLs that could not be ingested, so permanent failures
-- (404, not audio) are not fetched again on every run, and transient ones are visible.
CREATE TABLE IF NOT EXISTS media_pipeline.ingest_failures (
  url_sha1         TEXT PRIMARY KEY,
  url              TEXT NOT NULL,
  campaign_name    TEXT,
  status           TEXT NOT NULL CHECK (status IN ('transient', 'permanent')),
  error_code       INTEGER,
  error            TEXT,
  attempts         INTEGER NOT NULL DEFAULT 1,
  first_failed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ix_ingest_failures_status
  ON media_pipeline.ingest_failures (status);
