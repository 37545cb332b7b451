"""Operators' recordings of key words: the decoder also matches callers against them."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request, Response

from edgepbx.api.auth import need_read, need_write
from edgepbx.api.context import BoxContext
from edgepbx.api.errors import ApiError
from edgepbx.api.models import ErrorOut, VoiceExampleList, VoiceExampleOut
from edgepbx.dsp.voicekey.vocabulary import KEYS
from edgepbx.ivr.recordings import BadRecording
from edgepbx.ivr.voice_examples import MAX_SECONDS, NAME, VoiceExamples

router = APIRouter(prefix="/api/v1/voicekeys", tags=["voice keys"])
Language = Annotated[Literal["zh", "en"], Path(description="language of the word")]
Key = Annotated[Literal[KEYS], Path(description="the key the word means")]  # type: ignore[valid-type]
Name = Annotated[str, Path(pattern=NAME.pattern, description="a name for this recording")]
ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 413, 415, 422, 429)}
WAV_BODY = {"requestBody": {"required": True, "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}}}}


def _examples(request: Request) -> VoiceExamples:
    box: BoxContext = request.app.state.box
    if box.voice_examples is None:
        raise ApiError(404, "not_found", "this box keeps no voice-key recordings")
    return box.voice_examples


@router.get("", response_model=VoiceExampleList, responses=ERRORS, dependencies=[Depends(need_read)],
            summary="Every recording of a key word")
async def list_examples(request: Request) -> VoiceExampleList:
    return VoiceExampleList(items=[VoiceExampleOut(**vars(e)) for e in _examples(request).listing()])


@router.put("/{language}/{key}/{name}", response_model=VoiceExampleOut, responses=ERRORS, openapi_extra=WAV_BODY,
            dependencies=[Depends(need_write)],
            summary=f"Upload one spoken key word (any WAV, at most {MAX_SECONDS:.0f} s); used from the next call")
async def put_example(request: Request, language: Language, key: Key, name: Name) -> VoiceExampleOut:
    examples = _examples(request)
    body = await request.body()
    try:
        stored = await examples.add(language, key, name, body)
    except BadRecording as exc:
        raise ApiError(415 if "WAV" in str(exc) else 422, "bad_recording", str(exc)) from None
    request.app.state.box.synced()
    return VoiceExampleOut(**vars(stored))


@router.delete("/{language}/{key}/{name}", status_code=204, responses=ERRORS, dependencies=[Depends(need_write)],
               summary="Delete a recording of a key word")
async def delete_example(request: Request, language: Language, key: Key, name: Name) -> Response:
    if not _examples(request).remove(language, key, name):
        raise ApiError(404, "not_found", f"no recording {language}/{key}/{name}")
    request.app.state.box.synced()
    return Response(status_code=204)


@router.get("/learning", responses=ERRORS, dependencies=[Depends(need_read)],
            summary="Learning this site's voices ([ivr] learn_voices): words kept, keys learnt, the last adaptation "
                    "and its held-back checks")
async def learning(request: Request) -> dict:
    box: BoxContext = request.app.state.box
    counts = await box.store.voice_sample_counts()
    status = box.learner.status() if box.learner is not None else {"enabled": False}
    return {**status, "samples_stored": counts}


@router.delete("/learning", status_code=204, responses=ERRORS, dependencies=[Depends(need_write)],
               summary="Forget every word kept for learning voices, and what was learnt from them")
async def forget_learning(request: Request) -> Response:
    box: BoxContext = request.app.state.box
    await box.store.forget_voices()
    if box.learner is not None:
        box.learner.state.clear()
    return Response(status_code=204)
