"""Sizes of many keys against SeaweedFS and a folder: by HEAD and by listing, and what a listing costs."""

from __future__ import annotations

import asyncio

from media_pipeline_dagster.kernel.keys import audio_folder
from media_pipeline_dagster.resources.bucket import LIST_MIN_KEYS

from ..calls.helpers import with_changes
from ..servers.slowdown_proxy import slowdown_proxy


def put_many(resource, keys: list[str], size: int = 3) -> list[str]:
    for key in keys:
        resource.put_bytes(key, b"x" * size)
    return keys


def test_sizes_by_listing_and_by_head_agree(any_bucket):
    store = any_bucket
    many = put_many(store, [f"c/audio/+49/{i:04d}.mp3" for i in range(LIST_MIN_KEYS + 30)], size=5)
    few = put_many(store, [f"other/audio/+43/{i}.mp3" for i in range(3)], size=7)
    put_many(
        store, [f"c/audio/+50/{i}.mp3" for i in range(40)], size=1
    )  # neighbours the listing must skip
    wanted = many[10:] + few + ["c/audio/+49/missing.mp3", "other/audio/+43/missing.mp3"]
    sizes = asyncio.run(store.sizes(wanted, folder_of=audio_folder))
    assert {k: sizes[k] for k in many[10:]} == dict.fromkeys(many[10:], 5)
    assert {k: sizes[k] for k in few} == dict.fromkeys(few, 7)
    assert sizes["c/audio/+49/missing.mp3"] is None and sizes["other/audio/+43/missing.mp3"] is None


def test_listing_costs_pages_not_requests_per_key_and_gives_up_on_crowded_folders(
    object_store, s3_server
):
    keys = put_many(object_store, [f"big/audio/+1/{i:04d}.mp3" for i in range(1200)])
    wanted = keys[::24]  # 50 keys spread over 1,200 entries: two pages of listing
    with slowdown_proxy(s3_server.endpoint_url) as proxy:
        counted = with_changes(object_store, endpoint_url=proxy.endpoint_url)
        assert asyncio.run(
            counted.sizes(wanted, folder_of=audio_folder, list_ratio=100)
        ) == dict.fromkeys(wanted, 3)
        listed_requests = proxy.forwarded
        # Allowed one page only: what the first 1,000 entries did not hold is asked by HEAD.
        assert asyncio.run(
            counted.sizes(wanted, folder_of=audio_folder, list_ratio=1)
        ) == dict.fromkeys(wanted, 3)
        gave_up_requests = proxy.forwarded - listed_requests
    beyond_first_page = sum(1 for k in wanted if keys.index(k) >= 1000)
    assert listed_requests == 2
    assert gave_up_requests == 1 + beyond_first_page


def test_unsigned_payload_uploads_are_accepted_by_a_sigv4_server(object_store):
    unsigned = with_changes(object_store, unsigned_payload=True)
    unsigned.put_bytes("u/x.mp3", b"ID3 unsigned")
    assert object_store.read_bytes("u/x.mp3") == b"ID3 unsigned"


def test_a_checksummed_bucket_sends_sha256_with_every_put_and_part(object_store, s3_server):
    sent: list[str | None] = []

    def record(method, path, headers):
        if method == "PUT":
            sent.append(headers.get("x-amz-checksum-sha256"))
        return False

    part = b"y" * (5 << 20)
    with slowdown_proxy(s3_server.endpoint_url, should_reject=record) as proxy:
        checked = with_changes(
            object_store, endpoint_url=proxy.endpoint_url, checksum_algorithm="sha256"
        )
        checked.put_bytes("c/small.mp3", b"ID3 small", content_type="audio/mpeg")
        asyncio.run(checked.put_stream("c/big.mp3", _chunks(part, part, b"end")))
    assert object_store.read_bytes("c/big.mp3") == part + part + b"end"
    assert sent and all(sent)  # one PUT, then one per part: each with its checksum
    assert len(sent) >= 4


async def _chunks(*parts: bytes):
    for part in parts:
        yield part
