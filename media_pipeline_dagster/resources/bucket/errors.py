"""What a bucket error means: one object's problem, or the bucket's (a systemic failure).

Every verb of a ``Bucket`` raises these, whichever backend answered, so callers never
catch obstore or botocore exceptions."""

from __future__ import annotations

import re

from obstore.exceptions import PermissionDeniedError, UnauthenticatedError

from ...kernel.resilience import Kind, SystemicFailure, service_kind

CREDENTIALS_HINT = "check the key id and application key (BACKBLAZE_B2_KEY_ID / BACKBLAZE_B2_APPLICATION_KEY) and that the key may use this bucket"
ENDPOINT_HINT = "check BACKBLAZE_B2_S3_ENDPOINT and the network"
_STATUS = re.compile(r"status code: (\d{3})")
_S3_CODE = re.compile(r"<Code>(\w+)</Code>")
_REQUEST = re.compile(r"Error performing (\w+) (\S+)")
_UNREACHABLE = (
    "error sending request",
    "connection refused",
    "dns error",
    "failed to lookup address",
    "connect timeout",
)


class ObjectMissing(FileNotFoundError):
    """No object under this key (or this version of it)."""


class BucketError(RuntimeError):
    """A bucket answered with an error no retry changes within this call.

    ``kind``: "refused" (credentials or permissions), "no_bucket", "no_credentials",
    "unreachable" or "failed"; ``code``/``status`` as the store gave them; ``where`` names
    the bucket and endpoint, never a secret."""

    def __init__(
        self,
        kind: str,
        where: str,
        detail: str,
        code: str = "",
        status: int = 0,
        endpoint: str = "",
    ):
        super().__init__(f"{where}: {detail}")
        self.kind, self.where, self.detail = kind, where, detail
        self.code, self.status, self.endpoint = code, status, endpoint

    @property
    def refused(self) -> bool:
        return self.kind in ("refused", "no_bucket", "no_credentials")


class BucketCredentialsError(RuntimeError):
    """No usable credentials for the bucket; the message names the profile and variables to set."""


class BucketSetupError(RuntimeError):
    """The bucket cannot be set up (taken by someone else, no permission); the message says what to do."""


class StorageUnavailable(SystemicFailure):
    """The bucket cannot be used at all: credentials refused, bucket missing, endpoint unreachable."""


def obstore_error_parts(exc: BaseException) -> tuple[int | None, str, str]:
    """The HTTP status (None when no answer came), the S3 error code and a one-line reason
    from an obstore error's text (``... GET <url> in 2ms - Server returned ... 403 ...``)."""
    text = str(exc)
    status, code = _STATUS.search(text), _S3_CODE.search(text)
    first = text.splitlines()[0] if text else type(exc).__name__
    reason = first.rpartition(" - ")[2] if " - " in first else first
    lowered = text.lower()
    cause = next((m for m in _UNREACHABLE if m != "error sending request" and m in lowered), "")
    if status is None and cause and cause not in reason.lower():
        reason = f"{reason} ({cause})"
    return (int(status.group(1)) if status else None), (code.group(1) if code else ""), reason[:300]


def storage_failure(exc: BaseException) -> StorageUnavailable | None:
    """The systemic failure an object store error reveals, or None when it concerns one object.

    obstore reports S3 errors as text (``... PUT <url> ... status code: 403 ... <Code>...``),
    so the status, the S3 error code and the request are read from it; the request URL
    names the endpoint and bucket, never a secret."""
    text = str(exc)
    request = _REQUEST.search(text)
    where = f" ({request.group(1)} {request.group(2)})" if request else ""
    status, code, _ = obstore_error_parts(exc)
    if code == "NoSuchBucket":
        return StorageUnavailable(
            f"the bucket does not exist (NoSuchBucket){where}: create it or fix BACKBLAZE_B2_BUCKET"
        )
    if status is not None and service_kind(status) is Kind.SYSTEMIC:
        detail = " ".join(x for x in (f"HTTP {status}", code) if x)
        return StorageUnavailable(
            f"object storage refused our credentials ({detail}){where}: {CREDENTIALS_HINT}"
        )
    if isinstance(
        exc, (PermissionDeniedError, UnauthenticatedError)
    ):  # a local folder, or a store without HTTP statuses
        return StorageUnavailable(f"object storage refused access: {text.splitlines()[0][:300]}")
    if any(marker in text.lower() for marker in _UNREACHABLE):
        return StorageUnavailable(
            f"object storage endpoint unreachable{where}: {text.splitlines()[0][:300]}; {ENDPOINT_HINT}"
        )
    return None
