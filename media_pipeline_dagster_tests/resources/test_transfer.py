"""The transfer engine on its own: the memory budget, odd URLs, keep_local copies, the fetch policy."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from media_pipeline_dagster.kernel.fetch import FetchPolicy, parse_networks
from media_pipeline_dagster.resources.transfer import TransferJob, TransferSettings, run_transfers
from media_pipeline_dagster.resources.transfer_core import MemoryBudget

from ..calls.helpers import with_changes


@pytest.fixture(params=["streamed", "signed"])
def store(request, object_store):
    """The bucket both ways: one PUT streamed from the origin through a presigned URL (what an
    HTTPS bucket such as B2 gets), and the whole body read, then a header-signed obstore PUT."""
    streamed = request.param == "streamed"
    built = with_changes(object_store, unsigned_payload=streamed)
    assert (built.presigner("probe") is not None) is streamed
    return built


def test_memory_budget_bounds_what_is_held_at_once():
    async def scenario():
        budget = MemoryBudget(limit=10)
        held, peak = 0, 0

        async def take(n):
            nonlocal held, peak
            counted = min(n, budget.limit)  # a request above the limit waits to hold it alone
            async with budget.hold(n):
                held += counted
                peak = max(peak, held)
                await asyncio.sleep(0.01)
                held -= counted

        await asyncio.gather(*(take(n) for n in [4, 4, 4, 6, 3, 25]))  # 25 is capped at the limit
        return peak, budget.used

    peak, used = asyncio.run(scenario())
    assert peak <= 10 and used == 0


def test_a_cancelled_waiter_leaves_the_budget_whole():
    """Holds that fit take no lock; one that must wait is woken by the release, and one
    cancelled while waiting leaves nothing held or counted as waiting."""

    async def scenario():
        budget = MemoryBudget(limit=10)
        release = asyncio.Event()

        async def hold(n, until=None):
            async with budget.hold(n):
                if until is not None:
                    await until.wait()

        first = asyncio.create_task(hold(8, release))
        await asyncio.sleep(0)
        waiting = asyncio.create_task(hold(5))  # does not fit beside the 8
        doomed = asyncio.create_task(hold(5))
        await asyncio.sleep(0.01)
        assert budget.used == 8 and not waiting.done()
        doomed.cancel()
        release.set()
        await asyncio.gather(first, waiting)
        assert doomed.cancelled()
        return budget.used, budget._waiting

    assert asyncio.run(scenario()) == (0, 0)


def _run(jobs, store, **settings):
    outcomes = []

    async def collect(outcome):
        outcomes.append(outcome)

    settings.setdefault(
        "fetch_policy", FetchPolicy(allowed_networks=parse_networks(["127.0.0.1/32"]))
    )
    asyncio.run(run_transfers(jobs, store, TransferSettings(**settings), collect))
    return {o.job.url: o for o in outcomes}


def test_odd_urls_land(store, object_store, origin):
    body = b"ID3" + bytes(range(256)) * 40
    plain = origin.add_file("/odd/plain.mp3", body)
    with_query = origin.url("/odd/plain.mp3") + "?token=a%20b"
    outcomes = _run(
        [
            TransferJob(plain, "t/plain.mp3", "audio/mpeg"),
            TransferJob(with_query, "t/query.mp3", "audio/mpeg"),
        ],
        store,
    )
    assert all(o.ok for o in outcomes.values())
    assert {o.sha256 for o in outcomes.values()} == {hashlib.sha256(body).hexdigest()}
    assert object_store.read_bytes("t/query.mp3") == body


def test_tight_memory_budget_still_moves_every_file(object_store, origin, tmp_path):
    urls = [origin.url(f"/gen/{300_000 + i}/budget/{i}.mp3") for i in range(12)]
    jobs = [
        TransferJob(u, f"b/{i}.mp3", "audio/mpeg", keep_local_path=tmp_path / f"{i}.mp3")
        for i, u in enumerate(urls)
    ]
    outcomes = _run(
        jobs,
        object_store,
        concurrency=8,
        memory_budget=700_000,
        multipart_threshold=1_000_000,
    )
    assert all(o.ok for o in outcomes.values())
    for i, url in enumerate(urls):
        assert outcomes[url].sha256 == origin.expected_sha256(url)
        assert (tmp_path / f"{i}.mp3").stat().st_size == 300_000 + i
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize(
    "head, expected",
    [
        (b"RIFF\x24\x08\x00\x00WAVEfmt ", "WAV"),
        (b"ID3\x04\x00", "MP3 (ID3)"),
        (b"\xff\xfb\x90\x64", "MPEG audio"),
        (b"\xff\xf1\x50\x80", "MPEG audio"),
        (b"OggS\x00\x02", "OGG/Opus"),
        (b"fLaC\x00\x00", "FLAC"),
        (b"\x00\x00\x00\x20ftypM4A ", "M4A/MP4"),
        (b"\x1a\x45\xdf\xa3\x9f", "WebM/Matroska"),
        (b"#!AMR\n", "AMR"),
        (b"FORM\x00\x00\x00\x00AIFF", "AIFF"),
        (b"PK\x03\x04", None),
        (b"%PDF-1.7", None),
        (b"\x89PNG\r\n\x1a\n", None),
        (b"\x00\x01\x02\x03", None),
        (b"", None),
    ],
)
def test_audio_signature(head, expected):
    from media_pipeline_dagster.resources.transfer_core import audio_signature

    assert audio_signature(head) == expected


@pytest.mark.parametrize(
    "size", [300_000, 9 * 1024 * 1024 + 7]
)  # under and over the multipart threshold
def test_a_chunked_body_is_downloaded_once(object_store, origin, size):
    """No Content-Length (Transfer-Encoding: chunked): one request, streamed, hashed, stored."""
    url = origin.url(f"/chunked/{size}/once/{size}.mp3")
    outcomes = _run([TransferJob(url, f"c/{size}.mp3", "audio/mpeg")], object_store)
    assert outcomes[url].ok and outcomes[url].size == size and outcomes[url].attempts == 1
    assert origin.hits(url) == 1
    assert outcomes[url].sha256 == origin.expected_sha256(url)
    assert (
        hashlib.sha256(object_store.read_bytes(f"c/{size}.mp3")).hexdigest() == outcomes[url].sha256
    )


def test_a_short_body_never_becomes_an_object(store, object_store, origin):
    """The origin promises 100,000 bytes and closes after 1,000: no object, a transient failure."""
    url = origin.url("/fault/short/cut.mp3")
    outcomes = _run([TransferJob(url, "s/cut.mp3", "audio/mpeg")], store, max_attempts=2)
    assert not outcomes[url].ok and not outcomes[url].permanent
    assert "ended early" in outcomes[url].error or "short body" in outcomes[url].error
    assert asyncio.run(object_store.head_size("s/cut.mp3")) is None


@pytest.mark.parametrize("size", [300_000, 9 * 1024 * 1024 + 7])  # kept for a resend, or not
def test_declared_sizes_land_whole(store, object_store, origin, size):
    url = origin.url(f"/gen/{size}/declared/{size}.mp3")
    outcomes = _run([TransferJob(url, f"d/{size}.mp3", "audio/mpeg")], store)
    assert outcomes[url].ok and outcomes[url].size == size and outcomes[url].attempts == 1
    assert outcomes[url].sha256 == origin.expected_sha256(url)
    stored = object_store.read_bytes(f"d/{size}.mp3")
    assert hashlib.sha256(stored).hexdigest() == outcomes[url].sha256


def test_attempts_are_counted_and_only_transient_failures_retried(object_store, origin):
    """The first attempt runs outside the retry loop; a transient failure enters the loop as
    attempt 1, so counts, hits and the give-up point are what max_attempts says."""
    flaky, down, gone = (
        origin.url("/fault/flaky/2/retry-flaky.mp3"),
        origin.url("/fault/503/retry-down.mp3"),
        origin.url("/fault/404/retry-gone.mp3"),
    )
    jobs = [TransferJob(u, f"r/{i}.mp3", "audio/mpeg") for i, u in enumerate((flaky, down, gone))]
    outcomes = _run(jobs, object_store, max_attempts=3, backoff_base=0.01, backoff_max=0.02)
    assert outcomes[flaky].ok and outcomes[flaky].attempts == 3 and origin.hits(flaky) == 3
    assert outcomes[flaky].sha256 == hashlib.sha256(object_store.read_bytes("r/0.mp3")).hexdigest()
    assert not outcomes[down].ok and not outcomes[down].permanent
    assert outcomes[down].attempts == 3 and origin.hits(down) == 3
    assert outcomes[down].error_code == 503
    assert not outcomes[gone].ok and outcomes[gone].permanent
    assert outcomes[gone].attempts == 1 and origin.hits(gone) == 1
