-- SQLite equivalent of sql/postgres/0004_audio_files_company.sql. SQLite has no
-- ADD COLUMN IF NOT EXISTS: the schema code skips the statement when the column exists.
ALTER TABLE media_pipeline.audio_files ADD COLUMN company TEXT;
CREATE INDEX IF NOT EXISTS media_pipeline.ix_audio_files_company ON audio_files (company);
