"""The README's first command: the demo ingests and transcribes the shipped samples; a second run does nothing."""

from __future__ import annotations

import sqlalchemy as sa

from media_pipeline_dagster import demo


def test_demo_ingests_the_samples_once(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    for name in (
        "DATABASE_URL",
        "MEDIA_PIPELINE_CSV_INBOX",
        "RECORDINGS_DATABASE_URL",
        "MEDIA_PIPELINE_B2_PREFIX",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MEDIA_PIPELINE_ENV", "local")
    monkeypatch.setenv("MEDIA_PIPELINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))

    assert demo.main() == 0
    first = capsys.readouterr().out
    assert "3 new, 0 already cataloged, 3 failed" in first and "2 new" in first
    assert "no audio URL" in first and "unparseable timestamp 'yesterday at noon'" in first
    assert "3 transcribed with faster-whisper tiny.en" in first and "5 transcriptions" in first
    assert "latest transcript" in first and "colleague" in first  # the spoken sample, heard offline
    assert "check every_inventory_object_in_d1: passed" in first
    assert "POST /api/media/transcribe recording_id=900001 -> 200" in first
    assert '"status": "completed", "transcript": "Good morning.' in first
    assert "S3 Archive Statistics" in first and "Archived:          6 (100.0%)" in first

    assert demo.main() == 0
    second = capsys.readouterr().out
    assert "0 rows written" in second
    assert (
        "no new or changed CSV files" in second
        and "pending_transcriptions_sensor: no pending audio" in second
    )
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'data' / 'catalog.media_pipeline.sqlite'}")
    with engine.connect() as conn:
        assert (
            conn.scalar(sa.text("SELECT COUNT(*) FROM audio_files")) == 6
        )  # 5 sample calls + the gateway request
    assert len([p for p in (tmp_path / "data" / "bucket").rglob("*.wav")]) == 6
