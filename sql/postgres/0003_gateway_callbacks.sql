-- Additive: webhook callbacks asked for by gateway clients, and their delivery state.
CREATE TABLE IF NOT EXISTS media_pipeline.gateway_callbacks (
  audio_file_id    BIGINT NOT NULL REFERENCES media_pipeline.audio_files(id) ON DELETE CASCADE,
  callback_url     TEXT NOT NULL,
  key_name         TEXT,
  created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  TIMESTAMPTZ,
  last_error       TEXT,
  delivered_at     TIMESTAMPTZ,
  delivered_status TEXT,
  PRIMARY KEY (audio_file_id, callback_url)
);
CREATE INDEX IF NOT EXISTS ix_gateway_callbacks_open
  ON media_pipeline.gateway_callbacks (next_attempt_at) WHERE delivered_at IS NULL;
