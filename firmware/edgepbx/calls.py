"""One asyncio task per call: feeds SIP events to the IVR engine and carries out its actions.

The task owns the call's timers (the engine's deadline, the forward answer timeout) and
writes the call-detail record, committed before the call is reported ended.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from edgepbx.central.forwards import ForwardHealth
from edgepbx.central.link import CentralLink
from edgepbx.config import Config
from edgepbx.ivr import events as ivr
from edgepbx.ivr.engine import CallSession
from edgepbx.ivr.flow import Flow
from edgepbx.ivr.prompts import PromptCatalogue
from edgepbx.ivr.variants import variant_path
from edgepbx.ivr.voice_examples import VoiceExamples
from edgepbx.ivr.voice_learning import VoiceLearner
from edgepbx.numbers import forms
from edgepbx.sip import events as sip
from edgepbx.sip.digits import DigitMerger
from edgepbx.sip.headers import caller_number, context_headers
from edgepbx.sip.hop import ThreadHop
from edgepbx.store import CallRecord, DirectoryEntry, Store

if TYPE_CHECKING:
    from edgepbx.sms.service import SmsService      # the type only: no import cycle

log = logging.getLogger("edgepbx.call")
_CANCELLED = 487          # the caller gave up while it rang (CANCEL): they hung up


@dataclass
class _ForwardTimeout:
    """Internal event: central did not answer in time."""


@dataclass
class CentralLost:
    """The link watcher declared central down: a call talking to it must come back here."""


class CallTask:
    def __init__(self, incoming: sip.IncomingCall, flow: Flow, config: Config, hop: ThreadHop,
                 catalogue: PromptCatalogue, store: Store, link: CentralLink, outage_flow: Flow,
                 wait_flow: Flow | None = None, *, outbound: bool = False,
                 carried: ivr.ForwardContext | None = None, prompt_files: dict[str, Path] | None = None,
                 voice_examples: VoiceExamples | None = None, csat_flow: Flow | None = None,
                 forwards: ForwardHealth | None = None, learner: VoiceLearner | None = None,
                 texts: SmsService | None = None) -> None:
        """`outbound`: the box placed this call (a callback): no answering, `carried` is the
        original call's context and `prompt_files` are prompts made for this call only.
        `forwards` hears how each forward to central ends."""
        self.uid = incoming.uid
        self.caller_uri = incoming.caller
        self.caller = caller_number(incoming.caller) or "anonymous"
        self.called = caller_number(incoming.called) or incoming.called
        self.config = config
        self.hop = hop
        self.forwards = forwards or ForwardHealth()
        self._forward_timed_out = False
        self.catalogue = catalogue
        self.voice_examples = voice_examples
        self.learner = learner
        self.texts = texts              # confirmations by SMS ([sms]); None: no texts
        self._unsure_audio: bytes | None = None     # the last word not understood (learning voices only)
        self.csat_flow = csat_flow
        self.csat: int | None = None
        self._ended_outcome: str | None = None    # "forwarded", kept while the score is asked
        self.store = store
        self.flow = flow
        self.outbound = outbound
        self.carried = carried
        self.session = CallSession(flow, carried.language if carried else config.ivr.language,
                                   carried.mode if carried else "normal", carried)
        self.known: DirectoryEntry | None = None
        self.link = link
        self.outage_flow = outage_flow
        self.wait_flow = wait_flow
        self._wait_offered = False
        self._queue = carried.queue if carried else None   # the queue a later forward goes to
        self._prompt_swap: dict[str, str] = {}
        self._prompt_files = prompt_files or {}
        self.during_outage = False
        self._forward_kind: str | None = None   # "central" or "backup" while a forward is up
        self._messages = 0
        self._message_context: ivr.ForwardContext | None = None
        self.inbox: asyncio.Queue[object] = asyncio.Queue()
        self.merger = DigitMerger()
        self.started_wall = time.time()
        self.answered_wall: float | None = None
        self.forward_target: str | None = None
        self.cause = "unknown"
        self._forward_timer: asyncio.TimerHandle | None = None
        self._hung_up_by_box = False
        self._progress_task: asyncio.Task | None = None
        self._progress_dirty = False

    def deliver(self, event: object) -> None:
        self.inbox.put_nowait(event)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        if self.outbound:
            log.info("call %s to %s: calling back", self.uid, self.caller_uri)
        else:
            log.info("call %s from %s to %s: ringing", self.uid, self.caller, self.called)
            self.hop.send(sip.Answer(self.uid))
        box = self.config.box
        self.known = (await self.store.lookup(forms(self.caller, box.country_code, box.trunk_prefix))
                      if self.caller != "anonymous" else None)
        if self.known is not None and not self.outbound:   # the directory knows the caller
            language = self.known.language if self.known.language in self.flow.languages else self.session.language
            mode = next((m for m in ("visually_impaired", "elderly") if m in self.known.flags), "normal")
            if language != self.session.language or mode != "normal":
                self.session = CallSession(self.flow, language, mode)
                if mode != "normal":
                    log.info("call %s in %s mode (directory)", self.uid, mode)
        self._keep_progress()
        try:
            await self._until_media()
            self.answered_wall = time.time()
            if self.config.central.uri and self.link.routing == "local":  # no central at all: the IVR runs
                self.forwards.counts.fallbacks += 1
                self.during_outage = True
                self.session = CallSession(self.outage_flow, self.session.language, self.session.mode)
            log.info("call %s answered (flow %s, language %s)", self.uid, self.session.flow.name, self.session.language)
            await self._act(self.session.start(loop.time()))
            while True:
                timeout = None if self.session.deadline is None else max(0.0, self.session.deadline - loop.time())
                try:
                    event = await asyncio.wait_for(self.inbox.get(), timeout)
                except asyncio.TimeoutError:
                    await self._act(self.session.handle(ivr.Timeout(), loop.time()))
                    continue
                if isinstance(event, sip.CallEnded):
                    self._ended(event)
                    break
                await self._on_event(event, loop.time())
        except _Ended:
            pass
        finally:
            if self._forward_timer is not None:
                self._forward_timer.cancel()
            await self._record()

    async def _until_media(self) -> None:
        while True:
            event = await self.inbox.get()
            if isinstance(event, sip.MediaReady):
                return
            if isinstance(event, sip.CallEnded):
                self._ended(event)
                raise _Ended

    def _ended(self, event: sip.CallEnded) -> None:
        if self._hung_up_by_box:
            self.cause = "box hung up"
        elif event.code >= 300 and event.code != _CANCELLED:     # refused by the stack, or its ACK never came
            self.cause = f"not connected ({event.code} {event.cause})"
        else:
            self.cause = f"caller hung up ({event.code} {event.cause})"
        self.session.handle(ivr.CallerHungUp(), 0.0)

    async def _on_event(self, event: object, now: float) -> None:
        if isinstance(event, sip.DigitReceived):
            if not self.merger.accept(event.digit, event.source, event.at):
                return
            self.forwards.counts.keys[event.source] += 1
            shown = "*" if self.session.secret_input else event.digit
            log.info("call %s key %s (%s)", self.uid, shown, event.source)
            await self._act(self.session.handle(ivr.Digit(event.digit), now))
        elif isinstance(event, sip.VoiceKeyHeard):
            self.forwards.counts.voice_keys += 1
            log.info("call %s said %s (voice, confidence %.2f)", self.uid, event.key, event.confidence)
            await self._act(self.session.handle(ivr.VoiceKey(event.key, event.confidence), now))
        elif isinstance(event, sip.VoiceUnsure):
            self._unsure_audio = event.audio
            await self._act(self.session.handle(ivr.VoiceUnsure(), now))
        elif isinstance(event, sip.SlowSpeech):
            log.info("call %s: slow speech, %.1f syllables/s", self.uid, event.syllables_per_second)
            await self._act(self.session.handle(ivr.SpeechPace(event.syllables_per_second, True), now))
        elif isinstance(event, sip.PlaybackFinished):
            await self._act(self.session.handle(ivr.PlaybackDone(event.token), now))
        elif isinstance(event, sip.HoldChanged):
            log.info("call %s %s", self.uid, "on hold" if event.held else "back from hold")
            await self._act(self.session.handle(ivr.CallerHold(event.held), now))
        elif isinstance(event, sip.ForwardAnswered):
            self._cancel_forward_timer()
            log.info("call %s forwarded: %s answered", self.uid, self._forward_kind)
            if self._forward_kind == "central":
                self.forwards.answered()
            await self._act(self.session.handle(ivr.ForwardResult(True), now))
        elif isinstance(event, sip.ForwardEnded):
            log.info("call %s: central hung up", self.uid)
            if self.config.access.csat and self.csat_flow is not None and self.session.outcome == "forwarded":
                self._ended_outcome = "forwarded"
                self.session = CallSession(self.csat_flow, self.session.language, self.session.mode, self.session.context())
                await self._act(self.session.start(now))
            else:
                self._hung_up_by_box = True
                self.hop.send(sip.HangUp(self.uid))
        elif isinstance(event, sip.ForwardFailed):
            self._cancel_forward_timer()
            kind, self._forward_kind = self._forward_kind, None
            log.info("call %s forward to %s failed: %s", self.uid, kind, event.reason)
            if kind == "central":
                timeout = self.config.central.answer_timeout_s
                self.forwards.failed(f"not answered in {timeout:.0f} s" if self._forward_timed_out else event.reason)
                await self._to_outage(now, f"forward failed: {event.reason}")
            else:
                await self._act(self.session.handle(ivr.ForwardResult(False, event.reason), now))
        elif isinstance(event, _ForwardTimeout):
            log.info("call %s forward not answered in %.0f s", self.uid, self.config.central.answer_timeout_s)
            self._forward_timed_out = True
            self.hop.send(sip.CancelForward(self.uid))
        elif isinstance(event, CentralLost):
            if self._forward_kind == "central":
                log.info("call %s: central lost, taking the caller back", self.uid)
                self.hop.send(sip.DropForward(self.uid, "central lost"))
        elif isinstance(event, sip.RecordingFinished):
            await self._message_done(event, now)
        elif isinstance(event, sip.CentralWait):
            log.info("call %s: central expects a %d s wait", self.uid, event.seconds)
            self.link.set_expected_wait(event.seconds, time.monotonic())

    def _cancel_forward_timer(self) -> None:
        if self._forward_timer is not None:
            self._forward_timer.cancel()
            self._forward_timer = None

    async def _act(self, actions: list[ivr.Action]) -> None:
        await self._carry_out(actions)
        if any(isinstance(a, (ivr.Entered, ivr.Collected, ivr.Forward)) for a in actions):
            self._keep_progress()

    async def _carry_out(self, actions: list[ivr.Action]) -> None:
        for action in actions:
            if isinstance(action, ivr.Play):
                files = tuple(self._prompt_files.get(pid) or self._prompt_file(self._prompt_swap.get(pid, pid), lang, action.variant)
                              for pid, lang in action.prompts)
                self.hop.send(sip.PlayFiles(self.uid, action.token, files))
            elif isinstance(action, ivr.StopPlayback):
                self.hop.send(sip.StopPlay(self.uid))
            elif isinstance(action, ivr.Listen):
                examples = self.voice_examples.load(action.language) if action.vocabulary and self.voice_examples else {}
                learn = bool(self.learner and self.learner.enabled and action.vocabulary and not action.digit_string)
                if action.vocabulary and self.learner:
                    learnt = self.learner.templates(action.language)
                    examples = {k: examples.get(k, []) + learnt.get(k, []) for k in set(examples) | set(learnt)}
                self._unsure_audio = None
                self.hop.send(sip.ListenFor(self.uid, action.language, action.vocabulary, action.digit_string, examples,
                                            learn=learn))
            elif isinstance(action, ivr.LearnVoice):
                audio, self._unsure_audio = self._unsure_audio, None
                if audio and self.learner and await self.learner.keep(self.uid, action.language, action.key, audio):
                    log.info("call %s: kept the word not understood as %s (learning voices)", self.uid, action.key)
            elif isinstance(action, ivr.ModeChanged):
                log.info("call %s now in %s mode (%s)", self.uid, action.mode, action.reason)
            elif isinstance(action, ivr.Entered):
                log.info("call %s at %s (%s)", self.uid, action.node, action.type)
            elif isinstance(action, ivr.Collected):
                log.info("call %s entered %s = %s", self.uid, action.field, action.shown)
                if self._ended_outcome is not None and action.field == "csat" and action.shown in "12345":
                    self.csat = int(action.shown)
            elif isinstance(action, ivr.Forward):
                await self._forward(action)
            elif isinstance(action, ivr.RequestCallback):
                number = action.number or self.caller
                await self.store.add_callback(self.uid, number, time.time(), action.context.language,
                                              action.context.path, {"data": dict(action.context.data),
                                                                    "queue": action.context.queue,
                                                                    "mode": action.context.mode},
                                              during_outage=self.during_outage,
                                              priority=1 if action.context.mode == "elderly" else 0)
                log.info("call %s callback request stored%s", self.uid, " (during outage)" if self.during_outage else "")
                if self.texts is not None:
                    await self.texts.confirm("outage_callback" if self.during_outage else "callback_booked", number,
                                             action.context.language)
            elif isinstance(action, ivr.SendText):
                number = action.number or self.caller
                sms_id, why = (await self.texts.send(number, action.text, "flow") if self.texts is not None
                               else (None, "no SMS service"))
                log.info("call %s: text %s", self.uid, f"{sms_id} queued to {number}" if sms_id else f"not sent: {why}")
            elif isinstance(action, ivr.Record):
                self._messages += 1
                path = self.store.messages_dir / f"{self.uid}-{self._messages}.wav"
                self._message_context = action.context
                log.info("call %s recording a message (at most %.0f s)", self.uid, action.max_seconds)
                self.hop.send(sip.StartRecording(self.uid, path))
            elif isinstance(action, ivr.StopRecording):
                self.hop.send(sip.StopRecording(self.uid))
            elif isinstance(action, ivr.Hangup):
                log.info("call %s box hangs up (%s)", self.uid, action.reason)
                self._hung_up_by_box = True
                self.hop.send(sip.HangUp(self.uid))

    def _prompt_file(self, prompt_id: str, language: str, variant: str) -> Path:
        """The elderly / visually-impaired version when it has been made, else the prompt itself."""
        if variant != "normal":
            derived = variant_path(self.catalogue, prompt_id, language, variant)
            if derived.is_file():
                return derived
        return self.catalogue.path(prompt_id, language)

    async def _forward(self, action: ivr.Forward) -> None:
        loop = asyncio.get_running_loop()
        if action.target == "backup":
            uri = self.config.central.backup_uri
            if not uri:
                log.info("call %s forward: no backup line configured", self.uid)
                await self._act(self.session.handle(ivr.ForwardResult(False, "no backup line"), loop.time()))
                return
        else:
            uri = self.config.central.uri
            if not uri or self.link.routing == "local":
                await self._to_outage(loop.time(), "no central configured" if not uri else "central is down")
                return
            wait = self.link.expected_wait(time.monotonic())
            if (self.wait_flow is not None and not self._wait_offered and not self.outbound
                    and wait >= self.config.central.announce_wait_over_s):
                await self._offer_callback(loop.time(), action, wait)
                return
            if action.context.queue is None and self._queue is not None:
                action = ivr.Forward(replace(action.context, queue=self._queue), action.target)
        self._forward_kind = action.target
        self._forward_timed_out = False
        self.forward_target = uri
        headers = context_headers(action.context, box=self.config.box.name, call_uid=self.uid, caller=self.caller,
                                  known=self.known)
        log.info("call %s forwarding to %s (queue %s)", self.uid, uri, action.context.queue or "-")
        self.hop.send(sip.ForwardTo(self.uid, uri, tuple(headers)))
        loop = asyncio.get_running_loop()
        self._forward_timer = loop.call_later(self.config.central.answer_timeout_s, self.deliver, _ForwardTimeout())

    async def _to_outage(self, now: float, why: str) -> None:
        """Survivable mode for this call: the outage flow, carrying what the caller did so far."""
        log.info("call %s: answering locally (%s)", self.uid, why)
        self.forwards.counts.fallbacks += 1
        self.during_outage = True
        self.session = CallSession(self.outage_flow, self.session.language, self.session.mode, self.session.context())
        await self._act(self.session.start(now))

    async def _offer_callback(self, now: float, action: ivr.Forward, wait: float) -> None:
        """Peak load: say the expected wait, then hold (forward) or take a callback instead."""
        assert self.wait_flow is not None
        log.info("call %s: central expects a %.0f s wait, offering a callback", self.uid, wait)
        self._wait_offered = True
        self._queue = action.context.queue
        self._prompt_swap = {"wait_3min": _wait_prompt(wait)}
        self.session = CallSession(self.wait_flow, self.session.language, self.session.mode, action.context)
        await self._act(self.session.start(now))

    async def _message_done(self, event: sip.RecordingFinished, now: float) -> None:
        seconds = event.seconds
        if seconds >= 1.0:
            ctx = self._message_context or self.session.context()
            row = await self.store.add_message(self.uid, self.caller, time.time(), seconds, ctx.language, ctx.path,
                                               event.path.name, during_outage=self.during_outage)
            log.info("call %s message %d stored (%.1f s)", self.uid, row, seconds)
            if self.texts is not None:
                await self.texts.confirm("message_left", self.caller, ctx.language)
        else:
            event.path.unlink(missing_ok=True)
            seconds = 0.0
        await self._act(self.session.handle(ivr.RecordingStopped(seconds), now))

    def _snapshot(self) -> CallRecord:
        """The call's record as of now."""
        session = self.session
        return CallRecord(
            call_uid=self.uid, caller=self.caller, called=self.called, started_at=self.started_wall,
            answered_at=self.answered_wall, ended_at=time.time(), language=session.language,
            ivr_path=tuple(session.path), digits=session.record_digits(),
            outcome=self._ended_outcome or session.outcome or ("unanswered" if self.answered_wall is None else "abandoned"),
            forward_target=self.forward_target, hangup_cause=self.cause, mode=session.mode, csat=self.csat)

    def _keep_progress(self) -> None:
        """What the call has done so far, kept in the store: a crash leaves it "interrupted"
        with this context instead of without a trace. Written behind the call (a synced write
        must not delay the first prompt), one write at a time, the latest state last."""
        self._progress_dirty = True
        if self._progress_task is None or self._progress_task.done():
            self._progress_task = asyncio.get_running_loop().create_task(self._write_progress())

    async def _write_progress(self) -> None:
        while self._progress_dirty:
            self._progress_dirty = False
            try:
                await self.store.call_in_progress(self._snapshot())
            except Exception:  # noqa: BLE001 - a full disk must not end the call
                log.warning("call %s: progress not kept (store error)", self.uid, exc_info=True)

    async def _record(self) -> None:
        self.forwards.counts.calls[self._snapshot().outcome] += 1
        if self._progress_task is not None:
            self._progress_dirty = False
            await self._progress_task      # its row must not come back after the final record
        record = self._snapshot()
        try:
            row = await self.store.add_call(record)
        except Exception:  # noqa: BLE001 - the record is lost; say so loudly
            log.exception("call %s: call record NOT written", self.uid)
            return
        log.info("call %s ended: %s, outcome %s, %.1f s, path %s (record %d)", self.uid, self.cause,
                 record.outcome, record.ended_at - record.started_at, ">".join(record.ivr_path) or "-", row)


def _wait_prompt(seconds: float) -> str:
    for limit, prompt in ((240, "wait_3min"), (450, "wait_5min"), (720, "wait_10min")):
        if seconds < limit:
            return prompt
    return "wait_long"


class _Ended(Exception):
    pass


class CallRouter:
    """On the loop: routes each SIP event to its call's task; starts a task per new call."""

    def __init__(self, make_task: Callable[[sip.IncomingCall], CallTask]) -> None:
        self._make_task = make_task
        self.tasks: dict[str, CallTask] = {}
        self._running: set[asyncio.Task] = set()

    def deliver(self, event: sip.SipEvent) -> None:
        if isinstance(event, sip.IncomingCall):
            task = self._make_task(event)
            self.tasks[event.uid] = task
            running = asyncio.get_running_loop().create_task(self._run(task), name=f"call-{event.uid}")
            self._running.add(running)
            running.add_done_callback(self._running.discard)
            return
        task = self.tasks.get(event.uid)
        if task is not None:
            task.deliver(event)

    async def _run(self, task: CallTask) -> None:
        try:
            await task.run()
        except Exception:  # noqa: BLE001
            log.exception("call %s task failed", task.uid)
        finally:
            self.tasks.pop(task.uid, None)

    def start_outbound(self, task: CallTask) -> asyncio.Task:
        """Run a call the box places itself; its SIP events arrive under `task.uid`."""
        self.tasks[task.uid] = task
        running = asyncio.get_running_loop().create_task(self._run(task), name=f"call-{task.uid}")
        self._running.add(running)
        running.add_done_callback(self._running.discard)
        return running

    def central_lost(self) -> None:
        for task in list(self.tasks.values()):
            task.deliver(CentralLost())

    async def drain(self, timeout: float) -> None:
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout)
