"""The caller directory: bulk upsert/delete, versioned; the IVR reads it on the next call."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from edgepbx.api.auth import need_read, need_write
from edgepbx.api.context import BoxContext
from edgepbx.api.errors import ApiError
from edgepbx.api.models import DirectoryChange, DirectoryChanged, DirectoryEntryOut, DirectoryPage, ErrorOut
from edgepbx.store import DirectoryEntry

router = APIRouter(prefix="/api/v1/directory", tags=["directory"])
ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 412, 413, 422, 429)}


@router.get("", response_model=DirectoryPage, responses=ERRORS, dependencies=[Depends(need_read)],
            summary="Entries in number order, a page at a time")
async def list_entries(request: Request, after: str = Query(default="", max_length=32),
                       limit: int = Query(default=100, ge=1, le=1000)) -> DirectoryPage:
    box: BoxContext = request.app.state.box
    rows = await box.store.directory(after, limit)
    return DirectoryPage(items=[DirectoryEntryOut(**r) for r in rows], next=rows[-1]["number"] if rows else after,
                         version=await box.store.directory_version())


@router.get("/{number}", response_model=DirectoryEntryOut, responses=ERRORS, dependencies=[Depends(need_read)],
            summary="One caller's entry")
async def get_entry(request: Request, number: str) -> DirectoryEntryOut:
    box: BoxContext = request.app.state.box
    row = await box.store.directory_row(number) if len(number) <= 32 else None
    if row is None:
        raise ApiError(404, "not_found", f"no directory entry for {number!r}")
    return DirectoryEntryOut(**row)


@router.post("", response_model=DirectoryChanged, responses=ERRORS, dependencies=[Depends(need_write)],
             summary="Upsert and delete entries in one atomic change; returns the new version")
async def change(body: DirectoryChange, request: Request) -> DirectoryChanged:
    box: BoxContext = request.app.state.box
    if body.base_version is not None:
        current = await box.store.directory_version()
        if current != body.base_version:
            raise ApiError(412, "version_conflict", f"the directory is at version {current}",
                           [{"current_version": current}])
    numbers = [e.number for e in body.upsert]
    if len(set(numbers)) != len(numbers) or set(numbers) & set(body.delete):
        raise ApiError(422, "invalid_request", "a number appears twice in one change")
    entries = [DirectoryEntry(e.number, e.name, e.language, tuple(dict.fromkeys(e.flags)), e.notes) for e in body.upsert]
    version = await box.store.update_directory(entries, body.delete)
    box.synced()
    return DirectoryChanged(version=version, upserted=len(entries), deleted=len(body.delete))
