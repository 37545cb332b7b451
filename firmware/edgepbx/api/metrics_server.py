"""`GET /metrics` without a token, on its own address ([api] metrics_listen): for a Prometheus
that scrapes a fleet over a management network and holds no API tokens. It answers that one
path and nothing else, reads at most one small request per connection, and gives up on a slow
or silent client: the cheapest thing that can face a network."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from edgepbx.config import HostPort
from edgepbx.metrics import render

log = logging.getLogger("edgepbx.metrics")
MAX_REQUEST = 8192
READ_TIMEOUT_S = 5.0
MAX_CLIENTS = 8
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsServer:
    def __init__(self, box: Any, listen: HostPort) -> None:
        self.box = box
        self.listen = listen
        self._server: asyncio.AbstractServer | None = None
        self._slots = asyncio.Semaphore(MAX_CLIENTS)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, self.listen.host, self.listen.port, limit=MAX_REQUEST)
        log.info("metrics without a token on http://%s/metrics", self.listen)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._slots.locked():
            writer.close()
            return
        async with self._slots:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
                method, _, rest = head.partition(b" ")
                path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
                if method == b"GET" and path == b"/metrics":
                    await self._send(writer, 200, "OK", await render(self.box), CONTENT_TYPE)
                elif method == b"GET":
                    await self._send(writer, 404, "Not Found", b"only /metrics here\n", "text/plain")
                else:
                    await self._send(writer, 405, "Method Not Allowed", b"GET /metrics only\n", "text/plain")
            except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                pass
            except Exception:  # noqa: BLE001 - a scrape must never take the box down
                log.exception("metrics scrape failed")
            finally:
                writer.close()

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, code: int, reason: str, body: bytes, content_type: str) -> None:
        writer.write(f"HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                     f"Connection: close\r\n\r\n".encode() + body)
        await asyncio.wait_for(writer.drain(), READ_TIMEOUT_S)
