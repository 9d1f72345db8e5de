"""What the gateway takes and answers: the form, every success body and the error body.

The OpenAPI document is generated from these models, so it states the contract; the
rules that JSON Schema can express (no control characters, bounded prefixes, one of
``recording_id``/``url``) are in the schema as well as in the validators.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from ..kernel.keys import UnsafeKeyError, normalize_prefix

NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_PREFIX_SEGMENTS = 8
MAX_PREFIX_BYTES = 256
MAX_CALLBACK_URL_CHARS = 2048
ONE_OF = "send recording_id (preferred) or url (exactly a public.recordings.location)"
_NOT_BLANK: JsonDict = {"type": "string", "pattern": r"\S"}


# Printable strings, or absent (null is not a form value, so the document does not offer it).
Text = Annotated[str, StringConstraints(pattern=NO_CONTROL_CHARACTERS)] | SkipJsonSchema[None]
ShortText = (
    Annotated[str, StringConstraints(pattern=NO_CONTROL_CHARACTERS, max_length=200)]
    | SkipJsonSchema[None]
)
PrefixText = (
    Annotated[str, StringConstraints(pattern=NO_CONTROL_CHARACTERS, max_length=MAX_PREFIX_BYTES)]
    | SkipJsonSchema[None]
)
CallbackText = (
    Annotated[
        str, StringConstraints(pattern=NO_CONTROL_CHARACTERS, max_length=MAX_CALLBACK_URL_CHARS)
    ]
    | SkipJsonSchema[None]
)


def _about(description: str):
    return Field(default=None, description=description)


class TranscribeForm(BaseModel):
    """The old gateway's form (``application/x-www-form-urlencoded`` or multipart)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "anyOf": [
                {"required": ["recording_id"], "properties": {"recording_id": _NOT_BLANK}},
                {"required": ["url"], "properties": {"url": _NOT_BLANK}},
            ],
            "description": ONE_OF + ". Blank fields count as absent.",
        },
    )

    recording_id: Text = _about(
        "public.recordings.id (exact), else a part of the location of at least 8 characters matching one recording"
    )
    url: Text = _about("exactly a public.recordings.location; the gateway never fetches other URLs")
    b2_prefix: PrefixText = _about(
        f"folder for the object key, e.g. 'gateway'; at most {MAX_PREFIX_SEGMENTS} segments and {MAX_PREFIX_BYTES} bytes; "
        "blank or absent: GATEWAY_B2_PREFIX"
    )
    phone: ShortText = _about("accepted for compatibility; the database decides")
    campaign: ShortText = _about("accepted for compatibility; the database decides")
    campaign_id: ShortText = _about("accepted for compatibility; the database decides")
    callback_url: CallbackText = _about(
        "http(s) URL on a host in GATEWAY_CALLBACK_HOSTS, POSTed the signed status when done"
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value):
        if isinstance(value, str) and (found := _CONTROL.search(value)):
            raise ValueError(
                f"contains the control character {found.group()!r} at position {found.start()}; "
                "send printable text only"
            )
        return value

    @field_validator("b2_prefix")
    @classmethod
    def _bounded_prefix(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            prefix = normalize_prefix(value)
        except UnsafeKeyError as exc:
            raise ValueError(str(exc)) from None
        if prefix.count("/") + 1 > MAX_PREFIX_SEGMENTS or len(prefix.encode()) > MAX_PREFIX_BYTES:
            raise ValueError(
                f"must have at most {MAX_PREFIX_SEGMENTS} segments and {MAX_PREFIX_BYTES} bytes "
                f"(got {prefix.count('/') + 1} segments, {len(prefix.encode())} bytes)"
            )
        return prefix

    @field_validator("callback_url")
    @classmethod
    def _parsable_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for ports out of range
        except ValueError as exc:
            raise ValueError(f"is not a valid URL ({exc})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not carry credentials")
        return value

    @model_validator(mode="after")
    def _one_of(self):
        self.recording_id = (self.recording_id or "").strip() or None
        self.url = (self.url or "").strip() or None
        if self.recording_id is None and self.url is None:
            raise ValueError(ONE_OF)
        return self


class ErrorBody(BaseModel):
    """Every error answer: what went wrong, with the offending value, and what to do."""

    detail: str = Field(examples=["no such recording in public.recordings"])


class Queued(BaseModel):
    audio_file_id: int
    status: Literal["QUEUED"] = "QUEUED"
    b2_key: str | None
    b2_url: str | None


class PendingMetadata(BaseModel):
    in_progress: bool
    claimed_by: str | None


class CompletedMetadata(BaseModel):
    provider: str | None
    model: str | None
    completed_at: str | None
    language: str | None
    duration: float | None
    b2_transcript_json_key: str | None
    b2_transcript_txt_key: str | None


class FailedMetadata(BaseModel):
    failure: str = Field(
        description="transient (retried after next_retry_at) or permanent (waits for /rerun)"
    )
    error: str | None
    error_code: int | None
    attempts: int | None
    last_attempt_at: str | None
    next_retry_at: str | None


class AudioStatus(BaseModel):
    audio_file_id: int
    b2_key: str | None
    status: Literal["pending", "completed", "failed"]
    transcript: str | None
    metadata: CompletedMetadata | FailedMetadata | PendingMetadata


class Rerun(BaseModel):
    audio_file_id: int
    status: Literal["QUEUED"] = "QUEUED"
    failure_cleared: bool


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: str = Field(description="'ok' or 'unreachable: <error type>'")
    bucket: str = Field(description="'ok' or 'unreachable: <error type>'")


_ERRORS = {
    400: "the body is not a readable form",
    401: "missing or invalid key (X-API-Key, or HTTP Basic with the key as password)",
    404: "no such recording or audio file",
    409: "ambiguous recording id, or already transcribed",
    413: "the form is larger than 64 KiB",
    422: "invalid input: which field and why",
    429: "rate limit of the key, or too many failed keys from this address; see Retry-After",
    503: "database or bucket unavailable, the audio origin failing, or too many submits in flight; see Retry-After",
    504: "the request deadline passed; nothing was cataloged",
}


def errors(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI ``responses`` entries for these error statuses, all with ``ErrorBody``."""
    return {status: {"model": ErrorBody, "description": _ERRORS[status]} for status in statuses}
