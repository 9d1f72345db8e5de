"""Social media cache archive: post_media rows and cache/media files -> S3, archive_url set (seed 004)."""
