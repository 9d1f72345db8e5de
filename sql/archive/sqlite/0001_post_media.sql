-- post_media (seed 004) for the local profile. Timestamps are ISO-8601 text in UTC
-- ('YYYY-MM-DD HH:MM:SS'), so text order is time order and the monthly partitions can
-- select rows with plain string comparisons.
CREATE TABLE IF NOT EXISTS post_media (
    media_id TEXT PRIMARY KEY,
    post_id TEXT NOT NULL,
    media_type TEXT NOT NULL,
    media_url TEXT NOT NULL,
    local_file_path TEXT,
    md5_sum TEXT,
    file_size INTEGER,
    mime_type TEXT,
    width INTEGER,
    height INTEGER,
    archive_url TEXT,
    created_at TIMESTAMP,
    updated_at TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_media_archive_url ON post_media(archive_url)
    WHERE archive_url IS NOT NULL;

-- Ours, not the seed's: the partitions and the sensor look for unarchived rows by date.
CREATE INDEX IF NOT EXISTS idx_post_media_unarchived_created_at ON post_media(created_at)
    WHERE archive_url IS NULL;
