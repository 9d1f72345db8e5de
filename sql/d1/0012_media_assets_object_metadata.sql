-- Migration 0012 (optional, additive): the object's Content-Type and user metadata
-- (x-amz-meta-*, as a JSON object), read with one HEAD per object.
-- Applied only when d1_media_assets runs with enrich_metadata.
ALTER TABLE media_assets ADD COLUMN content_type TEXT;
ALTER TABLE media_assets ADD COLUMN user_metadata TEXT;
ALTER TABLE media_assets ADD COLUMN metadata_fetched_at TEXT;
