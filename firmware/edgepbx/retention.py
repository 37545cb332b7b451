"""Retention: when free disk runs short, delete collected records, oldest first.

Uncollected records are never deleted: central has not got them yet. A voice message's audio
file goes with its row. Runs on the loop every CHECK_S; each pass deletes in batches so the
store lock is never held long.
"""
from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import Callable

from edgepbx.store import RECORD_KINDS, Store

log = logging.getLogger("edgepbx.retention")
CHECK_S = 60.0
BATCH = 500


async def free_space(store: Store, min_free_bytes: int, free: Callable[[Path], int] | None = None) -> int:
    """One pass; returns how many records were deleted."""
    free = free or (lambda path: shutil.disk_usage(path).free)
    deleted = 0
    while free(store.path.parent) < min_free_bytes:
        batch = 0
        for kind in RECORD_KINDS:
            rows = await store.purge_collected(kind, BATCH)
            for row in rows:
                if kind == "messages":
                    (store.messages_dir / row["audio"]).unlink(missing_ok=True)
            batch += len(rows)
        if batch == 0:
            log.warning("disk low under %s and no collected records left to delete", store.path.parent)
            break
        deleted += batch
    if deleted:
        log.warning("disk low: deleted %d collected records, oldest first", deleted)
    return deleted


async def run(store: Store, min_free_bytes: int) -> None:
    while True:
        try:
            await free_space(store, min_free_bytes)
        except Exception:  # noqa: BLE001 - retention must not stop; the next pass tries again
            log.exception("retention pass failed")
        await asyncio.sleep(CHECK_S)
