-- Additive: the company a call belongs to, for grouping across campaigns (several campaigns
-- of one client). Filled at ingestion from a CSV "company" column or the campaign -> company
-- mapping (MEDIA_PIPELINE_CAMPAIGN_COMPANIES); NULL for rows cataloged before.
ALTER TABLE media_pipeline.audio_files ADD COLUMN IF NOT EXISTS company TEXT;
CREATE INDEX IF NOT EXISTS ix_audio_files_company ON media_pipeline.audio_files (company);
