-- post_media as the social-tui application (seed 004) defines it. Production already has
-- this table; the archive only creates it when it is missing and the resource allows it
-- (local profile, tests). archive_url is the one column the archive writes.
CREATE TABLE IF NOT EXISTS post_media (
    media_id TEXT PRIMARY KEY,
    post_id TEXT NOT NULL,
    media_type TEXT NOT NULL,  -- 'image', 'video', 'document'
    media_url TEXT NOT NULL,   -- original URL from the social platform
    local_file_path TEXT,      -- path to the cached file
    md5_sum TEXT,              -- MD5 of the file content (hex)
    file_size INTEGER,
    mime_type TEXT,
    width INTEGER,
    height INTEGER,
    archive_url TEXT,          -- s3://bucket/cache/YYYY/MM/<md5>.<ext>, set by post_media_archive
    created_at TIMESTAMP,
    updated_at TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_media_archive_url ON post_media(archive_url)
    WHERE archive_url IS NOT NULL;

-- Ours, not the seed's: the partitions and the sensor look for unarchived rows by date.
CREATE INDEX IF NOT EXISTS idx_post_media_unarchived_created_at ON post_media(created_at)
    WHERE archive_url IS NULL;
