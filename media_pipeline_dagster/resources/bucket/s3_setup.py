"""Setting up an S3 bucket: bucket, Glacier lifecycle, versioning, write test (boto3: obstore has none of these).

Idempotent: every step reads the current state first and changes only what differs,
so a second run reports "unchanged" everywhere. ``check_only`` reads and reports.

Not every S3 server has every feature: SeaweedFS refuses Glacier transitions
(NotImplemented), rclone's ``serve s3`` reads ``PUT ?lifecycle`` as "create bucket" (409)
and has no versioning. What the store lacks is read back, not assumed, and ends up in
``SetupReport.unsupported`` as a sentence, after the steps the store can do were done.
"""

from __future__ import annotations

import secrets

from botocore.exceptions import BotoCoreError, ClientError

from .errors import BucketSetupError
from .types import SetupOptions, SetupReport

LIFECYCLE_RULE_ID = "archive-cache-to-glacier"
WRITE_TEST_PREFIX = "_archive_setup/"
US_EAST_1 = "us-east-1"
# What servers answer to a bucket sub-resource they do not implement.
UNSUPPORTED_CODES = {"NotImplemented", "MethodNotAllowed", "501", "405"}
DENIED_CODES = {"AccessDenied", "403", "Forbidden"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def bucket_exists(client, bucket: str) -> bool:
    try:
        client.head_bucket(Bucket=bucket)
        return True
    except ClientError as exc:
        if _status(exc) == 404 or _code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return False
        if _status(exc) == 403:
            raise BucketSetupError(
                f"bucket {bucket!r} exists but these credentials may not use it (403): it belongs to another "
                "account, or the profile lacks s3:ListBucket; choose another ARCHIVE_S3_BUCKET or fix the policy"
            ) from None
        raise


def glacier_rule(days: int, prefix: str) -> dict:
    return {
        "ID": LIFECYCLE_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": prefix},
        "Transitions": [{"Days": days, "StorageClass": "GLACIER"}],
        # With versioning on, overwritten copies should not stay in Standard for ever either.
        "NoncurrentVersionTransitions": [{"NoncurrentDays": days, "StorageClass": "GLACIER"}],
    }


def _rule_shape(rule: dict) -> tuple:
    prefix = (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix", ""))
    transitions = sorted(
        (t.get("Days"), t.get("StorageClass")) for t in rule.get("Transitions") or []
    )
    noncurrent = sorted(
        (t.get("NoncurrentDays"), t.get("StorageClass"))
        for t in rule.get("NoncurrentVersionTransitions") or []
    )
    return rule.get("Status"), prefix, transitions, noncurrent


def _answer(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"HTTP {_status(exc) or '?'} {_code(exc) or '?'}: {error.get('Message') or 'no message'}"


def _where(client, bucket: str) -> str:
    return f"s3://{bucket} at {client.meta.endpoint_url}"


class _Unsupported(Exception):
    """The store does not offer a bucket feature; the message is the sentence for the report."""


def _lifecycle_rules(client, bucket: str) -> list[dict]:
    try:
        return list(client.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", []))
    except ClientError as exc:
        if _code(exc) == "NoSuchLifecycleConfiguration":
            return []
        if _code(exc) in UNSUPPORTED_CODES or _status(exc) in (405, 501):
            raise _Unsupported(
                f"{_where(client, bucket)} has no bucket lifecycle rules (GetBucketLifecycleConfiguration answered "
                f"{_answer(exc)})"
            ) from None
        raise


def _put_lifecycle(client, bucket: str, rules: list[dict], wanted: dict) -> None:
    try:
        client.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": rules}
        )
    except ClientError as exc:
        if _code(exc) in DENIED_CODES or _status(exc) == 403:
            raise BucketSetupError(
                f"these credentials may not set lifecycle rules on {_where(client, bucket)} ({_answer(exc)}): "
                "allow s3:PutLifecycleConfiguration for them, or run with check_only"
            ) from None
        # Anything else is the store saying it cannot: SeaweedFS answers NotImplemented to a
        # GLACIER transition, rclone answers 409 BucketAlreadyExists (it reads the PUT as "create bucket").
        raise _Unsupported(
            f"{_where(client, bucket)} does not accept a lifecycle rule moving objects to GLACIER "
            f"(PutBucketLifecycleConfiguration answered {_answer(exc)})"
        ) from None
    # Read it back: a store may answer 200 and keep nothing.
    kept = [r for r in _lifecycle_rules(client, bucket) if r.get("ID") == LIFECYCLE_RULE_ID]
    if not kept or _rule_shape(kept[0]) != _rule_shape(wanted):
        raise _Unsupported(
            f"{_where(client, bucket)} accepted the lifecycle rule {LIFECYCLE_RULE_ID} but does not keep it "
            f"(read back: {kept[0] if kept else 'no such rule'})"
        )


def _setup_lifecycle(client, bucket: str, options: SetupOptions, report: SetupReport) -> None:
    try:
        _lifecycle(client, bucket, options, report)
    except _Unsupported as exc:
        report.lifecycle = "not supported by this store"
        report.unsupported.append(
            f"{exc}, so objects under {options.lifecycle_prefix} will stay in their storage class instead of moving to "
            f"Glacier after {options.glacier_after_days} days"
        )


def _lifecycle(client, bucket: str, options: SetupOptions, report: SetupReport) -> None:
    rules = _lifecycle_rules(client, bucket)
    wanted = glacier_rule(options.glacier_after_days, options.lifecycle_prefix)
    ours = [r for r in rules if r.get("ID") == LIFECYCLE_RULE_ID]
    if ours and _rule_shape(ours[0]) == _rule_shape(wanted):
        report.lifecycle = f"unchanged (Glacier after {options.glacier_after_days} days)"
        return
    state = "different" if ours else "missing"
    if options.check_only:
        report.lifecycle = state
        report.problems.append(f"lifecycle rule {LIFECYCLE_RULE_ID} is {state}")
        return
    # Rules someone else added stay; only ours is replaced.
    others = [r for r in rules if r.get("ID") != LIFECYCLE_RULE_ID]
    _put_lifecycle(client, bucket, [*others, wanted], wanted)
    report.lifecycle = (
        f"{'updated' if ours else 'added'} (Glacier after {options.glacier_after_days} days)"
    )
    report.changes.append(f"lifecycle rule {report.lifecycle}")


def _versioning_unsupported(
    client, bucket: str, operation: str, exc: ClientError, report: SetupReport
) -> None:
    report.versioning = "not supported by this store"
    report.unsupported.append(
        f"{_where(client, bucket)} has no object versioning ({operation} answered {_answer(exc)}), "
        "so an overwritten archive object cannot be recovered"
    )


def _setup_versioning(client, bucket: str, options: SetupOptions, report: SetupReport) -> None:
    try:
        status = client.get_bucket_versioning(Bucket=bucket).get("Status") or "never enabled"
    except ClientError as exc:
        if _code(exc) not in UNSUPPORTED_CODES and _status(exc) not in (405, 501):
            raise
        if options.enable_versioning:
            _versioning_unsupported(client, bucket, "GetBucketVersioning", exc, report)
        else:
            report.versioning = "not supported by this store (not asked for)"
        return
    report.versioning = status
    if not options.enable_versioning or status == "Enabled":
        return  # never switched off by us: Suspended or Enabled stays as the owner left it
    if options.check_only:
        report.problems.append(f"versioning is {status}, wanted Enabled")
        return
    try:
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    except ClientError as exc:
        if _code(exc) in DENIED_CODES or _status(exc) == 403:
            raise BucketSetupError(
                f"these credentials may not enable versioning on {_where(client, bucket)} ({_answer(exc)}): "
                "allow s3:PutBucketVersioning, or run without enable_versioning"
            ) from None
        _versioning_unsupported(client, bucket, "PutBucketVersioning", exc, report)
        return
    report.versioning = "Enabled"
    report.changes.append("versioning enabled")


def _write_test(client, bucket: str) -> str:
    key = f"{WRITE_TEST_PREFIX}write-test-{secrets.token_hex(4)}"
    body = b"media archive write test\n"
    put = client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/plain")
    size = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
    # Delete the exact version so a versioned bucket keeps no trace of the test.
    extra = {"VersionId": put["VersionId"]} if put.get("VersionId") else {}
    client.delete_object(Bucket=bucket, Key=key, **extra)
    if size != len(body):
        raise BucketSetupError(
            f"write test: wrote {len(body)} bytes to s3://{bucket}/{key}, HEAD says {size}"
        )
    return "ok (put, head, delete)"


def setup_s3_bucket(client, bucket: str, options: SetupOptions, region: str) -> SetupReport:
    """Every step, in order; a store's error that no step expects ends as a BucketSetupError naming the step."""
    try:
        return _setup(client, bucket, options, options.region or region)
    except ClientError as exc:
        raise BucketSetupError(
            f"{exc.operation_name} on {_where(client, bucket)} failed: {_answer(exc)}"
        ) from None
    except BotoCoreError as exc:
        raise BucketSetupError(
            f"cannot set up {_where(client, bucket)}: {exc}. Check ARCHIVE_S3_REGION, the endpoint and the network"
        ) from None


def _setup(client, bucket: str, options: SetupOptions, region: str) -> SetupReport:
    report = SetupReport(bucket=bucket, existed=bucket_exists(client, bucket))
    if not report.existed:
        if options.check_only:
            report.problems.append(f"bucket {bucket} does not exist")
            return report
        extra = (
            {}
            if region == US_EAST_1
            else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        try:
            client.create_bucket(Bucket=bucket, **extra)
        except ClientError as exc:
            if _code(exc) != "BucketAlreadyOwnedByYou":  # created meanwhile by another run: fine
                if _code(exc) == "BucketAlreadyExists":
                    raise BucketSetupError(
                        f"bucket name {bucket!r} is taken by another AWS account; choose another ARCHIVE_S3_BUCKET"
                    ) from None
                raise
        report.created = True
        report.changes.append(f"bucket created in {region}")
    report.region = client.get_bucket_location(Bucket=bucket).get("LocationConstraint") or US_EAST_1
    if report.existed and report.region != region:
        report.changes.append(
            f"note: the bucket is in {report.region}, not {region} (buckets cannot move)"
        )
    _setup_lifecycle(client, bucket, options, report)
    _setup_versioning(client, bucket, options, report)
    if options.write_test and not options.check_only:
        report.write_test = _write_test(client, bucket)
    return report
