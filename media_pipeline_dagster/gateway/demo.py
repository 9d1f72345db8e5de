"""The demo's gateway step: one request against the local profile, transcribed, its status printed.

A tiny dialer database (SQLite, attached as ``public``) holds one recording pointing at a
shipped sample call; the request goes through the real app (in-process HTTP), the
pending sensor's run transcribes it, and the status endpoint reports it completed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from importlib import resources
from pathlib import Path

RECORDING_ID = "900001"
DIALER_SAMPLE = "PR_gateway-demo-0001.wav"  # links to PR_b1c2d3e4-5f6a-4b7c-8d9e-0f1a2b3c4d5e.wav
DEMO_KEY = "demo-key"


def seed_recordings(path: Path) -> None:
    # The dialer's own name for a shipped sample (a link inside the local audio root): its
    # URL differs from the CSV sample's, so it is a new call.
    audio = Path(
        str(
            resources.files("media_pipeline_dagster")
            / "samples"
            / "audio"
            / "dialer"
            / DIALER_SAMPLE
        )
    )
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE IF NOT EXISTS contacts ("$id" TEXT PRIMARY KEY, "$phone" TEXT, "$campaign_id" TEXT);
            CREATE TABLE IF NOT EXISTS recordings (id TEXT PRIMARY KEY, contact_id TEXT, location TEXT, started TEXT, stopped TEXT);
            CREATE TABLE IF NOT EXISTS campaign_map (campaign_id TEXT PRIMARY KEY, campaign TEXT);
        """)
        db.execute("INSERT OR IGNORE INTO contacts VALUES ('demo-c1', '+49 30 1234 567', 'GWDEMO')")
        db.execute("INSERT OR IGNORE INTO campaign_map VALUES ('GWDEMO', 'Gateway Demo')")
        db.execute(
            "INSERT OR IGNORE INTO recordings VALUES (?, 'demo-c1', ?, '2025-09-01T08:30:00Z', '2025-09-01T08:30:06Z')",
            (RECORDING_ID, audio.as_uri()),
        )


def run_gateway_demo(
    data_dir: Path,
    audio_root: Path,
    transcribe_pending: Callable[[], bool],
    out: Callable[[str], None] = print,
) -> bool:
    from fastapi.testclient import TestClient

    from .api import create_app
    from .config import load_gateway_settings

    recordings = data_dir / "dialer.sqlite"
    seed_recordings(recordings)
    settings = load_gateway_settings(
        {
            "MEDIA_PIPELINE_ENV": "local",
            "MEDIA_PIPELINE_DATA_DIR": str(data_dir),
            "MEDIA_PIPELINE_LOCAL_AUDIO_ROOT": str(audio_root),
            "API_KEY": DEMO_KEY,
            "RECORDINGS_DATABASE_URL": f"sqlite:///{recordings}",
            "GATEWAY_B2_PREFIX": "gateway",
        }
    )
    headers = {"X-API-Key": DEMO_KEY}
    with TestClient(create_app(settings)) as client:
        answer = client.post(
            "/api/media/transcribe", data={"recording_id": RECORDING_ID}, headers=headers
        )
        out(
            f"POST /api/media/transcribe recording_id={RECORDING_ID} -> {answer.status_code} {answer.text}"
        )
        if answer.status_code != 200:
            return False
        audio_id = answer.json()["audio_file_id"]
        ok = transcribe_pending()
        status = client.get(f"/api/media/status/{audio_id}", headers=headers).json()
    out(f"GET /api/media/status/{audio_id} -> {json.dumps(status, ensure_ascii=False)}")
    return ok and status["status"] == "completed"
