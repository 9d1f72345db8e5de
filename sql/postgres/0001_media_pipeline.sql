-- media_pipeline catalog, exactly as the schema handover (seed 001, section 8).
-- Idempotent: safe on an empty database and on one the legacy scripts created.
CREATE SCHEMA IF NOT EXISTS media_pipeline;

CREATE TABLE IF NOT EXISTS media_pipeline.audio_files (
  id                BIGSERIAL PRIMARY KEY,
  phone             TEXT,
  campaign_name     TEXT,
  recording_id      TEXT,
  url               TEXT NOT NULL,
  url_sha1          TEXT NOT NULL,
  content_sha256    TEXT,
  started           TIMESTAMPTZ,
  stopped           TIMESTAMPTZ,
  duration_seconds  DOUBLE PRECISION,
  index_in_phone    INTEGER,
  b2_object_key     TEXT,
  local_path        TEXT,
  file_size_bytes   BIGINT,
  source_table      TEXT,
  source_row_id     BIGINT,
  created_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX IF NOT EXISTS uq_audio_files_recording_id
  ON media_pipeline.audio_files (recording_id)
  WHERE recording_id IS NOT NULL;

CREATE UNIQUE INDEX IF NOT EXISTS uq_audio_files_url_sha1
  ON media_pipeline.audio_files (url_sha1);

CREATE INDEX IF NOT EXISTS ix_audio_files_phone   ON media_pipeline.audio_files (phone);
CREATE INDEX IF NOT EXISTS ix_audio_files_started ON media_pipeline.audio_files (started);

CREATE TABLE IF NOT EXISTS media_pipeline.transcriptions (
  id                 BIGSERIAL PRIMARY KEY,
  audio_file_id      BIGINT NOT NULL REFERENCES media_pipeline.audio_files(id) ON DELETE CASCADE,
  provider           TEXT,
  model              TEXT,
  status             TEXT NOT NULL DEFAULT 'completed',
  created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
  completed_at       TIMESTAMPTZ,
  transcript_text    TEXT,
  segments           JSONB,
  diarization        JSONB,
  metadata           JSONB,
  raw_response       JSONB,
  b2_transcript_key  TEXT
);

CREATE UNIQUE INDEX IF NOT EXISTS uq_transcriptions_audio_file_id
  ON media_pipeline.transcriptions (audio_file_id);

-- Optional column for existing deployments
ALTER TABLE media_pipeline.transcriptions ADD COLUMN IF NOT EXISTS raw_response jsonb;

-- Failures table (cooldowns/permanent)
CREATE TABLE IF NOT EXISTS media_pipeline.transcription_failures (
  audio_file_id    BIGINT PRIMARY KEY
                   REFERENCES media_pipeline.audio_files(id) ON DELETE CASCADE,
  provider         TEXT,
  model            TEXT,
  status           TEXT,
  error_code       INTEGER,
  error            TEXT,
  attempts         INTEGER NOT NULL DEFAULT 1,
  last_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  ignore_until     TIMESTAMPTZ
);

-- Claims table (overlap prevention)
CREATE TABLE IF NOT EXISTS media_pipeline.transcription_claims (
  audio_file_id BIGINT PRIMARY KEY
                REFERENCES media_pipeline.audio_files(id) ON DELETE CASCADE,
  claimed_by    TEXT NOT NULL,
  claimed_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at    TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS ix_transcription_claims_expires
  ON media_pipeline.transcription_claims (expires_at);
