-- Migration 0010 (seed 003): media_assets, the B2 inventory mirrored into Cloudflare D1.
CREATE TABLE media_assets (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  media_uid TEXT NOT NULL UNIQUE,
  b2_key TEXT NOT NULL,
  b2_file_id TEXT,
  size INTEGER NOT NULL,
  etag TEXT,
  ingested_at TEXT NOT NULL DEFAULT (datetime('now'))
);
