"""The one place that reads the environment and picks the profile (MEDIA_PIPELINE_ENV=local|prod).

local (default): nothing but Python — SQLite catalog and a folder as the bucket under
MEDIA_PIPELINE_DATA_DIR (default ./.media_pipeline). prod: the seeds' variable names;
every missing one is named before anything runs, and nothing falls back to local disk.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dotenv import load_dotenv

from .archive.profile import local_archive_resources, prod_archive_missing, prod_archive_resources
from .resources.d1 import DEFAULT_BASE_URL, CloudflareD1Resource, LocalD1Resource
from .resources.databases import CatalogResource, RecordingsDatabaseResource
from .resources.http import AudioTransferResource
from .resources.inbox import CsvInboxResource
from .resources.object_store import LocalObjectStoreResource, S3ObjectStoreResource
from .resources.transcriber import TranscriberResource

PROFILES = ("local", "prod")

# (what it is, accepted names in order of preference) — names as the seeds use them.
B2_VARIABLES = {
    "endpoint_url": ("B2 S3 endpoint", ("BACKBLAZE_B2_S3_ENDPOINT", "AWS_ENDPOINT_URL")),
    "region": ("B2 region", ("BACKBLAZE_B2_REGION", "AWS_REGION")),
    "access_key_id": ("B2 key id", ("BACKBLAZE_B2_KEY_ID", "AWS_ACCESS_KEY_ID")),
    "secret_access_key": ("B2 application key", ("BACKBLAZE_B2_APPLICATION_KEY", "AWS_SECRET_ACCESS_KEY")),
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
    resources: dict[str, object]


def get_environment(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    name = (env.get("MEDIA_PIPELINE_ENV") or "local").strip().lower()
    if name not in PROFILES:
        raise ConfigurationError(f"MEDIA_PIPELINE_ENV={name!r} is not one of {', '.join(PROFILES)}")
    return name


def _first_set(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((n for n in names if env.get(n, "").strip()), None)


def transcriber_resource(env: Mapping[str, str], default_provider: str) -> tuple[TranscriberResource, list[str]]:
    """The transcription provider (MEDIA_PIPELINE_TRANSCRIBER=openai|local) and what is missing for it."""
    from dagster_openai import OpenAIResource

    provider = (env.get("MEDIA_PIPELINE_TRANSCRIBER") or default_provider).strip().lower()
    if provider not in ("openai", "local"):
        raise ConfigurationError(f"MEDIA_PIPELINE_TRANSCRIBER={provider!r} is not one of openai, local")
    openai = None
    if env.get("OPENAI_API_KEY", "").strip():
        openai = OpenAIResource(api_key=dg.EnvVar("OPENAI_API_KEY"), base_url=env.get("OPENAI_BASE_URL") or None)
    missing = ["OPENAI_API_KEY (OpenAI API key; or MEDIA_PIPELINE_TRANSCRIBER=local)"] if provider == "openai" and openai is None else []
    resource = TranscriberResource(
        provider=provider,
        model=env.get("MEDIA_PIPELINE_TRANSCRIBE_MODEL") or None,
        openai=openai,
        local_model_dir=env.get("MEDIA_PIPELINE_WHISPER_MODEL_DIR") or None,
        claim_ttl_minutes=float(env.get("MEDIA_PIPELINE_CLAIM_TTL_MINUTES") or 60),
        cooldown_minutes=float(env.get("MEDIA_PIPELINE_COOLDOWN_MINUTES") or 60),
    )
    return resource, missing


def d1_database_name(env: Mapping[str, str]) -> str:
    return (env.get("D1_DATABASE_NAME") or "").strip() or "lgfc_lite"


def local_resources(env: Mapping[str, str]) -> dict[str, object]:
    data_dir = Path(env.get("MEDIA_PIPELINE_DATA_DIR") or ".media_pipeline").expanduser().resolve()
    transcriber, missing = transcriber_resource(env, default_provider="local")
    if missing:
        raise ConfigurationError("MEDIA_PIPELINE_TRANSCRIBER=openai but these variables are not set: " + "; ".join(missing))
    return {
        "transcriber": transcriber,
        "catalog": CatalogResource(database_url=env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'catalog.sqlite'}"),
        "object_store": LocalObjectStoreResource(root_dir=str(data_dir / "bucket")),
        "csv_inbox": CsvInboxResource(path=env.get("MEDIA_PIPELINE_CSV_INBOX") or str(data_dir / "inbox")),
        "recordings_db": RecordingsDatabaseResource(database_url=env.get("RECORDINGS_DATABASE_URL") or None),
        "audio_transfer": AudioTransferResource(key_prefix=env.get("MEDIA_PIPELINE_B2_PREFIX", "")),
        **local_archive_resources(env, data_dir),
        # As `wrangler d1 execute --local` keeps one: a plain SQLite file.
        "d1": LocalD1Resource(path=str(data_dir / "d1" / f"{d1_database_name(env)}.sqlite")),
    }


def prod_resources(env: Mapping[str, str]) -> dict[str, object]:
    transcriber, missing = transcriber_resource(env, default_provider="openai")
    b2_fields: dict[str, object] = {}
    for field, (what, names) in B2_VARIABLES.items():
        name = _first_set(env, names)
        if name is None:
            missing.append(f"{' or '.join(names)} ({what})")
        else:
            b2_fields[field] = dg.EnvVar(name) if field in SECRET_FIELDS else env[name].strip()
    for name, what in (("DATABASE_URL", "catalog PostgreSQL URL"), ("MEDIA_PIPELINE_CSV_INBOX", "folder of CSV exports")):
        if not env.get(name, "").strip():
            missing.append(f"{name} ({what})")
    missing.extend(prod_archive_missing(env))
    missing += [f"{name} ({what})" for name, what in D1_VARIABLES if not env.get(name, "").strip()]
    if missing:
        raise ConfigurationError(
            "MEDIA_PIPELINE_ENV=prod but these variables are not set: " + "; ".join(missing)
            + ". Put them in .env or the environment (see .env.example)."
        )
    if not env["DATABASE_URL"].lower().startswith("postgres"):
        raise ConfigurationError("DATABASE_URL must be a PostgreSQL URL in the prod profile (postgresql+psycopg2://...)")
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
        "transcriber": transcriber,
        "catalog": CatalogResource(database_url=dg.EnvVar("DATABASE_URL")),
        "object_store": S3ObjectStoreResource(
            **b2_fields, unsigned_payload=env.get("MEDIA_PIPELINE_S3_UNSIGNED_PAYLOAD", "").strip().lower() in ("1", "true", "yes")
        ),
        "csv_inbox": CsvInboxResource(path=env["MEDIA_PIPELINE_CSV_INBOX"]),
        "recordings_db": RecordingsDatabaseResource(
            database_url=dg.EnvVar("RECORDINGS_DATABASE_URL") if env.get("RECORDINGS_DATABASE_URL") else None
        ),
        "audio_transfer": AudioTransferResource(key_prefix=env.get("MEDIA_PIPELINE_B2_PREFIX", "")),
    }


def environment(env: Mapping[str, str] | None = None, *, dotenv: bool = True) -> Mapping[str, str]:
    """The variables to read: ``env`` when given (tests, the demo), else the process environment
    after ``.env`` in the working directory (values already set win, as with the seed scripts)."""
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
    return Profile(name=name, resources=resources)


def resolved(resource, env: Mapping[str, str]):
    """The resource with its ``EnvVar`` fields replaced by their values, for code that runs outside Dagster."""
    fields = {name: getattr(resource, name) for name in type(resource).model_fields}
    return type(resource)(**{k: env.get(v, "") if isinstance(v, dg.EnvVar) else v for k, v in fields.items()})
