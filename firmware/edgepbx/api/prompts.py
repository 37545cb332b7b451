"""Prompt recordings: upload (any common WAV, converted), list with checksums, download, delete."""
from __future__ import annotations

import asyncio
import hashlib

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import FileResponse

from edgepbx.api.auth import need_read, need_write
from edgepbx.api.context import BoxContext
from edgepbx.api.errors import ApiError
from edgepbx.api.models import ErrorOut, PromptList, PromptOut, PromptUploaded
from edgepbx.ivr import recordings, variants
from edgepbx.ivr.recordings import MAX_UPLOAD_BYTES, PROMPT_ID, BadRecording, PromptFile

router = APIRouter(prefix="/api/v1/prompts", tags=["prompts"])
Language = Annotated[Literal["zh", "en"], Path(description="prompt language")]
PromptId = Annotated[str, Path(pattern=PROMPT_ID.pattern, description="lower-case letters, digits, '_'")]
ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429)}
WAV_BODY = {"requestBody": {"required": True, "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}}}}


def _out(box: BoxContext, f: PromptFile) -> PromptOut:
    used = f.prompt_id in box.flows.flow.prompt_ids() and f.language in box.flows.flow.languages
    return PromptOut(language=f.language, prompt_id=f.prompt_id, sha256=f.sha256, bytes=f.bytes,
                     duration_s=f.duration_s, recorded=f.recorded, in_active_flow=used)


def _checked(language: str, prompt_id: str) -> None:
    try:
        recordings.check_name(language, prompt_id)
    except BadRecording as exc:
        raise ApiError(404, "not_found", str(exc)) from None


@router.get("", response_model=PromptList, responses=ERRORS, dependencies=[Depends(need_read)],
            summary="Every prompt file with its SHA-256")
async def list_prompts(request: Request) -> PromptList:
    box: BoxContext = request.app.state.box
    return PromptList(items=[_out(box, f) for f in recordings.listing(box.catalogue)])


@router.get("/{language}/{prompt_id}", responses={200: {"content": {"audio/wav": {}}}, **ERRORS},
            dependencies=[Depends(need_read)], summary="Download a prompt as the box plays it")
async def get_prompt(request: Request, language: Language, prompt_id: PromptId) -> FileResponse:
    box: BoxContext = request.app.state.box
    _checked(language, prompt_id)
    path = box.catalogue.path(prompt_id, language)
    if not path.is_file():
        raise ApiError(404, "not_found", f"no prompt {language}/{prompt_id}")
    return FileResponse(path, media_type="audio/wav")


@router.put("/{language}/{prompt_id}", response_model=PromptUploaded, responses=ERRORS, openapi_extra=WAV_BODY,
            dependencies=[Depends(need_write)],
            summary=f"Upload a WAV (any rate, width, channels; at most {MAX_UPLOAD_BYTES // 2**20} MiB, 300 s)")
async def put_prompt(request: Request, language: Language, prompt_id: PromptId) -> PromptUploaded:
    box: BoxContext = request.app.state.box
    _checked(language, prompt_id)
    body = await request.body()
    try:
        await recordings.install(box.catalogue, language, prompt_id, body)
    except BadRecording as exc:
        raise ApiError(415 if "WAV" in str(exc) else 422, "bad_recording", str(exc)) from None
    # the prompt level, and the elderly / visually-impaired versions, before the next call plays it
    await asyncio.to_thread(variants.prepare_upload, box.catalogue, box.config.access, language, prompt_id)
    stored = recordings.describe(box.catalogue, language, prompt_id)
    assert stored is not None
    box.synced()
    return PromptUploaded(**_out(box, stored).model_dump(), source_sha256=hashlib.sha256(body).hexdigest())


@router.delete("/{language}/{prompt_id}", status_code=204, responses=ERRORS, dependencies=[Depends(need_write)],
               summary="Delete a prompt no flow the box may run uses (the active flow, outage, wait, "
                       "callback, CSAT)")
async def delete_prompt(request: Request, language: Language, prompt_id: PromptId) -> Response:
    box: BoxContext = request.app.state.box
    _checked(language, prompt_id)
    for flow in (box.flows.flow, *box.system_flows):
        if prompt_id in flow.prompt_ids() and language in flow.languages:
            users = sorted(n.id for n in flow.nodes.values() if prompt_id in n.prompt) or ["the engine"]
            which = f"flow v{box.flows.current.version}" if flow is box.flows.flow else f"the {flow.name} flow"
            raise ApiError(409, "in_use", f"{which} plays {language}/{prompt_id} "
                           f"(at {', '.join(users)}); push a flow without it first")
    if not recordings.remove(box.catalogue, language, prompt_id):
        raise ApiError(404, "not_found", f"no prompt {language}/{prompt_id}")
    box.synced()
    return Response(status_code=204)
