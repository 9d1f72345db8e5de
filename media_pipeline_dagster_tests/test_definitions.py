"""The code location loads in both profiles; production fails fast, naming what is missing."""

from __future__ import annotations

import dagster as dg
import pytest

from media_pipeline_dagster.resources.bucket import S3Bucket
from media_pipeline_dagster.settings import ConfigurationError, get_environment, load_profile

PROD_ENV = {
    "MEDIA_PIPELINE_ENV": "prod",
    "DATABASE_URL": "postgresql+asyncpg://u:pw@db.invalid:5433/manuav",
    "BACKBLAZE_B2_S3_ENDPOINT": "https://s3.us-west-004.backblazeb2.com",
    "AWS_REGION": "us-west-004",
    "BACKBLAZE_B2_KEY_ID": "key-id",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "B2_BUCKET_NAME": "campaign-analysis",
    "MEDIA_PIPELINE_CSV_INBOX": "/srv/inbox",
    "OPENAI_API_KEY": "sk-test",
    "ARCHIVE_DATABASE_URL": "postgresql://u@db.invalid/social",
    "MEDIA_CACHE_DIR": "/srv/cache/media",
    "CLOUDFLARE_API_TOKEN": "cf-token",
    "CLOUDFLARE_ACCOUNT_ID": "acc123",
}


def test_whole_definitions_load_in_the_local_profile(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("MEDIA_PIPELINE_ENV", "DATABASE_URL", "MEDIA_PIPELINE_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    from media_pipeline_dagster.definitions import defs

    loaded = defs()
    loaded.validate_loadable(loaded)
    keys = {k.to_user_string() for k in loaded.resolve_asset_graph().get_all_asset_keys()}
    assert {"audio_files", "csv_inbox", "public/recordings", "transcriptions"} <= keys
    assert loaded.resolve_sensor_def("csv_inbox_sensor") is not None
    assert loaded.resolve_sensor_def("pending_transcriptions_sensor") is not None
    assert (
        "post_media_archive" in keys and loaded.resolve_job_def("setup_archive_bucket") is not None
    )
    assert {"b2_inventory", "d1_media_assets"} <= keys and loaded.resolve_schedule_def(
        "b2_to_d1_daily"
    ) is not None
    assert set(loaded.resources) >= {
        "catalog",
        "object_store",
        "csv_inbox",
        "recordings_db",
        "audio_transfer",
    }


def test_local_profile_needs_nothing_but_python(tmp_path):
    profile = load_profile({"MEDIA_PIPELINE_DATA_DIR": str(tmp_path)})
    assert profile.name == "local"
    assert profile.resources["catalog"].database_url.startswith("sqlite:///")
    assert profile.resources["object_store"].root_dir == str(tmp_path / "bucket")


def test_prod_names_every_missing_variable():
    with pytest.raises(ConfigurationError) as err:
        load_profile({"MEDIA_PIPELINE_ENV": "prod", "AWS_REGION": "x"})
    message = str(err.value)
    for name in (
        "BACKBLAZE_B2_S3_ENDPOINT or AWS_ENDPOINT_URL",
        "BACKBLAZE_B2_KEY_ID or AWS_ACCESS_KEY_ID",
        "BACKBLAZE_B2_APPLICATION_KEY or AWS_SECRET_ACCESS_KEY",
        "BACKBLAZE_B2_BUCKET or B2_BUCKET_NAME",
        "DATABASE_URL",
        "MEDIA_PIPELINE_CSV_INBOX",
        "OPENAI_API_KEY",
        "ARCHIVE_DATABASE_URL",
        "MEDIA_CACHE_DIR",
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_ACCOUNT_ID",
    ):
        assert name in message
    assert "AWS_REGION" not in message.split("not set:")[1]


def test_prod_uses_the_seeds_names_and_keeps_secrets_in_env_vars(monkeypatch):
    for name, value in PROD_ENV.items():
        monkeypatch.setenv(name, value)
    profile = load_profile(dict(PROD_ENV))
    store = profile.resources["object_store"]
    assert isinstance(store, S3Bucket)
    assert store.bucket == "campaign-analysis" and store.region == "us-west-004"
    assert store.unsigned_payload is False  # until B2 is known to accept it
    assert (
        load_profile({**PROD_ENV, "MEDIA_PIPELINE_S3_UNSIGNED_PAYLOAD": "1"})
        .resources["object_store"]
        .unsigned_payload
    )
    # Secrets stay references to environment variables, resolved when a run starts.
    assert (
        isinstance(store.secret_access_key, dg.EnvVar)
        and store.secret_access_key == "AWS_SECRET_ACCESS_KEY"
    )
    assert (
        isinstance(store.access_key_id, dg.EnvVar) and store.access_key_id == "BACKBLAZE_B2_KEY_ID"
    )
    catalog = profile.resources["catalog"]
    assert isinstance(catalog.database_url, dg.EnvVar) and catalog.database_url == "DATABASE_URL"


def test_unknown_profile_is_rejected():
    with pytest.raises(ConfigurationError, match="MEDIA_PIPELINE_ENV='staging'"):
        get_environment({"MEDIA_PIPELINE_ENV": "staging"})


def test_b2_client_sends_checksums_only_when_required(object_store):
    client = object_store.boto3_client()
    assert client.meta.config.request_checksum_calculation == "when_required"
    assert client.meta.config.response_checksum_validation == "when_required"
    client.put_object(
        Bucket=object_store.bucket, Key="probe.txt", Body=b"x", ContentType="text/plain"
    )
    assert client.get_object(Bucket=object_store.bucket, Key="probe.txt")["Body"].read() == b"x"


def test_dotenv_in_the_working_directory_is_read_and_the_environment_wins(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "MEDIA_PIPELINE_DATA_DIR=from-dotenv\nMEDIA_PIPELINE_CSV_INBOX=inbox-from-dotenv\n",
        encoding="utf-8",
    )
    for name in ("MEDIA_PIPELINE_DATA_DIR", "MEDIA_PIPELINE_ENV"):
        monkeypatch.setenv(name, "")  # so monkeypatch restores what load_dotenv sets
        monkeypatch.delenv(name)
    monkeypatch.setenv("MEDIA_PIPELINE_CSV_INBOX", "inbox-from-environment")
    profile = load_profile()
    assert profile.resources["object_store"].root_dir == str(tmp_path / "from-dotenv" / "bucket")
    assert profile.resources["csv_inbox"].path == "inbox-from-environment"


def test_transcriber_follows_the_profile_and_its_variables():
    local = load_profile({}).resources["transcriber"]
    assert local.provider == "local" and local.openai is None and local.claim_ttl_minutes == 60
    prod = load_profile(dict(PROD_ENV)).resources["transcriber"]
    assert (
        prod.provider == "openai"
        and isinstance(prod.openai.api_key, dg.EnvVar)
        and prod.openai.api_key == "OPENAI_API_KEY"
    )
    tuned = load_profile(
        {
            **PROD_ENV,
            "MEDIA_PIPELINE_TRANSCRIBER": "local",
            "OPENAI_API_KEY": "",
            "MEDIA_PIPELINE_TRANSCRIBE_MODEL": "tiny.en",
            "MEDIA_PIPELINE_COOLDOWN_MINUTES": "5",
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        }
    ).resources["transcriber"]
    assert (
        tuned.provider == "local"
        and tuned.model == "tiny.en"
        and tuned.cooldown_minutes == 5
        and tuned.openai is None
    )
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        load_profile({"MEDIA_PIPELINE_TRANSCRIBER": "openai"})
    with pytest.raises(ConfigurationError, match="MEDIA_PIPELINE_TRANSCRIBER='whisperx'"):
        load_profile({"MEDIA_PIPELINE_TRANSCRIBER": "whisperx"})
    german = load_profile(
        {
            "MEDIA_PIPELINE_TRANSCRIBE_LANGUAGE": " DE ",
            "MEDIA_PIPELINE_TRANSCRIBE_MODEL": "small",
            "MEDIA_PIPELINE_WHISPER_DOWNLOAD": "1",
        }
    ).resources["transcriber"]
    assert (german.language, german.model, german.local_allow_download) == ("de", "small", True)
    assert local.language is None and local.local_allow_download is False
    with pytest.raises(
        ConfigurationError,
        match="MEDIA_PIPELINE_TRANSCRIBE_LANGUAGE: language 'german' is not an ISO-639-1 code",
    ):
        load_profile({"MEDIA_PIPELINE_TRANSCRIBE_LANGUAGE": "german"})


def test_d1_resource_follows_the_profile():
    local = load_profile({}).resources["d1"]
    assert local.path.endswith("lgfc_lite.sqlite")
    prod = load_profile({**PROD_ENV, "D1_DATABASE_NAME": "other_db"}).resources["d1"]
    assert prod.database_name == "other_db" and prod.account_id == "acc123"
    assert isinstance(prod.api_token, dg.EnvVar) and prod.api_token == "CLOUDFLARE_API_TOKEN"


def test_gateway_settings_from_the_environment(tmp_path):
    from media_pipeline_dagster.gateway.config import gateway_api_keys, load_gateway_settings

    assert gateway_api_keys({"GATEWAY_API_KEYS": "ops:k1, crm:k2", "API_KEY": "legacy"}) == {
        "ops": "k1",
        "crm": "k2",
        "default": "legacy",
    }
    with pytest.raises(ConfigurationError, match="name:key"):
        gateway_api_keys({"GATEWAY_API_KEYS": "just-a-key"})
    with pytest.raises(ConfigurationError, match="GATEWAY_API_KEYS or API_KEY"):
        load_gateway_settings(
            {
                "MEDIA_PIPELINE_DATA_DIR": str(tmp_path),
                "RECORDINGS_DATABASE_URL": "postgresql://u@db.invalid/x",
            }
        )
    settings = load_gateway_settings(
        {
            "MEDIA_PIPELINE_DATA_DIR": str(tmp_path),
            "API_KEY": "legacy",
            "GATEWAY_B2_PREFIX": "gateway",
            "RECORDINGS_DATABASE_URL": "postgresql://u@db.invalid/x",
        }
    )
    assert settings.api_keys == {"default": "legacy"} and settings.b2_prefix == "gateway"
    assert settings.catalog_engine.dialect.name == "sqlite"
