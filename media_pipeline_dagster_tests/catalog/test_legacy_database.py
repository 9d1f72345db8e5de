"""Our DDL against a PostgreSQL database the seeds' scripts already created and filled."""

from __future__ import annotations

import secrets

import pytest
import sqlalchemy as sa

from media_pipeline_dagster.catalog.schema import (
    SchemaUpgradeError,
    create_catalog_engine,
    ensure_schema,
    mask_database_url,
    normalize_database_url,
)

# The seed's appendix DDL, as the legacy scripts ran it (trimmed to audio_files + transcriptions).
LEGACY_DDL = """
CREATE SCHEMA IF NOT EXISTS media_pipeline;
CREATE TABLE media_pipeline.audio_files (
  id BIGSERIAL PRIMARY KEY, phone TEXT, campaign_name TEXT, recording_id TEXT, url TEXT NOT NULL,
  url_sha1 TEXT NOT NULL, content_sha256 TEXT, started TIMESTAMPTZ, stopped TIMESTAMPTZ,
  duration_seconds DOUBLE PRECISION, index_in_phone INTEGER, b2_object_key TEXT, local_path TEXT,
  file_size_bytes BIGINT, source_table TEXT, source_row_id BIGINT, created_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE UNIQUE INDEX uq_audio_files_recording_id ON media_pipeline.audio_files (recording_id) WHERE recording_id IS NOT NULL;
CREATE UNIQUE INDEX uq_audio_files_url_sha1 ON media_pipeline.audio_files (url_sha1);
CREATE TABLE media_pipeline.transcriptions (
  id BIGSERIAL PRIMARY KEY, audio_file_id BIGINT NOT NULL REFERENCES media_pipeline.audio_files(id) ON DELETE CASCADE,
  provider TEXT, model TEXT, status TEXT NOT NULL DEFAULT 'completed', created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  completed_at TIMESTAMPTZ, transcript_text TEXT, segments JSONB, diarization JSONB, metadata JSONB, b2_transcript_key TEXT);
INSERT INTO media_pipeline.audio_files (url, url_sha1, phone, b2_object_key)
VALUES ('https://vault.example/vr/PR_old.mp3', 'legacy-sha1', '+49', 'audio/dexter/+49/old.mp3');
"""


def test_ddl_upgrades_a_legacy_database_additively(pg_url):
    legacy = sa.create_engine(pg_url)
    with legacy.begin() as conn:
        for statement in LEGACY_DDL.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
    engine = create_catalog_engine(pg_url)
    ensure_schema(engine)
    with engine.connect() as conn:
        cols = {
            c["name"]
            for c in sa.inspect(conn).get_columns("transcriptions", schema="media_pipeline")
        }
        legacy_row = conn.execute(
            sa.text("SELECT url_sha1, b2_object_key FROM media_pipeline.audio_files")
        ).one()
        tables = set(sa.inspect(conn).get_table_names(schema="media_pipeline"))
    assert "raw_response" in cols  # the seed's optional column, added
    assert tuple(legacy_row) == ("legacy-sha1", "audio/dexter/+49/old.mp3")  # kept as it was
    assert {"transcription_failures", "transcription_claims", "ingest_failures"} <= tables
    with engine.connect() as conn:
        audio_cols = {
            c["name"] for c in sa.inspect(conn).get_columns("audio_files", schema="media_pipeline")
        }
        assert conn.scalar(sa.text("SELECT company FROM media_pipeline.audio_files")) is None
    assert "company" in audio_cols


def test_a_role_that_may_not_alter_gets_the_statement_to_run(pg_url):
    """Tables created by the owner; the pipeline runs as a role with DML grants only."""
    owner = create_catalog_engine(pg_url)
    ensure_schema(owner)
    role = f"mp_writer_{secrets.token_hex(4)}"
    with owner.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE media_pipeline.audio_files DROP COLUMN company")
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA media_pipeline TO {role}")
        conn.exec_driver_sql(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA media_pipeline TO {role}"
        )
    try:
        writer = create_catalog_engine(
            sa.engine.make_url(pg_url).set(username=role, password=None).render_as_string(False)
        )
        with pytest.raises(
            SchemaUpgradeError,
            match=r"lacks column\(s\) media_pipeline.audio_files.company .*run sql/postgres/0004_audio_files_company.sql as the table's owner",
        ):
            ensure_schema(writer)
        writer.dispose()
        ensure_schema(owner)  # the owner adds it; the writer then needs no DDL at all
        writer = create_catalog_engine(
            sa.engine.make_url(pg_url).set(username=role, password=None).render_as_string(False)
        )
        ensure_schema(writer)
        writer.dispose()
    finally:
        with owner.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        owner.dispose()


def test_database_urls_are_normalized_and_masked():
    assert (
        normalize_database_url("postgresql+asyncpg://u:p@h:5433/manuav")
        == "postgresql+psycopg2://u:p@h:5433/manuav"
    )
    assert normalize_database_url("postgres://u:p@h/db").startswith("postgresql+psycopg2://")
    assert (
        mask_database_url("postgresql+psycopg2://u:s3cret@h/db")
        == "postgresql+psycopg2://u:***@h/db"
    )
