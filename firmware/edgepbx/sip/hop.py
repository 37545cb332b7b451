"""The thread hop between pjsua2's thread and the asyncio loop.

pjsua2 must only be called from the thread that created it, and its callbacks run there
(or in pjmedia's clock thread). Events go to the loop with `call_soon_threadsafe`; commands
go to the pjsua2 thread through a queue it drains between `libHandleEvents` calls.
"""
from __future__ import annotations

import asyncio
import queue
from typing import Callable, Generic, TypeVar

E = TypeVar("E")
C = TypeVar("C")


class ThreadHop(Generic[E, C]):
    def __init__(self, loop: asyncio.AbstractEventLoop, deliver: Callable[[E], None]) -> None:
        self._loop = loop
        self._deliver = deliver
        self._commands: queue.SimpleQueue[C] = queue.SimpleQueue()

    def post(self, event: E) -> None:
        """From any thread: run `deliver(event)` on the loop. Dropped once the loop is closed."""
        try:
            self._loop.call_soon_threadsafe(self._deliver, event)
        except RuntimeError:
            pass  # loop closed during shutdown: nobody is left to care

    def send(self, command: C) -> None:
        """From the loop: queue a command for the pjsua2 thread."""
        self._commands.put(command)

    def drain(self) -> list[C]:
        """From the pjsua2 thread: every command queued so far, in order."""
        out: list[C] = []
        while True:
            try:
                out.append(self._commands.get_nowait())
            except queue.Empty:
                return out
