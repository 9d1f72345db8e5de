"""Untrusted URLs in CSV rows: the fetch policy decides, nothing refused reaches the bucket."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from media_pipeline_dagster.resources.fetch import FetchPolicyResource

from ..kernel.test_fetch import Listener
from .helpers import bucket_objects, catalog_rows, failures, materialize, metadata, token, write_csv


@pytest.fixture
def internal_listener():
    listener = Listener("127.0.0.2")
    yield listener
    listener.close()


def test_refused_urls_are_recorded_and_never_stored(
    instance, pipeline_resources, inbox, origin, tmp_path: Path, internal_listener
):
    t = token()
    root = tmp_path / "audio_root"
    root.mkdir()
    (root / "ok.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(64))
    (root / "escape.wav").symlink_to("/etc/passwd")
    redirect = origin.url("/redirect-to?url=")
    refused = {
        "file:///etc/passwd": "outside the local audio root",
        (root / "escape.wav").as_uri(): "outside the local audio root",
        (root.parent / "does-not-exist.wav").as_uri(): "outside the local audio root",
        redirect
        + quote(
            f"http://127.0.0.2:{internal_listener.port}/admin/{t}.mp3", safe=""
        ): "loopback address 127.0.0.2",
        redirect + quote("http://169.254.169.254/latest/meta-data/", safe=""): "link-local",
        redirect + quote("file:///etc/passwd", safe=""): "file://",
        origin.url(f"/redirect/6/gen/2048/{t}/six.mp3"): "more than 5 redirects",
        origin.url(f"/gen/2048/{t}/a.mp3").replace(
            "127.0.0.1", "127.0.0.2"
        ): "loopback address 127.0.0.2",
    }
    fine = [(root / "ok.wav").as_uri(), origin.url(f"/redirect/5/gen/2048/{t}/five.mp3")]
    write_csv(inbox, [{"url": u} for u in [*refused, *fine]])
    resources = {
        **pipeline_resources,
        "fetch_policy": FetchPolicyResource(
            allow_networks=["127.0.0.1/32"], local_audio_root=str(root)
        ),
    }

    meta = metadata(materialize(instance, resources))

    assert (meta["new"], meta["failed"]) == (2, len(refused))
    recorded = failures(resources)
    for url, reason in refused.items():
        row = recorded[url]
        assert reason in row.error and row.status == "permanent", (url, row.error)
        assert "root:x" not in row.error
    assert sorted(r.url for r in catalog_rows(resources)) == sorted(fine)
    stored = bucket_objects(resources)
    assert len(stored) == 2
    assert internal_listener.connections == 0
