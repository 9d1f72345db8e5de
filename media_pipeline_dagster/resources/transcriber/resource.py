"""The transcription provider: OpenAI (through dagster-openai's OpenAIResource) or a local Whisper model.

The profile picks the default provider (MEDIA_PIPELINE_TRANSCRIBER); a run may choose the
other one in its config when both are configured.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dagster_openai import OpenAIResource
from pydantic import Field

from .language import normalize
from .models import DEFAULT_LOCAL_MODEL, DEFAULT_OPENAI_MODEL, openai_model
from .providers import Provider, TranscriptionError


class TranscriberResource(dg.ConfigurableResource):
    provider: str = Field(default="local", description="'openai' or 'local' (faster-whisper).")
    model: str | None = Field(
        default=None,
        description="Default model: whisper-1 (openai); locally a faster-whisper name "
        "or model directory (default tiny.en, English only).",
    )
    language: str | None = Field(
        default=None,
        description="Expected language (ISO-639-1, e.g. 'de'), sent to OpenAI and "
        "checked locally; None: any language (English for English-only models).",
    )
    openai: OpenAIResource | None = None
    request_timeout_seconds: float = 600.0
    pace_requests: bool = Field(
        default=True,
        description="Pace OpenAI requests by the x-ratelimit-* budget the API "
        "reports (off: send at will and wait out 429s).",
    )
    local_model_dir: str | None = Field(
        default=None,
        description="faster-whisper model directory (older spelling of a "
        "directory as `model`); used when no model is named.",
    )
    local_allow_download: bool = Field(
        default=False,
        description="Let faster-whisper fetch named models from the "
        "Hugging Face Hub; off: a model not on this machine is a clear error.",
    )
    local_compute_type: str = "int8"
    local_cpu_threads: int = 0
    claim_ttl_minutes: float = 60.0
    cooldown_minutes: float = 60.0

    def model_for(self, provider: str, model: str | None) -> str:
        chosen = model or (self.model if provider == self.provider else None)
        if provider == "local":
            chosen = chosen or self.local_model_dir
        return chosen or (DEFAULT_OPENAI_MODEL if provider == "openai" else DEFAULT_LOCAL_MODEL)

    def expected_language(self, language: str | None = None) -> str | None:
        """The run's language (its config) or the resource's, as an ISO-639-1 code."""
        try:
            return normalize(language) or normalize(self.language)
        except ValueError as exc:
            raise TranscriptionError(
                "fatal", f"{exc} (MEDIA_PIPELINE_TRANSCRIBE_LANGUAGE or the run's language)"
            ) from None

    @contextmanager
    def open(
        self,
        context=None,
        *,
        provider: str | None = None,
        model: str | None = None,
        language: str | None = None,
    ) -> Iterator[tuple[Provider, str]]:
        """(provider, model name) for one run; OpenAI clients come from the OpenAIResource.
        ``language``: the run's expected language (a local model checks it can serve it)."""
        provider = provider or self.provider
        model_name = self.model_for(provider, model)
        if provider == "openai":
            if self.openai is None:
                raise TranscriptionError(
                    "fatal",
                    "provider 'openai' needs OPENAI_API_KEY (and optionally OPENAI_BASE_URL)",
                )
            try:
                openai_model(model_name)
            except ValueError as exc:
                raise TranscriptionError("fatal", str(exc)) from None
            from .openai_provider import OpenAIProvider

            with _openai_client(self.openai, context) as client:
                yield (
                    OpenAIProvider(
                        client,
                        timeout_seconds=self.request_timeout_seconds,
                        pace=self.pace_requests,
                    ),
                    model_name,
                )
        elif provider == "local":
            from .local_provider import LocalWhisperProvider

            local = LocalWhisperProvider(
                model=model_name,
                language=self.expected_language(language),
                compute_type=self.local_compute_type,
                cpu_threads=self.local_cpu_threads,
                allow_download=self.local_allow_download,
            )
            yield local, local.model_name
        else:
            raise TranscriptionError(
                "fatal", f"unknown transcription provider {provider!r}: use 'openai' or 'local'"
            )


@contextmanager
def _openai_client(resource: OpenAIResource, context):
    if context is not None:
        with resource.get_client(context) as client:
            yield client
    else:  # plain Python use (scripts, benchmarks): the same settings, no Dagster context
        import openai

        yield openai.OpenAI(
            api_key=resource.api_key,
            organization=resource.organization,
            project=resource.project,
            base_url=resource.base_url,
        )
