"""The box calls outage callers back itself, once central is back (when central enables it).

For each callback request taken during an outage and not yet collected or connected, the box
dials `[central] callback_uri` (with {number}), says why it is calling and when the caller
had called, and once the person who answers presses 1 forwards to central with
the original call's IVR context: a voicemail never ties up an agent. A try that is not
answered, not confirmed, or not taken by an agent is retried after `callback_retry_s`, up to
`callback_attempts` times. Central may instead collect the requests and call back itself.
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Awaitable, Callable

from edgepbx.central.hours import parse_window, within
from edgepbx.ivr.events import ForwardContext
from edgepbx.ivr.prompts import synthesise
from edgepbx.store import Store

log = logging.getLogger("edgepbx.dialer")
INTRO = {
    "zh": "您好，这里是回电服务。您在{time}来电时，我们的系统暂时中断。",
    "en": "Hello, this is your call back. You called us at {time}, during a service outage.",
}


DIAL_RESULTS = {   # the callback flow's call outcome → what the dial achieved (only "connected" is final)
    "forwarded": "connected",
    "completed": "not confirmed",      # "not now" (2), or nobody pressed 1: a voicemail
    "abandoned": "hung up",
    "forward_failed": "agents busy",
}


class CallbackDialer:
    def __init__(self, store: Store, uri_template: str, attempts: int, retry_s: float,
                 place_call: Callable[[str, str, ForwardContext, dict[str, Path]], "asyncio.Future[str | None]"],
                 hours: str = "00:00-24:00", clock: Callable[[], time.struct_time] = time.localtime,
                 refusal: Callable[[str], str | None] = lambda number: None,
                 on_gave_up: Callable[[dict], Awaitable[None]] | None = None) -> None:
        """`place_call(uid, uri, context, prompt_files)` runs the call and returns its outcome;
        calls are placed only within `hours` of local time (`clock`), and never to a number
        `refusal` gives a reason against (edgepbx.numbers.callback_refusal). `on_gave_up(row)`
        hears of a callback whose last attempt failed (the caller is told by text)."""
        self.store = store
        self.on_gave_up = on_gave_up
        self.refusal = refusal
        self.hours = parse_window(hours)
        self.clock = clock
        self.uri_template = uri_template
        self.attempts, self.retry_s = attempts, retry_s
        self.place_call = place_call
        self.central_up: Callable[[], bool] = lambda: True
        self.enabled = False
        self._busy = asyncio.Lock()
        self._kicks: set[asyncio.Task] = set()

    async def load(self) -> None:
        self.enabled = (await self.store.setting("dialer", "off")) == "on"

    async def set_enabled(self, enabled: bool) -> None:
        await self.store.set_setting("dialer", "on" if enabled else "off")
        self.enabled = enabled

    def in_hours(self) -> bool:
        return within(self.hours, self.clock())

    async def run_once(self) -> int:
        """Dial every callback due now, one at a time; returns how many were connected."""
        if not self.enabled or not self.uri_template or self._busy.locked() or not self.central_up():
            return 0
        if not self.in_hours():
            return 0      # the next pass in the window dials
        connected = 0
        async with self._busy:
            for row in await self.store.callbacks_to_dial(self.attempts, self.retry_s, time.time()):
                why = self.refusal(row["number"])
                if why:
                    await self.store.note_not_dialled(row["id"], why)
                    log.warning("callback %d to %s not dialled: %s", row["id"], row["number"], why)
                    continue
                result = await self._dial(row)
                await self.store.note_dial(row["id"], result, time.time())
                log.info("callback %d to %s: %s", row["id"], row["number"], result)
                if result != "connected" and row["dial_attempts"] + 1 >= self.attempts and self.on_gave_up:
                    await self.on_gave_up(row)
                connected += result == "connected"
        return connected

    async def _dial(self, row: dict) -> str:
        uid = f"cb{row['id']}-{row['dial_attempts'] + 1}"
        language = row["language"]
        at = time.strftime("%H:%M", time.localtime(row["requested_at"]))
        intro = self.store.messages_dir / f"{uid}-intro.wav"
        files: dict[str, Path] = {}
        try:
            await asyncio.to_thread(synthesise, INTRO.get(language, INTRO["en"]).format(time=at), language, intro)
            files["callback_intro"] = intro
        except Exception as exc:  # noqa: BLE001 - the generic intro prompt still explains the call
            log.warning("callback %d: could not say the time (%s)", row["id"], exc)
        context = row["context"]
        data = {**context.get("data", {}), "callback_for": row["call_uid"], "called_at": at}
        carried = ForwardContext(path=tuple(row["ivr_path"]), language=language, data=data, secret_fields=(),
                                 mode=context.get("mode", "normal"), queue=context.get("queue"))
        try:
            outcome = await self.place_call(uid, self.uri_template.format(number=row["number"]), carried, files)
        finally:
            intro.unlink(missing_ok=True)
        return DIAL_RESULTS.get(outcome or "", outcome or "failed")

    def kick(self) -> None:
        """Central is back (or the dialer was just enabled): try now, not at the next tick."""
        task = asyncio.get_running_loop().create_task(self.run_once())
        self._kicks.add(task)
        task.add_done_callback(self._kicks.discard)

    async def run(self, interval_s: float = 30.0) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001
                log.exception("callback dialer pass failed")
            await asyncio.sleep(interval_s)
