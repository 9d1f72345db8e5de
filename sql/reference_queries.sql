-- The seeds' verification queries (seed 000 "Verify in Postgres", seed 001 section 5).

-- Recent sample under a prefix
SELECT id, phone, campaign_name, b2_object_key, source_row_id, created_at
FROM media_pipeline.audio_files
WHERE b2_object_key LIKE 'dexter-audio/%'
ORDER BY id DESC
LIMIT 10;

-- Count inserted under a prefix
SELECT COUNT(*) FROM media_pipeline.audio_files WHERE b2_object_key LIKE 'dexter-audio/%';

-- Dedupe guard (asset check no_duplicate_url_sha1): should return zero rows
SELECT url_sha1, COUNT(*) c
FROM media_pipeline.audio_files
GROUP BY url_sha1
HAVING COUNT(*) > 1
ORDER BY c DESC;

-- Full call log, one row per recording, by phone then time
SELECT a.phone, a.campaign_name, COALESCE(a.recording_id, 'N/A') AS recording_id,
       a.url AS location, a.duration_seconds, a.started, a.stopped
FROM media_pipeline.audio_files a
WHERE a.phone IS NOT NULL
ORDER BY a.phone, a.started NULLS LAST, a.id;

-- Grouped by phone, chronological URL list
SELECT a.phone, a.campaign_name, COUNT(*) AS total_recordings,
       MIN(a.started) AS first_call_time, MAX(a.started) AS last_call_time,
       STRING_AGG(a.url, E'\n' ORDER BY a.started NULLS LAST) AS recording_urls
FROM media_pipeline.audio_files a
GROUP BY a.phone, a.campaign_name
ORDER BY a.phone, first_call_time;

-- Orphan transcriptions (should be 0)
SELECT COUNT(*) AS orphan_transcriptions
FROM media_pipeline.transcriptions t
LEFT JOIN media_pipeline.audio_files a ON a.id = t.audio_file_id
WHERE a.id IS NULL;

-- URLs that could not be ingested, and why (our additive table)
SELECT status, error_code, COUNT(*) FROM media_pipeline.ingest_failures GROUP BY 1, 2 ORDER BY 3 DESC;

-- Calls by company (additive column audio_files.company: from the CSV's company column or
-- MEDIA_PIPELINE_CAMPAIGN_COMPANIES; '(none)' for rows cataloged before, or unmapped)
SELECT COALESCE(a.company, '(none)') AS company, a.campaign_name, COUNT(*) AS recordings,
       MIN(a.started) AS first_call, MAX(a.started) AS last_call, SUM(a.file_size_bytes) AS bytes
FROM media_pipeline.audio_files a
GROUP BY COALESCE(a.company, '(none)'), a.campaign_name
ORDER BY 1, 2;
