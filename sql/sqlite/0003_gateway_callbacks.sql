-- SQLite equivalent of sql/postgres/0003_gateway_callbacks.sql.
CREATE TABLE IF NOT EXISTS media_pipeline.gateway_callbacks (
  audio_file_id    INTEGER NOT NULL REFERENCES audio_files(id) ON DELETE CASCADE,
  callback_url     TEXT NOT NULL,
  key_name         TEXT,
  created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  TEXT,
  last_error       TEXT,
  delivered_at     TEXT,
  delivered_status TEXT,
  PRIMARY KEY (audio_file_id, callback_url)
);
CREATE INDEX IF NOT EXISTS media_pipeline.ix_gateway_callbacks_open
  ON gateway_callbacks (next_attempt_at);
