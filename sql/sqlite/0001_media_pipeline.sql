-- SQLite equivalent of sql/postgres/0001_media_pipeline.sql for the local profile.
-- The catalog file is attached as schema "media_pipeline", so queries are shared.
-- Timestamps are ISO-8601 text in UTC with an explicit offset; JSON is text.
CREATE TABLE IF NOT EXISTS media_pipeline.audio_files (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  phone             TEXT,
  campaign_name     TEXT,
  recording_id      TEXT,
  url               TEXT NOT NULL,
  url_sha1          TEXT NOT NULL,
  content_sha256    TEXT,
  started           TEXT,
  stopped           TEXT,
  duration_seconds  REAL,
  index_in_phone    INTEGER,
  b2_object_key     TEXT,
  local_path        TEXT,
  file_size_bytes   INTEGER,
  source_table      TEXT,
  source_row_id     INTEGER,
  created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);

CREATE UNIQUE INDEX IF NOT EXISTS media_pipeline.uq_audio_files_recording_id
  ON audio_files (recording_id)
  WHERE recording_id IS NOT NULL;

CREATE UNIQUE INDEX IF NOT EXISTS media_pipeline.uq_audio_files_url_sha1
  ON audio_files (url_sha1);

CREATE INDEX IF NOT EXISTS media_pipeline.ix_audio_files_phone   ON audio_files (phone);
CREATE INDEX IF NOT EXISTS media_pipeline.ix_audio_files_started ON audio_files (started);

CREATE TABLE IF NOT EXISTS media_pipeline.transcriptions (
  id                 INTEGER PRIMARY KEY AUTOINCREMENT,
  audio_file_id      INTEGER NOT NULL REFERENCES audio_files(id) ON DELETE CASCADE,
  provider           TEXT,
  model              TEXT,
  status             TEXT NOT NULL DEFAULT 'completed',
  created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
  completed_at       TEXT,
  transcript_text    TEXT,
  segments           TEXT,
  diarization        TEXT,
  metadata           TEXT,
  raw_response       TEXT,
  b2_transcript_key  TEXT
);

CREATE UNIQUE INDEX IF NOT EXISTS media_pipeline.uq_transcriptions_audio_file_id
  ON transcriptions (audio_file_id);

CREATE TABLE IF NOT EXISTS media_pipeline.transcription_failures (
  audio_file_id    INTEGER PRIMARY KEY REFERENCES audio_files(id) ON DELETE CASCADE,
  provider         TEXT,
  model            TEXT,
  status           TEXT,
  error_code       INTEGER,
  error            TEXT,
  attempts         INTEGER NOT NULL DEFAULT 1,
  last_attempt_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
  ignore_until     TEXT
);

CREATE TABLE IF NOT EXISTS media_pipeline.transcription_claims (
  audio_file_id INTEGER PRIMARY KEY REFERENCES audio_files(id) ON DELETE CASCADE,
  claimed_by    TEXT NOT NULL,
  claimed_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
  expires_at    TEXT
);
CREATE INDEX IF NOT EXISTS media_pipeline.ix_transcription_claims_expires
  ON transcription_claims (expires_at);
