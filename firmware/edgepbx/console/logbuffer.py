"""The log lines the console shows: the last few hundred, and a live feed for `log follow`."""
from __future__ import annotations

import asyncio
import collections
import logging


class LogBuffer(logging.Handler):
    def __init__(self, keep: int = 500) -> None:
        super().__init__()
        self.lines: collections.deque[str] = collections.deque(maxlen=keep)
        self.followers: set[asyncio.Queue[str]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-5s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - a bad log call must not break logging
            return
        self.lines.append(line)
        if self.loop is not None:
            for q in list(self.followers):
                self.loop.call_soon_threadsafe(q.put_nowait, line)

    def follow(self) -> asyncio.Queue[str]:
        self.loop = asyncio.get_running_loop()
        q: asyncio.Queue[str] = asyncio.Queue(maxsize=1000)
        self.followers.add(q)
        return q

    def unfollow(self, q: asyncio.Queue[str]) -> None:
        self.followers.discard(q)
