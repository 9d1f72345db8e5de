"""The gateway against real PostgreSQL (catalog + the dialer's tables), SeaweedFS and the audio origin."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from media_pipeline_dagster.gateway.api import create_app
from media_pipeline_dagster.gateway.config import GatewaySettings
from media_pipeline_dagster.resources.databases import CatalogResource
from media_pipeline_dagster.calls.transfer import TransferSettings

KEY = "k-" + "x" * 30
SOURCE_DDL = """
CREATE TABLE public.contacts ("$id" TEXT PRIMARY KEY, "$phone" TEXT, "$campaign_id" TEXT);
CREATE TABLE public.recordings (id TEXT PRIMARY KEY, contact_id TEXT REFERENCES public.contacts("$id"),
                                location TEXT, started TEXT, stopped TEXT);
CREATE TABLE public.campaign_map (campaign_id TEXT PRIMARY KEY, campaign TEXT);
"""


def seed_recordings(pg_url: str, recordings: list[dict]) -> None:
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        for statement in SOURCE_DDL.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
        conn.execute(sa.text("INSERT INTO public.contacts VALUES ('c1', ' +49 (151) 1063-5004 ', 'RDSFPLHE9BT68CFW')"))
        conn.execute(sa.text("INSERT INTO public.campaign_map VALUES ('RDSFPLHE9BT68CFW', 'Gateway Calls')"))
        conn.execute(sa.text("INSERT INTO public.recordings VALUES (:id, 'c1', :url, :started, NULL)"),
                     [{"started": "2025-08-27T10:00:00Z", **r} for r in recordings])
    engine.dispose()


@pytest.fixture
def gateway_settings(pg_url, object_store) -> GatewaySettings:
    return GatewaySettings(
        catalog_engine=CatalogResource(database_url=pg_url).engine,
        recordings_engine=sa.create_engine(pg_url),
        object_store=object_store,
        api_keys={"ops": KEY, "other": "second-" + "y" * 20},
        b2_prefix="gateway",
        transfer=TransferSettings(concurrency=1, max_attempts=2, backoff_base=0.05, backoff_max=0.1,
                                  read_timeout=3.0, connect_timeout=2.0, max_bytes=200_000,
                                  audio_only=True),
    )


@pytest.fixture
def client(gateway_settings) -> TestClient:
    with TestClient(create_app(gateway_settings)) as c:
        yield c


class Receiver:
    def __init__(self):
        self.calls: list[dict] = []
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append({"body": body, "headers": dict(self.headers)})
                status = 500 if receiver.fail_next > 0 else 204
                receiver.fail_next = max(0, receiver.fail_next - 1)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()
