"""The gateway's fetches under the project's fetch policy, on a real uvicorn: recordings whose
location leads inside, file:// locations, webhook receivers that point elsewhere.

The tests allow 127.0.0.1/32 (the origins and receivers run there); 127.0.0.2, also on
this machine, stands for an internal host nobody allowed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from media_pipeline_dagster.gateway.api import create_app
from media_pipeline_dagster.gateway.webhooks import deliver_due
from media_pipeline_dagster.kernel.fetch import FetchPolicy

from .conftest import KEY, Receiver, audio_rows, misbehaving, seed_recordings, served, stored_keys
from .test_webhooks import SECRET, complete, submit_with_callback

H = {"X-API-Key": KEY}
ROOT_PASSWD = "726f6f743a783a30"  # 'root:x:0' as hex, what a body sniff of /etc/passwd once leaked


def submit(base: str, recording_id: str) -> requests.Response:
    return requests.post(
        f"{base}/api/media/transcribe", data={"recording_id": recording_id}, headers=H, timeout=30
    )


def failures(settings) -> list[str]:
    with settings.catalog_engine.connect() as conn:
        return [
            r.error
            for r in conn.execute(sa.text("SELECT error FROM media_pipeline.ingest_failures"))
        ]


def test_a_location_redirecting_to_an_internal_address_is_refused(
    gateway_settings, pg_url, object_store
):
    with misbehaving("127.0.0.1") as public, misbehaving("127.0.0.2") as internal:
        inside = internal.url("/audio/PR_inside.mp3")
        seed_recordings(
            pg_url,
            [
                {"id": "1", "url": public.url(f"/redirect/1?to={inside}")},
                {
                    "id": "2",
                    "url": public.url(
                        "/redirect/2?to=http://169.254.169.254/latest/meta-data/PR_meta.mp3"
                    ),
                },
            ],
        )
        with served(create_app(gateway_settings)) as base:
            to_loopback, to_metadata = submit(base, "1"), submit(base, "2")
        assert internal.hits == {}  # never connected to
    assert (
        to_loopback.status_code == 422
        and "loopback address 127.0.0.2 is not allowed" in to_loopback.json()["detail"]
    )
    assert to_metadata.status_code == 422 and "link-local" in to_metadata.json()["detail"]
    assert audio_rows(gateway_settings) == [] and stored_keys(object_store) == set()


@pytest.mark.parametrize("with_root", [False, True])
def test_file_locations_say_nothing_about_the_disk(
    gateway_settings, pg_url, object_store, tmp_path, with_root
):
    root = tmp_path / "audio"
    root.mkdir()
    if with_root:
        policy = dataclasses.replace(
            gateway_settings.transfer.fetch_policy, local_root=root.resolve()
        )
        gateway_settings.transfer = dataclasses.replace(
            gateway_settings.transfer, fetch_policy=policy
        )
    seed_recordings(
        pg_url,
        [
            {"id": "1", "url": "file:///etc/passwd"},
            {"id": "2", "url": "file:///etc/no-such-file-here"},
            {"id": "3", "url": (root / ".." / "secret.wav").as_uri()},
        ],
    )
    (tmp_path / "secret.wav").write_bytes(b"RIFF....WAVE")
    with served(create_app(gateway_settings)) as base:
        answers = [submit(base, i) for i in ("1", "2", "3")]
    details = [a.json()["detail"] for a in answers]
    assert [a.status_code for a in answers] == [422, 422, 422], details
    reason = "outside the local audio root" if with_root else "file:// URLs are not allowed"
    assert all(reason in d for d in details), details
    # The same words whether the path exists or not, and never a byte of it.
    same = [
        d.replace("recording 1:", "recording <id>:").replace("recording 2:", "recording <id>:")
        for d in details[:2]
    ]
    assert same[0].replace("/etc/passwd", "<path>") == same[1].replace(
        "/etc/no-such-file-here", "<path>"
    )
    for text in details + failures(gateway_settings):
        assert (
            ROOT_PASSWD not in text
            and "root:x" not in text
            and "RIFF" not in text
            and "no such file" not in text
        )
    assert audio_rows(gateway_settings) == [] and stored_keys(object_store) == set()


def test_a_file_inside_the_local_audio_root_is_stored(
    gateway_settings, pg_url, object_store, tmp_path
):
    root = tmp_path / "audio"
    root.mkdir()
    sample = Path(__file__).parents[2] / "media_pipeline_dagster" / "samples" / "audio"
    wav = next(sample.glob("*.wav"))
    (root / "PR_local-1.wav").write_bytes(wav.read_bytes())
    policy = dataclasses.replace(gateway_settings.transfer.fetch_policy, local_root=root.resolve())
    gateway_settings.transfer = dataclasses.replace(
        gateway_settings.transfer, fetch_policy=policy, max_bytes=None
    )
    seed_recordings(pg_url, [{"id": "1", "url": (root / "PR_local-1.wav").as_uri()}])
    with served(create_app(gateway_settings)) as base:
        answer = submit(base, "1")
    assert answer.status_code == 200, answer.text
    assert stored_keys(object_store) == {answer.json()["b2_key"]}


def test_a_webhook_receiver_redirecting_inside_gets_no_second_post(
    gateway_settings, pg_url, origin, receiver
):
    inner = Receiver(host="127.0.0.2")
    try:
        seed_recordings(pg_url, [{"id": "1", "url": origin.url("/gen/1000/a.mp3")}])
        audio_id = submit_with_callback(gateway_settings, receiver.url)
        complete(gateway_settings.catalog_engine, audio_id)
        receiver.redirect_to = inner.url
        assert (
            deliver_due(
                gateway_settings.catalog_engine, SECRET, policy=gateway_settings.fetch_policy
            )
            == 0
        )
        assert len(receiver.calls) == 1 and inner.calls == []
    finally:
        inner.server.shutdown()


def test_a_callback_host_resolving_to_an_internal_address_is_refused(
    gateway_settings, pg_url, origin
):
    """Allowed by name (GATEWAY_CALLBACK_HOSTS), refused by the address it resolves to."""
    receiver = Receiver()
    try:
        seed_recordings(pg_url, [{"id": "1", "url": origin.url("/gen/1000/a.mp3")}])
        by_name = receiver.url.replace("127.0.0.1", "localhost")
        gateway_settings.callback_hosts = frozenset({"localhost"})
        audio_id = submit_with_callback(gateway_settings, by_name, hosts={"localhost"})
        complete(gateway_settings.catalog_engine, audio_id)
        assert (
            deliver_due(gateway_settings.catalog_engine, SECRET, policy=FetchPolicy()) == 0
        )  # nothing internal allowed
        assert receiver.calls == []
        with gateway_settings.catalog_engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT delivered_status, last_error FROM media_pipeline.gateway_callbacks")
            ).one()
        assert row.delivered_status == "refused" and "loopback address" in row.last_error
    finally:
        receiver.server.shutdown()


def test_a_callback_url_at_an_internal_address_is_422_at_submit(gateway_settings, pg_url, origin):
    seed_recordings(pg_url, [{"id": "1", "url": origin.url("/gen/1000/a.mp3")}])
    gateway_settings.callback_hosts = frozenset({"10.0.0.7", "169.254.169.254"})
    gateway_settings.webhook_secret = SECRET
    with served(create_app(gateway_settings)) as base:
        for url in ("http://10.0.0.7/hook", "http://169.254.169.254/latest"):
            answer = requests.post(
                f"{base}/api/media/transcribe",
                data={"recording_id": "1", "callback_url": url},
                headers=H,
                timeout=30,
            )
            assert answer.status_code == 422 and "is not allowed" in answer.json()["detail"], (
                answer.text
            )
    assert audio_rows(gateway_settings) == []
