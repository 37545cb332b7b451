"""Serves the API from the box's own event loop (uvicorn), with TLS when configured.

Same process as the call stack, on purpose: one store connection, one flow in memory. The
pjsua2 thread carries the audio, so API work on the loop cannot delay prompt audio; handlers
keep heavy work off the loop (SQLite on aiosqlite's thread, audio conversion in sox).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Iterator

import uvicorn

from edgepbx.api.app import create_app
from edgepbx.api.context import BoxContext

log = logging.getLogger("edgepbx.api")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the box owns SIGINT/SIGTERM
        yield


class ApiServer:
    def __init__(self, box: BoxContext) -> None:
        api = box.config.api
        self.url = f"{'https' if api.tls_cert else 'http'}://{api.listen}"
        config = uvicorn.Config(
            create_app(box), host=api.listen.host, port=api.listen.port, lifespan="off", log_config=None,
            access_log=False, server_header=False, timeout_keep_alive=30, limit_concurrency=64,
            ssl_certfile=str(api.tls_cert) if api.tls_cert else None,
            ssl_keyfile=str(api.tls_key) if api.tls_key else None)
        self._server = _Server(config)
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._server.serve(), name="api")
        while not self._server.started:
            if self._task.done():  # could not bind, bad certificate, ...
                self._task.result()
                raise RuntimeError(f"API server on {self.url} stopped at start")
            await asyncio.sleep(0.02)
        log.info("sync API on %s/api/v1", self.url)

    async def stop(self) -> None:
        if self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)
