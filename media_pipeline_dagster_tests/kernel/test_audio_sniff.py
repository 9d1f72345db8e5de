"""The one not-audio sniffer: documents refused everywhere, audio formats named."""

from __future__ import annotations

import pytest

from media_pipeline_dagster.kernel.audio_sniff import (
    audio_signature,
    declared_audio_capable,
    declared_not_audio,
    is_document,
)


@pytest.mark.parametrize(
    "head",
    [
        b"<!DOCTYPE html><html>",
        b"  \n<html lang=en>",
        b"<?xml version='1.0'?><Error>",
        b"<head><title>login</title>",
        b"<body>expired</body>",
        b'{"error": "not found"}',
        b"<!doctype HTML>",
    ],
)
def test_documents_are_not_audio(head):
    assert is_document(head)
    assert audio_signature(head) is None


@pytest.mark.parametrize(
    "head",
    [b"RIFF\x00\x00\x00\x00WAVEfmt ", b"ID3\x04\x00", b"OggS\x00", b"\xff\xfb\x90\x00"],
)
def test_audio_is_not_a_document(head):
    assert not is_document(head)
    assert audio_signature(head) is not None


def test_declared_types():
    assert declared_not_audio("text/html; charset=utf-8")
    assert declared_not_audio("Application/JSON")
    assert not declared_not_audio("audio/mpeg")
    assert declared_audio_capable(None) and declared_audio_capable("audio/wav")
    assert declared_audio_capable("application/octet-stream")
    assert not declared_audio_capable("image/png")
