"""The box's texts: a queue in the store, one worker that owns the modem, and the text line.

Everything goes through the store first: a text is queued (`sms_out`) before anyone is told
it will be sent, and a text received is stored (`sms`) before it is deleted from the SIM, so a
restart, a power cut or an unplugged modem loses none. The worker reopens a modem that went
away or stopped answering, with backoff (1 s doubling to 60 s), and never touches calls.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import serial

from edgepbx.config import Config
from edgepbx.sms.modem import AtModem, ModemError, ModemTimeout
from edgepbx.sms.pdu import Deliver, PduError, Reassembler, decode_deliver, encode_submit
from edgepbx.sms.texts import AUTOMATIC, asks_for_callback, language_of, load_texts, recipient
from edgepbx.store import Store

log = logging.getLogger(__name__)

STATUS_EVERY_S = 30.0
MAX_BACKOFF_S = 60.0
DAY_S = 86400.0
ALARM_EVERY_S = 3600.0


@dataclass
class ModemState:
    """What the console, the API and the LED show."""
    state: str = "off"            # off, opening, ready, absent, no_sim, not_answering, error
    sim: str = ""                 # READY, SIM PIN, ... (+CPIN)
    registration: str = ""        # home, roaming, searching, denied, not registered (+CREG)
    signal_dbm: int | None = None  # from +CSQ
    last_error: str = ""
    since: float = field(default_factory=time.time)

    def set(self, state: str, error: str = "") -> None:
        if state != self.state:
            self.since = time.time()
        self.state = state
        if error:
            self.last_error = error

    @property
    def fault(self) -> bool:
        return self.state not in ("off", "ready", "opening")


class SimNotReady(ModemError):
    pass


REGISTRATION = {"0": "not registered", "1": "home", "2": "searching", "3": "denied", "4": "unknown", "5": "roaming"}


def signal_dbm(csq: str) -> int | None:
    """+CSQ: rssi,ber → dBm (TS 27.007 8.5: 0 = -113 dBm, 31 = -51 dBm or more, 99 unknown)."""
    rssi = csq.partition(":")[2].split(",")[0].strip()
    return -113 + 2 * int(rssi) if rssi.isdigit() and int(rssi) <= 31 else None


class SmsService:
    def __init__(self, config: Config, store: Store, central_up: Callable[[], bool],
                 book_callback: Callable[[str, str], Awaitable[None]] | None = None) -> None:
        self.config = config
        self.sms = config.sms
        self.store = store
        self.central_up = central_up
        self.book_callback = book_callback
        self.modem = ModemState("off" if not config.sms.device else "opening")
        self.texts = load_texts(None)
        try:
            self.texts = load_texts(config.sms.texts)
        except ValueError as exc:            # a bad texts file: the built-in texts, and an alarm
            self.modem.last_error = str(exc)
            log.error("[sms] texts: %s; the built-in texts are used", exc)
        self._wake = asyncio.Event()
        self._incoming: list[int] = []       # SIM indexes announced by +CMTI
        self._reassembler = Reassembler()
        self._reference = random.randrange(256)
        self._alarm_sent: dict[str, float] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.sms.device)

    # ---- queueing (any task) ------------------------------------------------------------------
    def recipient(self, number: str) -> tuple[str | None, str]:
        box = self.config.box
        return recipient(number, box.country_code, box.trunk_prefix, self.sms.mobile_pattern)

    async def send(self, number: str, text: str, purpose: str) -> tuple[int | None, str]:
        """Queue `text` to `number`: (its id, "") or (None, why not). Automatic texts stop at
        `per_number_per_day` to one number."""
        if not self.enabled:
            return None, "no modem ([sms] device is empty)"
        to, why = self.recipient(number)
        if to is None:
            return None, why
        if purpose in AUTOMATIC:
            sent = await self.store.sms_count_to(to, time.time() - DAY_S, AUTOMATIC)
            if sent >= self.sms.per_number_per_day:
                return None, f"{sent} automatic texts to this number in 24 h ([sms] per_number_per_day)"
        try:
            encode_submit(to, text)          # too long, or not sendable: refused now, not queued
        except PduError as exc:
            return None, str(exc)
        sms_id = await self.store.queue_sms(to, text, purpose)
        self._wake.set()
        return sms_id, ""

    async def confirm(self, what: str, number: str, language: str) -> None:
        """A confirmation text (`what` is a key of the texts) in the caller's language."""
        if not self.enabled:
            return
        text = self.texts[what].get(language) or self.texts[what].get("en") or self.texts[what]["zh"]
        sms_id, why = await self.send(number, text, what)
        if sms_id is None:
            log.info("no %s text to %s: %s", what, number, why)
        else:
            log.info("%s text %d queued to %s", what, sms_id, number)

    async def alarm(self, key: str, text: str) -> None:
        """An alarm to the technicians' numbers, at most once per `key` per hour."""
        now = time.time()
        if not self.enabled or not self.sms.alarm_to or now - self._alarm_sent.get(key, 0.0) < ALARM_EVERY_S:
            return
        self._alarm_sent[key] = now
        for number in self.sms.alarm_to:
            sms_id = await self.store.queue_sms(number, f"edgepbx {self.config.box.name}: {text}", f"alarm:{key}")
            log.warning("alarm %s: text %d queued to %s", key, sms_id, number)
        self._wake.set()

    async def status(self) -> dict:
        counts = await self.store.sms_out_counts()
        m = self.modem
        return {"device": self.sms.device, "state": m.state, "sim": m.sim, "registration": m.registration,
                "signal_dbm": m.signal_dbm, "last_error": m.last_error, "since": m.since, **counts}

    # ---- the worker ---------------------------------------------------------------------------
    async def run(self) -> None:
        if not self.enabled:
            return
        backoff = 1.0
        while True:
            modem = AtModem(self.sms.device, self.sms.baud, self._unsolicited, timeout_s=self.sms.command_timeout_s)
            self.modem.set("opening")
            try:
                await modem.open()
                await self._start(modem)
                backoff = 1.0
                await self._serve(modem)
            except asyncio.CancelledError:
                await modem.close()
                raise
            except (serial.SerialException, OSError) as exc:
                self._fault("absent", f"cannot open {self.sms.device}: {getattr(exc, 'strerror', None) or exc}")
            except ModemTimeout as exc:
                self._fault("not_answering", str(exc))
            except SimNotReady as exc:
                self._fault("no_sim", str(exc))
            except ModemError as exc:
                self._fault("error", str(exc))
            await modem.close()
            await asyncio.sleep(backoff)
            backoff = min(MAX_BACKOFF_S, backoff * 2)

    def _fault(self, state: str, error: str) -> None:
        if self.modem.state != state:
            log.warning("SMS modem %s: %s (trying again)", state.replace("_", " "), error)
        self.modem.set(state, error)

    def _unsolicited(self, line: str) -> None:
        if line.startswith("+CMTI:"):            # +CMTI: "SM",3 (TS 27.005 3.4.1)
            index = line.rpartition(",")[2].strip()
            if index.isdigit():
                self._incoming.append(int(index))
                self._wake.set()

    async def _start(self, modem: AtModem) -> None:
        for attempt in range(3):                 # a modem just plugged in may miss the first AT
            try:
                await modem.command("AT", timeout_s=min(2.0, self.sms.command_timeout_s))
                break
            except ModemTimeout:
                if attempt == 2:
                    raise
        await modem.command("ATE0")
        await modem.command("AT+CMEE=1")
        pin = await modem.command("AT+CPIN?")
        self.modem.sim = next((line.partition(":")[2].strip() for line in pin if line.startswith("+CPIN:")), "")
        if self.modem.sim != "READY":
            raise SimNotReady("AT+CPIN?", f"SIM not ready ({self.modem.sim or 'no SIM'})")
        await modem.command("AT+CMGF=0")         # PDU mode
        await modem.command("AT+CNMI=2,1,0,0,0")  # tell us of each text stored (+CMTI)
        await self._poll_status(modem)
        self.modem.set("ready")
        log.info("SMS modem ready on %s (%s, signal %s dBm)", self.sms.device, self.modem.registration,
                 self.modem.signal_dbm)
        for line_pair in _pairs(await modem.command("AT+CMGL=4", timeout_s=30.0)):   # texts that came while away
            index, pdu = line_pair
            await self._received(modem, index, pdu)

    async def _poll_status(self, modem: AtModem) -> None:
        for line in await modem.command("AT+CREG?"):
            if line.startswith("+CREG:"):
                fields = line.partition(":")[2].split(",")
                self.modem.registration = REGISTRATION.get(fields[1].strip() if len(fields) > 1 else "", "unknown")
        for line in await modem.command("AT+CSQ"):
            if line.startswith("+CSQ:"):
                self.modem.signal_dbm = signal_dbm(line)

    async def _serve(self, modem: AtModem) -> None:
        last_status = time.monotonic()
        while True:
            self._wake.clear()                   # before the work: a +CMTI during it wakes the next wait
            if modem.lost.is_set():
                raise ModemTimeout("the modem went away (unplugged?)")
            while self._incoming:
                index = self._incoming.pop(0)
                lines = await modem.command(f"AT+CMGR={index}")
                pdu = next((line for line in lines if not line.startswith("+CMGR:")), None)
                if pdu:
                    await self._received(modem, index, pdu)
            await self._send_due(modem)
            if time.monotonic() - last_status >= STATUS_EVERY_S:
                await self._poll_status(modem)
                last_status = time.monotonic()
            for index in self._reassembler.expire(time.time()):
                await modem.command(f"AT+CMGD={index}")
            due = await self.store.sms_next_due()
            wait = STATUS_EVERY_S if due is None else max(0.05, min(STATUS_EVERY_S, due - time.time()))
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(modem.lost.wait())]
            try:
                await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def _received(self, modem: AtModem, index: int, pdu: str) -> None:
        try:
            part = decode_deliver(pdu)
        except PduError as exc:
            log.warning("SMS at SIM index %d is not a text we can read (%s): deleted", index, exc)
            await modem.command(f"AT+CMGD={index}")
            return
        whole = self._reassembler.add(part, index, time.time())
        if whole is None:
            return                               # its other parts are still on their way
        message, indexes = whole
        await self._text_line(message)           # stored first ...
        for i in indexes:                        # ... then off the SIM
            await modem.command(f"AT+CMGD={i}")

    async def _text_line(self, message: Deliver) -> None:
        """A text to the box is a request to central's agents, answered by text."""
        outage = not self.central_up()
        sms_id = await self.store.add_sms(message.sender, message.text, time.time(), outage)
        log.info("text %d from %s (%d characters)%s", sms_id, message.sender, len(message.text),
                 " during an outage" if outage else "")
        language = language_of(message.text)
        if outage and asks_for_callback(message.text) and self.book_callback is not None:
            await self.book_callback(message.sender, language)
            await self.confirm("outage_callback", message.sender, language)
            return
        await self.confirm("received_outage" if outage else "received", message.sender, language)

    async def _send_due(self, modem: AtModem) -> None:
        for row in await self.store.sms_due(time.time()):
            self._reference = (self._reference + 1) % 256
            try:
                parts = encode_submit(row["to_number"], row["text"], self._reference)
            except PduError as exc:
                await self.store.sms_attempt_failed(row["id"], str(exc), None)
                continue
            try:
                for part in parts:
                    await modem.send_pdu(part.length, part.hex)
            except ModemError as exc:
                await self._attempt_failed(row, exc.result)
                continue
            except ModemTimeout:
                await self._attempt_failed(row, "no answer from the modem")
                raise
            await self.store.sms_sent(row["id"], time.time())
            log.info("text %d (%s) sent to %s in %d part(s)", row["id"], row["purpose"], row["to_number"], len(parts))

    async def _attempt_failed(self, row: dict, error: str) -> None:
        attempts = row["attempts"] + 1
        if attempts >= self.sms.attempts:
            await self.store.sms_attempt_failed(row["id"], error, None)
            log.warning("text %d to %s given up after %d attempts: %s", row["id"], row["to_number"], attempts, error)
            return
        delay = min(3600.0, self.sms.retry_s * 2 ** (attempts - 1))
        await self.store.sms_attempt_failed(row["id"], error, time.time() + delay)
        log.warning("text %d to %s not sent (%s): again in %.0f s", row["id"], row["to_number"], error, delay)


def _pairs(lines: list[str]) -> list[tuple[int, str]]:
    """+CMGL's answer: a "+CMGL: index,stat,,length" line, then the PDU, for each text."""
    out = []
    for head, pdu in zip(lines, lines[1:]):
        if head.startswith("+CMGL:"):
            index = head.partition(":")[2].split(",")[0].strip()
            if index.isdigit():
                out.append((int(index), pdu))
    return out

