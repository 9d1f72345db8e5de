"""The gateway against real PostgreSQL (catalog + the dialer's tables), SeaweedFS and the audio origin."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections import Counter
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient

from media_pipeline_dagster.calls.transfer import TransferSettings
from media_pipeline_dagster.gateway.api import create_app
from media_pipeline_dagster.gateway.config import GatewaySettings
from media_pipeline_dagster.kernel.fetch import FetchPolicy, parse_networks
from media_pipeline_dagster.resources.databases import CatalogResource

from ..servers.audio_origin import gen_bytes

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
        conn.execute(
            sa.text(
                "INSERT INTO public.contacts VALUES ('c1', ' +49 (151) 1063-5004 ', 'RDSFPLHE9BT68CFW')"
            )
        )
        conn.execute(
            sa.text("INSERT INTO public.campaign_map VALUES ('RDSFPLHE9BT68CFW', 'Gateway Calls')")
        )
        conn.execute(
            sa.text("INSERT INTO public.recordings VALUES (:id, 'c1', :url, :started, NULL)"),
            [{"started": "2025-08-27T10:00:00Z", **r} for r in recordings],
        )
    engine.dispose()


@pytest.fixture
def gateway_settings(pg_url, object_store) -> GatewaySettings:
    return GatewaySettings(
        catalog_engine=CatalogResource(database_url=pg_url).engine,
        recordings_engine=sa.create_engine(pg_url),
        object_store=object_store,
        api_keys={"ops": KEY, "other": "second-" + "y" * 20},
        b2_prefix="gateway",
        transfer=TransferSettings(
            concurrency=1,
            max_attempts=2,
            backoff_base=0.05,
            backoff_max=0.1,
            read_timeout=3.0,
            connect_timeout=2.0,
            max_bytes=200_000,
            audio_only=True,
            fetch_policy=FetchPolicy(allowed_networks=parse_networks(["127.0.0.1/32"])),
        ),
    )


@pytest.fixture
def client(gateway_settings) -> TestClient:
    with TestClient(create_app(gateway_settings)) as c:
        yield c


class Receiver:
    def __init__(self, host: str = "127.0.0.1"):
        self.calls: list[dict] = []
        self.fail_next = 0
        self.redirect_to: str | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append({"body": body, "headers": dict(self.headers)})
                status = 500 if receiver.fail_next > 0 else 307 if receiver.redirect_to else 204
                receiver.fail_next = max(0, receiver.fail_next - 1)
                self.send_response(status)
                if receiver.redirect_to:
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


@contextmanager
def served(app, **config):
    """The app on a real uvicorn (a thread of this process) on a free port; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def wait_for(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def audio_rows(settings):
    with settings.catalog_engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT * FROM media_pipeline.audio_files ORDER BY id")))


def stored_keys(object_store) -> set[str]:
    return {o.key for o in object_store.list_versions().objects}


class MisbehavingOrigin:
    """Audio routes, some holding the client: ``/audio/<name>.mp3`` answers at once,
    ``/gate/<name>.mp3`` once ``release`` is set, ``/stall/<name>.mp3`` sends headers and
    1,000 of the promised 100,000 bytes, then waits; ``/redirect/<n>?to=<url>`` answers 302
    to ``to``. ``host`` is the address it listens on (127.0.0.2 stands for an internal host)."""

    def __init__(self, host: str = "127.0.0.1"):
        self.release = threading.Event()
        self.stop = threading.Event()
        self.hits: Counter[str] = Counter()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                origin.hits[path] += 1
                if path.startswith("/redirect/"):
                    target = re.search(r"[?&]to=(.+)$", self.path).group(1)
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if path.startswith(("/gate/", "/audio/")):
                    if path.startswith("/gate/"):
                        origin.release.wait(60)
                    body = gen_bytes(path, 4000)
                    self.send_response(200)
                    self.send_header("Content-Type", "audio/mpeg")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)  # /stall/
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(gen_bytes(path, 1000))
                self.wfile.flush()
                origin.stop.wait(120)

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def url(self, path: str) -> str:
        return self.base_url + path


@contextmanager
def misbehaving(host: str = "127.0.0.1"):
    origin = MisbehavingOrigin(host)
    try:
        yield origin
    finally:
        origin.release.set()
        origin.stop.set()
        origin.server.shutdown()
        origin.server.server_close()


@pytest.fixture
def misbehaving_origin():
    with misbehaving() as origin:
        yield origin
