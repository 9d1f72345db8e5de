"""Social media cache archive: post_media rows and cache/media files -> S3, archive_url set (the old upload_to_s3.py)."""
