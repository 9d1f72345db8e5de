"""SQLAlchemy Core view of the media_pipeline tables, shared by PostgreSQL and SQLite.

The DDL in ``sql/`` creates the tables; these objects only describe them for queries.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA = "media_pipeline"


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware timestamps on both backends.

    PostgreSQL stores TIMESTAMPTZ natively; SQLite gets ISO-8601 text in UTC with an
    explicit offset, so text order is time order and values read back are aware.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Text())
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: catalog timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        return value.isoformat(timespec="microseconds") if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")

metadata = sa.MetaData(schema=SCHEMA)

audio_files = sa.Table(
    "audio_files",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("phone", sa.Text),
    sa.Column("campaign_name", sa.Text),
    sa.Column("recording_id", sa.Text),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("url_sha1", sa.Text, nullable=False),
    sa.Column("content_sha256", sa.Text),
    sa.Column("started", UTCDateTime),
    sa.Column("stopped", UTCDateTime),
    sa.Column("duration_seconds", sa.Float),
    sa.Column("index_in_phone", sa.Integer),
    sa.Column("b2_object_key", sa.Text),
    sa.Column("local_path", sa.Text),
    sa.Column("file_size_bytes", sa.BigInteger),
    sa.Column("source_table", sa.Text),
    sa.Column("source_row_id", sa.BigInteger),
    sa.Column("created_at", UTCDateTime),
    sa.Column("company", sa.Text),  # additive (sql/*/0004): the client a campaign belongs to
)

transcriptions = sa.Table(
    "transcriptions",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("audio_file_id", sa.BigInteger, nullable=False),
    sa.Column("provider", sa.Text),
    sa.Column("model", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("created_at", UTCDateTime),
    sa.Column("completed_at", UTCDateTime),
    sa.Column("transcript_text", sa.Text),
    sa.Column("segments", JSONType),
    sa.Column("diarization", JSONType),
    sa.Column("metadata", JSONType),
    sa.Column("raw_response", JSONType),
    sa.Column("b2_transcript_key", sa.Text),
)

transcription_failures = sa.Table(
    "transcription_failures",
    metadata,
    sa.Column("audio_file_id", sa.BigInteger, primary_key=True),
    sa.Column("provider", sa.Text),
    sa.Column("model", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("error_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("attempts", sa.Integer),
    sa.Column("last_attempt_at", UTCDateTime),
    sa.Column("ignore_until", UTCDateTime),
)

transcription_claims = sa.Table(
    "transcription_claims",
    metadata,
    sa.Column("audio_file_id", sa.BigInteger, primary_key=True),
    sa.Column("claimed_by", sa.Text, nullable=False),
    sa.Column("claimed_at", UTCDateTime),
    sa.Column("expires_at", UTCDateTime),
)

ingest_failures = sa.Table(
    "ingest_failures",
    metadata,
    sa.Column("url_sha1", sa.Text, primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("campaign_name", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("error_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("attempts", sa.Integer),
    sa.Column("first_failed_at", UTCDateTime),
    sa.Column("last_attempt_at", UTCDateTime),
)

gateway_callbacks = sa.Table(
    "gateway_callbacks",
    metadata,
    sa.Column("audio_file_id", sa.BigInteger, primary_key=True),
    sa.Column("callback_url", sa.Text, primary_key=True),
    sa.Column("key_name", sa.Text),
    sa.Column("created_at", UTCDateTime),
    sa.Column("attempts", sa.Integer),
    sa.Column("next_attempt_at", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("delivered_at", UTCDateTime),
    sa.Column("delivered_status", sa.Text),
)
