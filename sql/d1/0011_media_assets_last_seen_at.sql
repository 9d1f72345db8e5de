-- Migration 0011 (optional, additive): when the inventory last saw each object.
-- Applied only when d1_media_assets runs with track_last_seen: true.
ALTER TABLE media_assets ADD COLUMN last_seen_at TEXT;
