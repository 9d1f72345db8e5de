"""The gateway's settings: the active profile's catalog, bucket and transfer defaults, plus its own
``GATEWAY_*`` variables. Built on ``settings.py`` (the dependency points one way).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..calls.transfer import TransferSettings
from ..catalog.schema import create_catalog_engine, ensure_schema, normalize_database_url
from ..kernel.fetch import FetchPolicy
from ..kernel.keys import UnsafeKeyError, normalize_prefix
from ..resources.databases import RecordingsDatabaseResource
from ..settings import ConfigurationError, environment, load_profile, resolved

DEFAULT_MAX_AUDIO_BYTES = 200 * 1024 * 1024
POOL_TIMEOUT_SECONDS = 10.0  # a request waiting longer for a connection gets 503, not a hang


@dataclass
class GatewaySettings:
    catalog_engine: sa.Engine
    recordings_engine: sa.Engine
    object_store: Any  # a Bucket (resources/bucket)
    api_keys: dict[str, str]  # name -> key
    b2_prefix: str = ""
    rate_limit_per_minute: int = 600  # per key; 0 turns limiting off
    auth_failures_per_minute: int = 30  # per client address; 0 turns limiting off
    callback_hosts: frozenset[str] = frozenset()  # empty: callbacks refused
    webhook_secret: str = ""
    webhook_interval_seconds: float = 10.0
    transfer: TransferSettings = field(default_factory=lambda: TransferSettings(audio_only=True))
    # Submits in flight at once in this process; beyond it 503 + Retry-After at once. The audio
    # they hold together is bounded by the transfer memory budget (256 MiB by default).
    max_concurrent_submits: int = 160
    # Of those, transfers running at once; the others wait their turn (within their deadline). Fewer
    # transfers competing for the CPU finish as fast and leave the status endpoint its share.
    transfer_concurrency: int = 32
    # Catalog connections of this process (the catalog engine's pool); submits use two, one
    # statement batch at a time, so status answers find a free connection during a burst.
    db_pool_size: int = 10
    request_deadline_seconds: float = 120.0  # lookup + download + upload of one submit; then 504

    @property
    def fetch_policy(self) -> FetchPolicy:
        """Where audio downloads and webhook deliveries may go (MEDIA_PIPELINE_FETCH_ALLOW_NETWORKS)."""
        return self.transfer.fetch_policy


def gateway_api_keys(env: Mapping[str, str]) -> dict[str, str]:
    """GATEWAY_API_KEYS='name:key,name2:key2'; the old gateway's single API_KEY is the key named 'default'."""
    keys: dict[str, str] = {}
    for item in (env.get("GATEWAY_API_KEYS") or "").split(","):
        name, sep, key = item.strip().partition(":")
        if sep and name.strip() and key.strip():
            keys[name.strip()] = key.strip()
        elif item.strip():
            raise ConfigurationError(
                "GATEWAY_API_KEYS entries must read name:key (comma-separated); the names appear in logs, never the keys"
            )
    if env.get("API_KEY", "").strip():
        keys.setdefault("default", env["API_KEY"].strip())
    return keys


def _number(env: Mapping[str, str], name: str, default: float, minimum: float, kind=int):
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ConfigurationError(
            f"{name}={text!r} is not a {'whole ' if kind is int else ''}number"
        ) from None
    if value < minimum:
        raise ConfigurationError(f"{name}={text!r} must be at least {minimum}")
    return value


def catalog_engine(database_url: str, pool_size: int) -> sa.Engine:
    """The catalog with a pool of exactly ``pool_size`` connections (no overflow) that fails fast."""
    engine = create_catalog_engine(
        database_url, pool_size=pool_size, max_overflow=0, pool_timeout=POOL_TIMEOUT_SECONDS
    )
    ensure_schema(engine)
    return engine


def load_gateway_settings(env: Mapping[str, str] | None = None) -> GatewaySettings:
    """What ``uvicorn media_pipeline_dagster.gateway:app`` runs with: the profile's catalog,
    bucket and recordings database, the gateway's keys, prefix and limits."""
    env = environment(env)
    resources = load_profile(env, dotenv=False).resources
    keys = gateway_api_keys(env)
    recordings_url = env.get("RECORDINGS_DATABASE_URL") or env.get("DATABASE_URL")
    missing = [
        n
        for n, ok in (
            ("GATEWAY_API_KEYS or API_KEY", keys),
            ("RECORDINGS_DATABASE_URL or DATABASE_URL", recordings_url),
        )
        if not ok
    ]
    if missing:
        raise ConfigurationError("the gateway needs: " + "; ".join(missing) + " (see .env.example)")
    pool_size = _number(env, "GATEWAY_DB_POOL_SIZE", 10, 2)
    try:
        prefix = normalize_prefix((env.get("GATEWAY_B2_PREFIX") or "").strip())
    except UnsafeKeyError as exc:
        raise ConfigurationError(f"GATEWAY_B2_PREFIX: {exc}") from None
    transfer = resources["audio_transfer"].transfer_settings(
        concurrency=1, fetch_policy=resources["fetch_policy"].policy()
    )
    return GatewaySettings(
        catalog_engine=catalog_engine(
            normalize_database_url(resolved(resources["catalog"], env).database_url), pool_size
        ),
        recordings_engine=RecordingsDatabaseResource(database_url=recordings_url).engine,
        object_store=resolved(resources["object_store"], env),
        api_keys=keys,
        b2_prefix=prefix,
        rate_limit_per_minute=_number(env, "GATEWAY_RATE_LIMIT", 600, 0),
        auth_failures_per_minute=_number(env, "GATEWAY_AUTH_FAILURES_PER_MINUTE", 30, 0),
        callback_hosts=frozenset(
            h.strip().lower()
            for h in (env.get("GATEWAY_CALLBACK_HOSTS") or "").split(",")
            if h.strip()
        ),
        webhook_secret=(env.get("GATEWAY_WEBHOOK_SECRET") or "").strip(),
        # A client waits for the answer: two quick attempts, then 503 and the client decides.
        transfer=dataclasses.replace(
            transfer,
            max_bytes=_number(env, "GATEWAY_MAX_AUDIO_BYTES", DEFAULT_MAX_AUDIO_BYTES, 1),
            audio_only=True,
            max_attempts=min(transfer.max_attempts, 2),
            backoff_max=min(transfer.backoff_max, 2.0),
        ),
        max_concurrent_submits=_number(env, "GATEWAY_MAX_CONCURRENT_SUBMITS", 160, 1),
        transfer_concurrency=_number(env, "GATEWAY_TRANSFER_CONCURRENCY", 32, 1),
        db_pool_size=pool_size,
        request_deadline_seconds=_number(
            env, "GATEWAY_REQUEST_DEADLINE_SECONDS", 120.0, 1.0, kind=float
        ),
    )
