"""Serves the API from the box's own event loop (uvicorn), with TLS when configured.

Same process as the call stack, on purpose: one store connection, one flow in memory. The
pjsua2 thread carries the audio, so API work on the loop cannot delay prompt audio; handlers
keep heavy work off the loop (SQLite on aiosqlite's thread, audio conversion in sox).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Iterator

import uvicorn

from edgepbx.api.app import create_app
from edgepbx.api.context import BoxContext

log = logging.getLogger("edgepbx.api")


class ApiListenError(RuntimeError):
    """The API address cannot be taken (in use, or not this machine's)."""


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
        # Bound here, not by uvicorn: on a taken port uvicorn calls sys.exit inside its task,
        # and the box hung instead of saying which port is taken.
        sock = self._bind()
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[sock]), name="api")
        while not self._server.started:
            if self._task.done():  # could not bind, bad certificate, ...
                self._task.result()
                raise RuntimeError(f"API server on {self.url} stopped at start")
            await asyncio.sleep(0.02)
        log.info("sync API on %s/api/v1", self.url)

    def _bind(self) -> socket.socket:
        host, port = self._server.config.host, self._server.config.port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise ApiListenError(f"cannot serve the sync API on {host}:{port}: {exc.strerror}") from None
        return sock

    async def stop(self) -> None:
        if self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)
