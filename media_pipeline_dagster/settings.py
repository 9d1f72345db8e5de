"""The one place that reads the environment and picks the profile (MEDIA_PIPELINE_ENV=local|prod).

local (default): nothing but Python — SQLite catalog and a folder as the bucket under
MEDIA_PIPELINE_DATA_DIR (default ./.media_pipeline). prod: the old scripts' variable names;
every missing one is named before anything runs, and nothing falls back to local disk.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from dotenv import load_dotenv

from .kernel.executors import executor_from_env
from .kernel.fetch import parse_networks
from .resources.alerts import OperationsResource
from .resources.archive_profile import (
    local_archive_resources,
    prod_archive_missing,
    prod_archive_resources,
)
from .resources.bucket import FolderBucket, S3Bucket
from .resources.call_sources import CallSourcesResource, call_sources_from_env
from .resources.d1 import DEFAULT_BASE_URL, CloudflareD1Resource, LocalD1Resource
from .resources.databases import CatalogResource, RecordingsDatabaseResource
from .resources.fetch import FetchPolicyResource
from .resources.http import AudioTransferResource
from .resources.inbox import CsvInboxResource
from .resources.inventory_options import InventoryOptionsResource
from .resources.transcriber.language import normalize as normalize_language
from .resources.transcriber.resource import TranscriberResource

PROFILES = ("local", "prod")

# (what it is, accepted names in order of preference) — names as the old scripts' .env files use them.
B2_VARIABLES = {
    "endpoint_url": ("B2 S3 endpoint", ("BACKBLAZE_B2_S3_ENDPOINT", "AWS_ENDPOINT_URL")),
    "region": ("B2 region", ("BACKBLAZE_B2_REGION", "AWS_REGION")),
    "access_key_id": ("B2 key id", ("BACKBLAZE_B2_KEY_ID", "AWS_ACCESS_KEY_ID")),
    "secret_access_key": (
        "B2 application key",
        ("BACKBLAZE_B2_APPLICATION_KEY", "AWS_SECRET_ACCESS_KEY"),
    ),
    "bucket": ("B2 bucket", ("BACKBLAZE_B2_BUCKET", "B2_BUCKET_NAME")),
}
SECRET_FIELDS = {"access_key_id", "secret_access_key"}
D1_VARIABLES = (
    ("CLOUDFLARE_API_TOKEN", "Cloudflare API token with D1 Edit permission"),
    ("CLOUDFLARE_ACCOUNT_ID", "Cloudflare account id of the D1 database"),
)


class ConfigurationError(RuntimeError):
    """The environment does not describe a usable deployment; the message says what to set."""


@dataclass(frozen=True)
class Profile:
    name: str
    resources: dict[str, Any]
    executor: dg.ExecutorDefinition | None = (
        None  # None: Dagster's default (steps in subprocesses of the run)
    )


def get_environment(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    name = (env.get("MEDIA_PIPELINE_ENV") or "local").strip().lower()
    if name not in PROFILES:
        raise ConfigurationError(f"MEDIA_PIPELINE_ENV={name!r} is not one of {', '.join(PROFILES)}")
    return name


def _first_set(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((n for n in names if env.get(n, "").strip()), None)


def transcriber_resource(
    env: Mapping[str, str], default_provider: str
) -> tuple[TranscriberResource, list[str]]:
    """The transcription provider (MEDIA_PIPELINE_TRANSCRIBER=openai|local) and what is missing for it."""
    from dagster_openai import OpenAIResource

    provider = (env.get("MEDIA_PIPELINE_TRANSCRIBER") or default_provider).strip().lower()
    if provider not in ("openai", "local"):
        raise ConfigurationError(
            f"MEDIA_PIPELINE_TRANSCRIBER={provider!r} is not one of openai, local"
        )
    openai = None
    if env.get("OPENAI_API_KEY", "").strip():
        openai = OpenAIResource(
            api_key=dg.EnvVar("OPENAI_API_KEY"), base_url=env.get("OPENAI_BASE_URL") or None
        )
    missing = (
        ["OPENAI_API_KEY (OpenAI API key; or MEDIA_PIPELINE_TRANSCRIBER=local)"]
        if provider == "openai" and openai is None
        else []
    )
    try:
        language = normalize_language(env.get("MEDIA_PIPELINE_TRANSCRIBE_LANGUAGE"))
    except ValueError as exc:
        raise ConfigurationError(f"MEDIA_PIPELINE_TRANSCRIBE_LANGUAGE: {exc}") from None
    resource = TranscriberResource(
        provider=provider,
        model=env.get("MEDIA_PIPELINE_TRANSCRIBE_MODEL") or None,
        language=language,
        openai=openai,
        local_model_dir=env.get("MEDIA_PIPELINE_WHISPER_MODEL_DIR") or None,
        local_allow_download=env.get("MEDIA_PIPELINE_WHISPER_DOWNLOAD", "").strip().lower()
        in ("1", "true", "yes"),
        claim_ttl_minutes=float(env.get("MEDIA_PIPELINE_CLAIM_TTL_MINUTES") or 60),
        cooldown_minutes=float(env.get("MEDIA_PIPELINE_COOLDOWN_MINUTES") or 60),
    )
    return resource, missing


def call_sources_resource(env: Mapping[str, str]) -> CallSourcesResource:
    """MEDIA_PIPELINE_CALL_TIMEZONE and MEDIA_PIPELINE_CAMPAIGN_COMPANIES (see calls/config.py)."""
    try:
        return call_sources_from_env(env)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


def fetch_policy_resource(env: Mapping[str, str]) -> FetchPolicyResource:
    """Where URLs from data may lead: MEDIA_PIPELINE_FETCH_ALLOW_NETWORKS (CIDRs of internal
    networks that may be fetched from) and MEDIA_PIPELINE_LOCAL_AUDIO_ROOT (file:// URLs)."""
    networks = [
        n.strip()
        for n in (env.get("MEDIA_PIPELINE_FETCH_ALLOW_NETWORKS") or "").split(",")
        if n.strip()
    ]
    try:
        parse_networks(networks)
    except ValueError as exc:
        raise ConfigurationError(f"MEDIA_PIPELINE_FETCH_ALLOW_NETWORKS: {exc}") from None
    return FetchPolicyResource(
        allow_networks=networks,
        local_audio_root=(env.get("MEDIA_PIPELINE_LOCAL_AUDIO_ROOT") or "").strip() or None,
    )


def d1_database_name(env: Mapping[str, str]) -> str:
    return (env.get("D1_DATABASE_NAME") or "").strip() or "lgfc_lite"


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = (env.get(name) or "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ConfigurationError(f"{name}={env[name]!r} is not a switch: use true or false")


def _whole(env: Mapping[str, str], name: str, default: int) -> int:
    value = (env.get(name) or "").strip()
    try:
        number = int(value) if value else default
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigurationError(f"{name}={env[name]!r} is not a whole number of at least 1")
    return number


def inventory_options(env: Mapping[str, str]) -> InventoryOptionsResource:
    """What the D1 mirror keeps besides the old ingest script's columns; off unless asked for."""
    concurrency = _whole(env, "D1_ENRICH_CONCURRENCY", 8)
    if concurrency > 64:
        raise ConfigurationError(f"D1_ENRICH_CONCURRENCY={concurrency} is above 64 HEADs at a time")
    return InventoryOptionsResource(
        track_last_seen=_flag(env, "D1_TRACK_LAST_SEEN"),
        enrich_metadata=_flag(env, "D1_ENRICH_METADATA"),
        enrich_concurrency=concurrency,
        enrich_max_objects=_whole(env, "D1_ENRICH_MAX_OBJECTS", 10_000),
        stale_after_days=_whole(env, "D1_STALE_AFTER_DAYS", 30),
    )


def local_d1_resource(env: Mapping[str, str], data_dir: Path) -> LocalD1Resource:
    """The local profile's D1: D1_LOCAL_FILE, or wrangler's own file (D1_LOCAL_WRANGLER_STATE +
    D1_DATABASE_ID), or by default <data dir>/d1/<D1_DATABASE_NAME>.sqlite."""
    file = (env.get("D1_LOCAL_FILE") or "").strip()
    state = (env.get("D1_LOCAL_WRANGLER_STATE") or "").strip()
    if file and state:
        raise ConfigurationError(
            "D1_LOCAL_FILE and D1_LOCAL_WRANGLER_STATE are both set: keep one (the file, or wrangler's state folder)"
        )
    if state:
        database_id = (env.get("D1_DATABASE_ID") or "").strip()
        if not database_id:
            raise ConfigurationError(
                "D1_LOCAL_WRANGLER_STATE is set but D1_DATABASE_ID is not: set it to the database_id of the database in "
                "wrangler.toml (its preview_database_id if it has one), which names wrangler's local file"
            )
        return LocalD1Resource.for_wrangler(Path(state).expanduser().resolve(), database_id)
    if file:
        return LocalD1Resource(path=str(Path(file).expanduser().resolve()))
    name = d1_database_name(env)
    if any(c in name for c in "/\\") or name.startswith("."):
        raise ConfigurationError(
            f"D1_DATABASE_NAME={name!r} is a path, not a database name: to use a particular SQLite file set "
            "D1_LOCAL_FILE, or for wrangler's local database set D1_LOCAL_WRANGLER_STATE and D1_DATABASE_ID"
        )
    return LocalD1Resource(path=str(data_dir / "d1" / f"{name}.sqlite"))


def local_resources(env: Mapping[str, str]) -> dict[str, object]:
    data_dir = Path(env.get("MEDIA_PIPELINE_DATA_DIR") or ".media_pipeline").expanduser().resolve()
    transcriber, missing = transcriber_resource(env, default_provider="local")
    if missing:
        raise ConfigurationError(
            "MEDIA_PIPELINE_TRANSCRIBER=openai but these variables are not set: "
            + "; ".join(missing)
        )
    return {
        "transcriber": transcriber,
        "catalog": CatalogResource(
            database_url=env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'catalog.sqlite'}"
        ),
        "object_store": FolderBucket(root_dir=str(data_dir / "bucket")),
        "csv_inbox": CsvInboxResource(
            path=env.get("MEDIA_PIPELINE_CSV_INBOX") or str(data_dir / "inbox")
        ),
        "call_sources": call_sources_resource(env),
        "recordings_db": RecordingsDatabaseResource(
            database_url=env.get("RECORDINGS_DATABASE_URL") or None
        ),
        "audio_transfer": AudioTransferResource(key_prefix=env.get("MEDIA_PIPELINE_B2_PREFIX", "")),
        "fetch_policy": fetch_policy_resource(env),
        **local_archive_resources(env, data_dir),
        "d1": local_d1_resource(env, data_dir),
        "inventory_options": inventory_options(env),
    }


def prod_resources(env: Mapping[str, str]) -> dict[str, object]:
    transcriber, missing = transcriber_resource(env, default_provider="openai")
    b2_fields: dict[str, Any] = {}
    for field, (what, names) in B2_VARIABLES.items():
        name = _first_set(env, names)
        if name is None:
            missing.append(f"{' or '.join(names)} ({what})")
        else:
            b2_fields[field] = dg.EnvVar(name) if field in SECRET_FIELDS else env[name].strip()
    for name, what in (
        ("DATABASE_URL", "catalog PostgreSQL URL"),
        ("MEDIA_PIPELINE_CSV_INBOX", "folder of CSV exports"),
    ):
        if not env.get(name, "").strip():
            missing.append(f"{name} ({what})")
    missing.extend(prod_archive_missing(env))
    missing += [f"{name} ({what})" for name, what in D1_VARIABLES if not env.get(name, "").strip()]
    if missing:
        raise ConfigurationError(
            "MEDIA_PIPELINE_ENV=prod but these variables are not set: "
            + "; ".join(missing)
            + ". Put them in .env or the environment (see .env.example)."
        )
    if not env["DATABASE_URL"].lower().startswith("postgres"):
        raise ConfigurationError(
            "DATABASE_URL must be a PostgreSQL URL in the prod profile (postgresql+psycopg2://...)"
        )
    try:
        archive = prod_archive_resources(env)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    return {
        **archive,
        "d1": CloudflareD1Resource(
            api_token=dg.EnvVar("CLOUDFLARE_API_TOKEN"),
            account_id=env["CLOUDFLARE_ACCOUNT_ID"].strip(),
            database_name=d1_database_name(env),
            database_id=(env.get("D1_DATABASE_ID") or "").strip() or None,
            base_url=(env.get("CLOUDFLARE_BASE_URL") or "").strip() or DEFAULT_BASE_URL,
        ),
        "inventory_options": inventory_options(env),
        "transcriber": transcriber,
        "catalog": CatalogResource(database_url=dg.EnvVar("DATABASE_URL")),
        "object_store": S3Bucket(
            **b2_fields,
            unsigned_payload=env.get("MEDIA_PIPELINE_S3_UNSIGNED_PAYLOAD", "").strip().lower()
            in ("1", "true", "yes"),
        ),
        "csv_inbox": CsvInboxResource(path=env["MEDIA_PIPELINE_CSV_INBOX"]),
        "call_sources": call_sources_resource(env),
        "recordings_db": RecordingsDatabaseResource(
            database_url=dg.EnvVar("RECORDINGS_DATABASE_URL")
            if env.get("RECORDINGS_DATABASE_URL")
            else None
        ),
        "audio_transfer": AudioTransferResource(key_prefix=env.get("MEDIA_PIPELINE_B2_PREFIX", "")),
        "fetch_policy": fetch_policy_resource(env),
    }


def environment(env: Mapping[str, str] | None = None, *, dotenv: bool = True) -> Mapping[str, str]:
    """The variables to read: ``env`` when given (tests, the demo), else the process environment
    after ``.env`` in the working directory (values already set win, as with the old scripts)."""
    if env is not None:
        return env
    if dotenv:
        load_dotenv(Path.cwd() / ".env", override=False)
    return os.environ


def load_profile(env: Mapping[str, str] | None = None, *, dotenv: bool = True) -> Profile:
    """Resources of the active profile (see ``environment`` for where the variables come from)."""
    env = environment(env, dotenv=dotenv)
    name = get_environment(env)
    resources = prod_resources(env) if name == "prod" else local_resources(env)
    try:
        executor = executor_from_env(env)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    return Profile(
        name=name,
        resources={**resources, "operations": operations_resource(env)},
        executor=executor,
    )


def operations_resource(env: Mapping[str, str]) -> OperationsResource:
    """Alerts (a Slack-compatible webhook; its URL is a secret, kept as an EnvVar) and the backlog threshold."""
    return OperationsResource(
        alert_webhook_url=dg.EnvVar("MEDIA_PIPELINE_ALERT_WEBHOOK_URL")
        if env.get("MEDIA_PIPELINE_ALERT_WEBHOOK_URL", "").strip()
        else None,
        ui_base_url=(env.get("MEDIA_PIPELINE_UI_URL") or "").strip() or None,
        pending_max_hours=float(env.get("MEDIA_PIPELINE_PENDING_MAX_HOURS") or 24),
    )


def load_operations(env: Mapping[str, str] | None = None) -> OperationsResource:
    """The operations resource outside Dagster (the heartbeat check), with its secret resolved."""
    if env is None:
        load_dotenv(Path.cwd() / ".env", override=False)
        env = os.environ
    return resolved(operations_resource(env), env)


def resolved(resource, env: Mapping[str, str]):
    """The resource with its ``EnvVar`` fields replaced by their values, for code that runs outside Dagster."""
    fields = {name: getattr(resource, name) for name in type(resource).model_fields}
    return type(resource)(
        **{k: env.get(v, "") if isinstance(v, dg.EnvVar) else v for k, v in fields.items()}
    )
