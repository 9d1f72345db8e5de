"""Object keys: the DESIGN.md layout, and no way out of the prefix."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from media_pipeline_dagster.kernel.keys import (
    UnsafeKeyError,
    assert_key_within,
    audio_folder,
    audio_object_key,
    extension_from_url,
    normalize_prefix,
    slugify,
)

STARTED = datetime(2024, 10, 31, 12, 57, 1, tzinfo=timezone(timedelta(hours=2)))


def test_layout_with_recording_id_and_prefix():
    key = audio_object_key(
        prefix="dexter-audio/",
        campaign_slug="Dexter Outbound",
        phone="+4915110635004",
        started=STARTED,
        recording_id="PR_9f6e",
        url_sha1="a" * 40,
        ext="mp3",
    )
    assert key == "dexter-audio/dexter-outbound/audio/+4915110635004/20241031T105701Z_PR_9f6e.mp3"


def test_layout_without_recording_id_or_phone_uses_sha1_prefix():
    key = audio_object_key(
        prefix="",
        campaign_slug="c",
        phone=None,
        started=STARTED,
        recording_id=None,
        url_sha1="0123456789abcdef" + "f" * 24,
        ext="wav",
    )
    assert key == "c/audio/unknown-phone/20241031T105701Z_0123456789abcdef.wav"


@pytest.mark.parametrize("phone", ["../..", "..", "/etc/passwd", "a/../../b"])
def test_hostile_phone_segments_cannot_climb(phone):
    key = audio_object_key(
        prefix="p",
        campaign_slug="c",
        phone=phone,
        started=STARTED,
        recording_id="../../x",
        url_sha1="f" * 40,
        ext="mp3",
    )
    assert key.startswith("p/c/audio/") and "/../" not in key and key.count("/") == 4


def test_slugs_and_prefixes():
    assert slugify("Dexter Q3 / Süd") == "dexter-q3-sud"
    assert slugify("../../") == "unnamed"
    assert normalize_prefix("/audio/dexter/") == "audio/dexter"
    for bad in ("../x", "a/../b", "a//b"):
        with pytest.raises(UnsafeKeyError):
            normalize_prefix(bad)
    with pytest.raises(UnsafeKeyError):
        assert_key_within("other/x.mp3", "p")


def test_extension_from_url():
    assert extension_from_url("https://v.example/vr/PR_1.WAV?sig=1") == "wav"
    assert extension_from_url("https://v.example/download?id=7") == "mp3"


def test_audio_keys_are_listed_by_campaign_folder():
    key = audio_object_key(
        prefix="dexter-audio",
        campaign_slug="Dexter Outbound",
        phone="+4915100",
        started=STARTED,
        recording_id="r1",
        url_sha1="0" * 40,
        ext="mp3",
    )
    # Every phone of one campaign under one listing: '<prefix>/<campaign>/audio'.
    assert audio_folder(key) == "dexter-audio/dexter-outbound/audio"
    assert audio_folder("seeds/other/x.mp3") == "seeds/other"
