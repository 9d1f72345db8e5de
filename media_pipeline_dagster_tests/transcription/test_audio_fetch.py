"""Audio read from a row's URL goes through the fetch policy: what it refuses never reaches OpenAI."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from media_pipeline_dagster.resources.fetch import FetchPolicyResource

from ..kernel.test_fetch import Listener
from .helpers import materialize, metadata, seed_audio, table, wav_bytes


@pytest.fixture
def internal_listener():
    listener = Listener("127.0.0.2")
    yield listener
    listener.close()


def seed_urls(resources, urls: list[str]) -> dict[int, str]:
    """One audio_files row without a bucket object per URL: the run must fetch each URL."""
    engine = resources["catalog"].engine
    ids = seed_audio(
        engine,
        resources["object_store"],
        [wav_bytes(0.2, freq=100 + i) for i in range(len(urls))],
        with_object=False,
    )
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE media_pipeline.audio_files SET url = :u WHERE id = :i"),
            [{"u": u, "i": i} for u, i in zip(urls, ids)],
        )
    return dict(zip(ids, urls))


def test_urls_the_policy_refuses_are_permanent_failures_and_never_sent(
    instance, openai_resources, openai_fake, origin, tmp_path: Path, internal_listener
):
    root = tmp_path / "audio_root"
    root.mkdir()
    inside = wav_bytes(1.0, freq=610)
    (root / "ok.wav").write_bytes(inside)
    (root / "escape.wav").symlink_to("/etc/passwd")
    five_hops = wav_bytes(1.0, freq=620)
    origin.add_file("/calls/five-hops.wav", five_hops, "audio/wav")
    redirect = origin.url("/redirect-to?url=")
    refused = {
        "file:///etc/passwd": "outside the local audio root",
        (root / "escape.wav").as_uri(): "outside the local audio root",  # a symlink out of the root
        (root.parent / "does-not-exist.wav").as_uri(): "outside the local audio root",
        redirect
        + quote(
            f"http://127.0.0.2:{internal_listener.port}/admin/x.wav", safe=""
        ): "loopback address 127.0.0.2",
        redirect + quote("http://169.254.169.254/latest/meta-data/", safe=""): "link-local",
        redirect + quote("file:///etc/passwd", safe=""): "refused to fetch file:///etc/passwd",
        redirect
        + quote((root / "ok.wav").as_uri(), safe=""): "a redirect to file:// is never followed",
        origin.url("/redirect/6/calls/five-hops.wav"): "more than 5 redirects",
        origin.url("/calls/five-hops.wav").replace(
            "127.0.0.1", "127.0.0.2"
        ): "loopback address 127.0.0.2",
    }
    fine = [(root / "ok.wav").as_uri(), origin.url("/redirect/5/calls/five-hops.wav")]
    rows = seed_urls(openai_resources, [*refused, *fine])
    resources = {
        **openai_resources,
        "fetch_policy": FetchPolicyResource(
            allow_networks=["127.0.0.1/32"], local_audio_root=str(root)
        ),
    }

    meta = metadata(materialize(instance, resources))

    assert meta["transcribed"] == 2 and meta["failed"] == len(refused)
    failures = {
        rows[f.audio_file_id]: f
        for f in table(openai_resources["catalog"].engine, "transcription_failures")
    }
    for url, reason in refused.items():
        failure = failures[url]
        assert failure.status == "permanent" and reason in failure.error, (url, failure.error)
        assert "root:x" not in failure.error  # never a byte of what was refused
    # a path outside the root reads the same whether it exists or not
    assert failures["file:///etc/passwd"].error.replace("/etc/passwd", "P") == failures[
        (root.parent / "does-not-exist.wav").as_uri()
    ].error.replace(str(root.parent / "does-not-exist.wav"), "P")
    assert {r.file_sha256 for r in openai_fake.requests} == {
        hashlib.sha256(b).hexdigest() for b in (inside, five_hops)
    }
    assert internal_listener.connections == 0


def test_without_an_audio_root_or_allowed_networks_local_and_loopback_urls_are_refused(
    instance, openai_resources, openai_fake, origin
):
    origin.add_file("/calls/local.wav", wav_bytes(1.0, freq=630), "audio/wav")
    by_name = origin.url("/calls/local.wav").replace(
        "127.0.0.1", "localhost"
    )  # a name resolving to loopback
    rows = seed_urls(openai_resources, ["file:///etc/passwd", by_name])
    resources = {**openai_resources, "fetch_policy": FetchPolicyResource()}

    meta = metadata(materialize(instance, resources))

    assert meta["transcribed"] == 0 and meta["failed"] == 2 and openai_fake.requests == []
    failures = {
        rows[f.audio_file_id]: f.error
        for f in table(openai_resources["catalog"].engine, "transcription_failures")
    }
    assert (
        "file:// URLs are not allowed (no local audio root is configured"
        in failures["file:///etc/passwd"]
    )
    assert "resolves to a loopback address 127.0.0.1" in failures[by_name]
    assert (
        "MEDIA_PIPELINE_FETCH_ALLOW_NETWORKS" in failures[by_name]
    )  # says what to do if it is yours
    assert origin.hits("/calls/local.wav") == 0
