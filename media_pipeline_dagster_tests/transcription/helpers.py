"""Helpers for the transcription tests: audio rows with objects in the bucket, materialize, read back."""

from __future__ import annotations

import hashlib
import io
import math
import struct
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from media_pipeline_dagster.catalog import queries
from media_pipeline_dagster.kernel.keys import audio_object_key
from media_pipeline_dagster.transcription.assets import transcriptions

DAY = "2025-08-27"
PARTITION = f"dexter-outbound|{DAY}"
SAMPLES = Path(__file__).resolve().parents[2] / "media_pipeline_dagster" / "samples" / "audio"


def wav_bytes(seconds: float, rate: int = 16_000, channels: int = 1, freq: float = 440.0) -> bytes:
    """A tone of this length as WAV bytes."""
    frames = int(seconds * rate)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        chunk = 4096
        for start in range(0, frames, chunk):
            n = min(chunk, frames - start)
            samples = (
                int(8000 * math.sin(2 * math.pi * freq * (start + i) / rate)) for i in range(n)
            )
            w.writeframes(b"".join(struct.pack("<h", s) * channels for s in samples))
    return buf.getvalue()


def seed_audio(
    engine: sa.Engine,
    store,
    bodies: list[bytes],
    *,
    campaign: str = "Dexter Outbound",
    day: str = DAY,
    ext: str = "wav",
    with_object: bool = True,
    url_base: str = "https://vault.example/vr",
) -> list[int]:
    """Catalog one audio_files row per body (objects uploaded to the store); returns their ids in order."""
    rows = []
    for i, body in enumerate(bodies):
        started = datetime.fromisoformat(f"{day}T09:00:00+00:00") + timedelta(minutes=i)
        url = f"{url_base}/{campaign.replace(' ', '_')}_{day}_{i}_{hashlib.sha1(body).hexdigest()[:8]}.{ext}"
        url_sha1 = hashlib.sha1(url.encode()).hexdigest()
        key = audio_object_key(
            prefix="",
            campaign_slug=campaign,
            phone="+49151000",
            started=started,
            recording_id=None,
            url_sha1=url_sha1,
            ext=ext,
        )
        if with_object and store is not None:
            store.put_bytes(key, body)
        rows.append(
            {
                "phone": "+49151000",
                "campaign_name": campaign,
                "recording_id": None,
                "url": url,
                "url_sha1": url_sha1,
                "content_sha256": hashlib.sha256(body).hexdigest(),
                "started": started,
                "stopped": started + timedelta(seconds=30),
                "duration_seconds": 30.0,
                "index_in_phone": None,
                "b2_object_key": key if with_object else None,
                "local_path": None,
                "file_size_bytes": len(body),
                "source_table": "test",
                "source_row_id": None,
            }
        )
    with engine.begin() as conn:
        ids = queries.insert_audio_files(conn, rows)
    return [ids[r["url_sha1"]] for r in rows]


def materialize(
    instance: dg.DagsterInstance,
    resources: dict,
    partition: str = PARTITION,
    raise_on_error: bool = True,
    **config,
) -> dg.ExecuteInProcessResult:
    slug = partition.split("|")[0]
    if not instance.has_dynamic_partition("campaigns", slug):
        instance.add_dynamic_partitions("campaigns", [slug])
    return dg.materialize(
        [transcriptions],
        partition_key=partition,
        instance=instance,
        resources=resources,
        run_config={"ops": {"transcriptions": {"config": config}}},
        raise_on_error=raise_on_error,
    )


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    (mat,) = result.asset_materializations_for_node("transcriptions")
    return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def table(engine: sa.Engine, name: str, order: str = "audio_file_id") -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(f"SELECT * FROM media_pipeline.{name} ORDER BY {order}")))


def now() -> datetime:
    return datetime.now(UTC)
