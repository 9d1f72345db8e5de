"""The old gateway's endpoints: submit a recording, ask its status; plus rerun of a failed file.

The gateway never calls OpenAI: it stores the audio and catalogs the row;
``pending_transcriptions_sensor`` has it transcribed.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Annotated

import anyio
import sqlalchemy as sa
from fastapi import APIRouter, Form, HTTPException, Path

from ...kernel.fetch import FetchRefused
from ...kernel.keys import normalize_prefix
from ..deps import (
    AuthenticatedRoute,
    Catalog,
    Gateway,
    GatewayState,
    KeyName,
    SubmitSlot,
    started,
)
from ..lookup import AmbiguousRecording, find_recording
from ..schemas import AudioStatus, Queued, Rerun, TranscribeForm, errors
from ..status import audio_status
from ..status import rerun as rerun_failed
from ..submit import SubmitError
from ..webhooks import callback_allowed, register

log = logging.getLogger("media_pipeline_dagster.gateway")
router = APIRouter(prefix="/api/media", route_class=AuthenticatedRoute, tags=["media"])
AudioFileId = Annotated[int, Path(ge=1, le=2**63 - 1, description="media_pipeline.audio_files.id")]
RETRY_AFTER = {"Retry-After": "10"}


async def _find_recording(state: GatewayState, form: TranscribeForm, deadline: float) -> dict:
    lookup = partial(
        find_recording,
        state.settings.recordings_engine,
        recording_id=form.recording_id,
        url=None if form.recording_id else form.url,
    )
    try:
        with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
            recording = await started(state.submitter).catalog.call(lookup, abandon_on_cancel=True)
    except TimeoutError:
        raise HTTPException(
            504,
            "the request deadline passed while reading public.recordings; nothing was cataloged",
        ) from None
    except AmbiguousRecording as exc:
        raise HTTPException(409, str(exc)) from None
    except sa.exc.SQLAlchemyError as exc:
        log.error("reading public.recordings failed: %s", exc)
        raise HTTPException(
            503,
            f"cannot read public.recordings: {type(getattr(exc, 'orig', None) or exc).__name__}; "
            "try again after Retry-After",
            headers=RETRY_AFTER,
        ) from None
    if recording is None:
        raise HTTPException(404, "no such recording in public.recordings")
    return recording


@router.post(
    "/transcribe",
    response_model=Queued,
    dependencies=[SubmitSlot],
    responses=errors(400, 401, 404, 409, 413, 422, 429, 503, 504),
    summary="Store and queue a recording for transcription",
)
async def transcribe(
    form: Annotated[TranscribeForm, Form()], key_name: KeyName, state: Gateway
) -> Queued:
    """Resolve the recording in public.recordings, store its audio in the bucket and catalog it;
    the same recording asked again answers the same ``audio_file_id`` without a second download."""
    settings = state.settings
    deadline = anyio.current_time() + settings.request_deadline_seconds
    if form.callback_url:
        if not (
            settings.webhook_secret and callback_allowed(form.callback_url, settings.callback_hosts)
        ):
            raise HTTPException(
                422, "callback_url must be http(s) on a host listed in GATEWAY_CALLBACK_HOSTS"
            )
        try:
            settings.fetch_policy.check_url(form.callback_url)
        except FetchRefused as exc:
            raise HTTPException(422, f"callback_url: {exc.reason}") from None
    prefix = form.b2_prefix if form.b2_prefix is not None else normalize_prefix(settings.b2_prefix)
    recording = await _find_recording(state, form, deadline)
    try:
        queued = await started(state.submitter).queue(recording, prefix, deadline)
    except SubmitError as exc:
        raise HTTPException(
            exc.status, str(exc), headers=RETRY_AFTER if exc.status == 503 else None
        ) from None
    if form.callback_url:
        await started(state.submitter).db(
            register, settings.catalog_engine, queued.audio_file_id, form.callback_url, key_name
        )
    log.info(
        "key %s queued recording %s as audio_file %s",
        key_name,
        recording["id"],
        queued.audio_file_id,
    )
    if queued.created:
        state.metrics.queued.inc()
    return Queued(
        audio_file_id=queued.audio_file_id,
        b2_key=queued.b2_key,
        b2_url=settings.object_store.uri(queued.b2_key) if queued.b2_key else None,
    )


@router.get(
    "/status/{audio_file_id}",
    response_model=AudioStatus,
    responses=errors(401, 404, 422, 429, 503),
    summary="Pending, completed (with the transcript) or failed",
)
async def status(audio_file_id: AudioFileId, key_name: KeyName, catalog: Catalog) -> dict:
    found = await catalog.run(audio_status, audio_file_id)
    if found is None:
        raise HTTPException(404, f"no audio_file {audio_file_id}")
    return found


@router.post(
    "/rerun/{audio_file_id}",
    response_model=Rerun,
    responses=errors(401, 404, 409, 422, 429, 503),
    summary="Clear a failure so the pending sensor transcribes the file again",
)
async def rerun(audio_file_id: AudioFileId, key_name: KeyName, catalog: Catalog) -> Rerun:
    found, cleared = await catalog.run(rerun_failed, audio_file_id)
    if found is None:
        raise HTTPException(404, f"no audio_file {audio_file_id}")
    if found["status"] == "completed":
        raise HTTPException(409, f"audio_file {audio_file_id} is already transcribed")
    log.info(
        "key %s re-queued audio_file %s (failure cleared: %s)", key_name, audio_file_id, cleared
    )
    return Rerun(audio_file_id=audio_file_id, failure_cleared=cleared)
