"""Webhook callbacks: when a queued file is transcribed or fails for good, POST its status, signed.

The body is the status endpoint's answer plus ``event_id`` (the same for every retry of
one event, so receivers can drop repeats), ``event`` and ``timestamp`` (Unix seconds of
this attempt); ``X-Signature-256: sha256=<hex>`` is HMAC-SHA256 over
``<X-Signature-Timestamp>.<body>`` with GATEWAY_WEBHOOK_SECRET. The event id and the
timestamp are inside the signed bytes, so a receiver checking the signature, a freshness
window and the ids it has seen cannot be fed a replay. Deliveries go through the fetch
policy: the host must be in GATEWAY_CALLBACK_HOSTS (by name) and the address connected to
must not be internal unless its network is allowed (by address), and redirects are never
followed: a 3xx is a failed attempt. A refused destination is given up at once. Undelivered callbacks are retried with exponential backoff (10 s
doubling, at most an hour apart) up to ``max_attempts``; the state lives in
``media_pipeline.gateway_callbacks``, so a gateway restart loses nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

import sqlalchemy as sa

from ..catalog.queries import dialect_insert
from ..catalog.tables import gateway_callbacks
from ..kernel import fetch
from ..kernel.fetch import FetchError, FetchPolicy, FetchRefused, mask_url
from ..kernel.resilience import next_attempt_at
from .status import audio_status

log = logging.getLogger("media_pipeline_dagster.gateway.webhooks")
FIRST_BACKOFF_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 3600.0


def callback_allowed(url: str, hosts: frozenset[str]) -> bool:
    """http(s) to a configured host ('hooks.example.com', or '.example.com' for its subdomains)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return False
    return host in hosts or any(h.startswith(".") and host.endswith(h) for h in hosts)


def register(engine: sa.Engine, audio_file_id: int, url: str, key_name: str) -> None:
    with engine.begin() as conn:
        stmt = (
            dialect_insert(conn, gateway_callbacks)
            .values(
                audio_file_id=audio_file_id,
                callback_url=url,
                key_name=key_name,
                attempts=0,
                created_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing(index_elements=["audio_file_id", "callback_url"])
        )
        conn.execute(stmt)


def event_id(audio_file_id: int, callback_url: str, status: str) -> str:
    """Stable across retries of one event; a rerun that ends differently is a new event."""
    return str(
        uuid.uuid5(
            uuid.NAMESPACE_URL, f"media_pipeline_dagster:{audio_file_id}:{callback_url}:{status}"
        )
    )


def event_body(status: dict, callback_url: str, timestamp: int) -> bytes:
    event = {
        "event_id": event_id(status["audio_file_id"], callback_url, status["status"]),
        "event": f"transcription.{status['status']}",
        "timestamp": timestamp,
        **status,
    }
    return json.dumps(event, sort_keys=True).encode()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return (
        "sha256="
        + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    )


def _post(
    policy: FetchPolicy, url: str, secret: str, body: bytes, stamp: int, timeout: float
) -> tuple[str | None, bool]:
    """(error or None, whether the error is final) of one delivery attempt."""
    headers = {
        "Content-Type": "application/json",
        "X-Signature-Timestamp": str(stamp),
        "X-Signature-256": sign(secret, str(stamp), body),
    }
    try:
        status = fetch.post(policy, url, body, headers, timeout=timeout)
    except FetchRefused as exc:
        return str(exc)[:500], True
    except FetchError as exc:
        return str(exc)[:500], False
    if 300 <= status < 400:
        return f"HTTP {status}: redirects are not followed; configure the final URL", False
    return (None, False) if 200 <= status < 300 else (f"HTTP {status}", False)


NO_INTERNAL_ADDRESSES = FetchPolicy()


def deliver_due(
    engine: sa.Engine,
    secret: str,
    *,
    policy: FetchPolicy = NO_INTERNAL_ADDRESSES,
    max_attempts: int = 8,
    timeout: float = 10.0,
    now: datetime | None = None,
) -> int:
    """One pass: POST every open callback whose file is done or failed for good; returns deliveries made."""
    now = now or datetime.now(UTC)
    callbacks = gateway_callbacks
    with engine.connect() as conn:
        due = list(
            conn.execute(
                sa.select(callbacks).where(
                    callbacks.c.delivered_at.is_(None),
                    sa.or_(
                        callbacks.c.next_attempt_at.is_(None), callbacks.c.next_attempt_at <= now
                    ),
                )
            )
        )
    delivered = 0
    for cb in due:
        with engine.connect() as conn:
            status = audio_status(conn, cb.audio_file_id)
        if status is None:
            continue
        final = status["status"] == "completed" or (
            status["status"] == "failed" and status["metadata"].get("failure") == "permanent"
        )
        if not final:
            continue
        stamp = int(time.time())
        error, final_error = _post(
            policy,
            cb.callback_url,
            secret,
            event_body(status, cb.callback_url, stamp),
            stamp,
            timeout,
        )
        attempts = cb.attempts + 1
        values: dict = {"attempts": attempts, "last_error": error}
        if error is None:
            values.update(delivered_at=now, delivered_status=status["status"])
            delivered += 1
        elif final_error or attempts >= max_attempts:
            values.update(
                delivered_at=now, delivered_status="refused" if final_error else "gave_up"
            )
            log.warning(
                "callback %s for audio_file %s given up after %d attempts: %s",
                mask_url(cb.callback_url),
                cb.audio_file_id,
                attempts,
                error,
            )
        else:
            values["next_attempt_at"] = next_attempt_at(
                attempts, FIRST_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS, now
            )
        with engine.begin() as conn:
            conn.execute(
                sa.update(callbacks)
                .where(
                    callbacks.c.audio_file_id == cb.audio_file_id,
                    callbacks.c.callback_url == cb.callback_url,
                )
                .values(**values)
            )
    return delivered


class Deliverer:
    """A background thread running ``deliver_due`` every ``interval`` seconds while the app lives."""

    def __init__(self, engine: sa.Engine, secret: str, interval: float, policy: FetchPolicy):
        self.engine, self.secret, self.interval, self.policy = engine, secret, interval, policy
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gateway-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 15)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                deliver_due(self.engine, self.secret, policy=self.policy)
            except Exception:  # keep delivering on the next pass; the state is in the table
                log.exception("webhook delivery pass failed")
