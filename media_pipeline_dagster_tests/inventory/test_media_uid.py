"""media_uid is byte for byte what seed 003's Node script computed."""

from __future__ import annotations

import hashlib

import pytest

from media_pipeline_dagster.inventory.media_uid import media_uid

# Computed with node v20 from the seed's formula, independently of this code:
#   const c = require('crypto');
#   `b2_${c.createHash('sha256').update(file_id + ':' + key).digest('hex').substring(0, 40)}`
SEED_VALUES = [
    (
        "4_z27c88f1d182b150646ff0b16_f1004ba650fe24e6b_d20250101_m120000_c004_v0402000_t0001",
        "dexter-audio/acme/audio/15551234567/20250101T120000Z_abc.mp3",
        "b2_f9c2a26676d513ee77fbeb3872921b9c30fc6f41",
    ),
    (
        "d41d8cd98f00b204e9800998ecf8427e",
        "empty.bin",
        "b2_77c956be30f267efb795c81811e7be42c97107e6",
    ),
    (
        "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nrjfkd+GWn0uYqvP",
        'quote\'s "double"; DROP TABLE media_assets;--',
        "b2_abcf704db447bc9b09f0582266158bd911710bcf",
    ),
    ("null", "Música/日本語/ファイル 🎵.wav", "b2_2c105b1cd60916e4575175d89cf1bb57a0d44e05"),
    ("fid-1", "k/" + "é" * 499, "b2_b6b9fb5fe83863a27a29e9fe211d62a00624ff7e"),  # a 1,000-byte key
]


@pytest.mark.parametrize(("file_id", "key", "expected"), SEED_VALUES)
def test_media_uid_matches_the_seeds_javascript(file_id, key, expected):
    assert media_uid(file_id, key) == expected


@pytest.mark.parametrize(
    "key", ["a.wav", "dir/sub/ü.mp3", "x" * 1000, "semi;colon 'q'", "emoji 🎧"]
)
def test_media_uid_is_sha256_of_file_id_colon_key(key):
    digest = hashlib.sha256(("fid" + ":" + key).encode("utf-8")).hexdigest()
    uid = media_uid("fid", key)
    assert uid == "b2_" + digest[:40]
    assert len(uid) == 43


def test_media_uid_needs_a_file_id():
    with pytest.raises(ValueError, match="no file id"):
        media_uid("", "a.wav")
