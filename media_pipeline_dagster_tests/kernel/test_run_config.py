"""One run-config vocabulary: the shared words, and the renamed fields still accepted for a release."""

# No `from __future__ import annotations`: Dagster reads the op's config annotation as a class.
import dagster as dg
import pydantic
import pytest

from media_pipeline_dagster.archive.config import ArchiveConfig, VerifyArchiveConfig
from media_pipeline_dagster.calls.config import AudioIngestConfig
from media_pipeline_dagster.inventory.config import D1SyncConfig, InventoryConfig
from media_pipeline_dagster.kernel import run_config
from media_pipeline_dagster.transcription.config import TranscriptionConfig

SHARED = {
    "dry_run": run_config.DryRun,
    "limit": run_config.Limit,
    "retry_failed": run_config.RetryFailed,
    "force": run_config.Force,
    "concurrency": run_config.Concurrency,
}
OLD_WORDS = {"max_files", "retranscribe", "retry_permanent_failures", "retry_permanent"}
CONFIGS = [
    AudioIngestConfig,
    TranscriptionConfig,
    InventoryConfig,
    D1SyncConfig,
    ArchiveConfig,
    VerifyArchiveConfig,
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.__name__)
def test_a_shared_switch_comes_from_the_shared_mixin(config):
    for name, mixin in SHARED.items():
        if name in config.model_fields:
            assert issubclass(config, mixin), f"{config.__name__}.{name} is not {mixin.__name__}'s"
            shared_type = mixin.model_fields[name].annotation
            assert config.model_fields[name].annotation == shared_type
    for name in OLD_WORDS & set(config.model_fields):
        assert config.model_fields[name].description.startswith("Deprecated")
        assert config.RENAMED[name] in SHARED


def _config_seen_by_an_op(config_class, values: dict):
    seen = {}

    @dg.op(name="probe")
    def probe(config: config_class):
        seen["config"] = config

    @dg.job
    def probe_job():
        probe()

    with pytest.warns(DeprecationWarning, match="deprecated"):
        result = probe_job.execute_in_process(run_config={"ops": {"probe": {"config": values}}})
    assert result.success
    return seen["config"]


def test_old_transcription_names_still_work_through_dagster():
    config = _config_seen_by_an_op(TranscriptionConfig, {"max_files": 3, "retranscribe": True})
    assert config.limit == 3 and config.force is True


def test_old_ingest_name_still_works_through_dagster():
    config = _config_seen_by_an_op(AudioIngestConfig, {"retry_permanent_failures": True})
    assert config.retry_failed is True


def test_the_new_names_alone_warn_nothing(recwarn):
    config = TranscriptionConfig(limit=2, force=True)
    assert (config.limit, config.force, config.max_files, config.retranscribe) == (
        2,
        True,
        None,
        None,
    )
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]


def test_an_old_and_a_new_name_that_disagree_are_refused():
    with pytest.raises(pydantic.ValidationError, match="max_files is the old name of limit"):
        TranscriptionConfig(limit=2, max_files=3)
