"""Start-up in phases (config → store → flow and prompts → API → call stack), shutdown in reverse."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import time
from typing import Callable

from edgepbx import __version__, resilience, retention
from edgepbx.api.context import BoxContext
from edgepbx.api.server import ApiServer
from edgepbx.calls import CallRouter, CallTask
from edgepbx.config import Config, uses_tls
from edgepbx.sip.endpoint import TlsSettings
from pathlib import Path

from edgepbx.central.dialer import CallbackDialer
from edgepbx.central.forwards import ForwardHealth
from edgepbx.central.service import CentralService
from edgepbx.ivr.events import ForwardContext
from edgepbx.sip import events as sip_events
from edgepbx.flows import ActiveFlow
from edgepbx.ivr.flow import load_flow
from edgepbx.panel.leds import StatusLeds
from edgepbx.panel.pins import load_pins
from edgepbx.ivr.prompts import PromptCatalogue
from edgepbx.ivr.voice_examples import VoiceExamples
from edgepbx.ivr.voice_learning import VoiceLearner
from edgepbx.api.metrics_server import MetricsServer
from edgepbx.update.service import FirmwareService, release_on_trial
from edgepbx.numbers import callback_refusal
from edgepbx.sms.service import SmsService
from edgepbx.sip.hop import ThreadHop
from edgepbx.sip.admission import Admission
from edgepbx.sip.certs import keep_alarms
from edgepbx.sip.stack import SipStack
from edgepbx.sip.trust import TrustKeeper, policy as trust_policy
from edgepbx.store import Store
from edgepbx.watchdog import Notifier, healthy
from edgepbx.panel.front import FrontPanel
from edgepbx.config_edit import ConfigEditor
from edgepbx.console.commands import TREE, Commands
from edgepbx.console.logbuffer import LogBuffer
from edgepbx.console.password import hash_password, verify_password
from edgepbx.console.service import ConsoleService, resolve_port
from edgepbx.console.session import ConsoleSession

log = logging.getLogger("edgepbx")


def tls_settings(config: Config) -> TlsSettings | None:
    """The box's TLS transport: a listener at [sip] tls_listen, or (for a TLS peer only) one on
    a free port; the far end's certificate always checked."""
    if not uses_tls(config):
        return None
    sip = config.sip
    return TlsSettings(port=sip.tls_listen.port if sip.tls_listen else 0, cert=str(sip.tls_cert or ""),
                       key=str(sip.tls_key or ""), ca=str(sip.tls_ca) if sip.tls_ca else None)


def _pin_factory(config: Config):  # noqa: ANN202
    if config.panel.pin_factory == "mock":
        from gpiozero import Device
        from gpiozero.pins.mock import MockFactory
        if not isinstance(Device.pin_factory, MockFactory):  # a bench or test harness may hold the pins
            Device.pin_factory = MockFactory()
        return Device.pin_factory
    return None


def _fxo(config: Config, factory, send, store: Store) -> "FxoLine | None":  # noqa: ANN001
    """The analog line, when enabled; a missed call is recorded with its caller ID."""
    if not config.fxo.enabled:
        return None
    from edgepbx.fxo.driver import FxoLine, caller_uri
    from edgepbx.sip.headers import caller_number
    from edgepbx.store import CallRecord
    loop = asyncio.get_running_loop()

    def missed(cid, rings: int) -> None:  # noqa: ANN001
        now = time.time()
        record = CallRecord(f"fxo-missed-{int(now * 1000)}", caller_number(caller_uri(cid)) or "anonymous",
                            config.fxo.line, now, None, now, config.ivr.language, (), {}, "missed", None,
                            f"caller gave up after {rings} ring(s)")
        loop.create_task(store.add_call(record))
    return FxoLine(config.fxo, load_pins(config.panel.pins), factory, send, missed)


def _panel(config: Config, factory) -> StatusLeds | None:  # noqa: ANN001
    if config.panel.pins is None:
        return None
    pins = load_pins(config.panel.pins)
    try:
        return StatusLeds(pins, factory)
    except Exception as exc:  # noqa: BLE001 - no GPIO here: the box still answers calls
        log.warning("front panel disabled: %s", exc)
        return None


def _front(config: Config, factory, **hooks) -> FrontPanel | None:  # noqa: ANN001
    if config.panel.pins is None:
        return None
    try:
        return FrontPanel(load_pins(config.panel.pins), factory, **hooks)
    except Exception as exc:  # noqa: BLE001 - no GPIO here: the box still answers calls
        log.warning("front button, heartbeat and transfer relay disabled: %s", exc)
        return None


async def run_box(config: Config) -> int:
    logbuf = LogBuffer()                 # the console's `show log` starts with the start-up
    logging.getLogger().addHandler(logbuf)
    catalogue = PromptCatalogue(config.ivr.prompts)
    alarms: dict[str, str] = {}      # what the box repaired or replaced instead of refusing to start
    on_trial = release_on_trial(config)
    if on_trial:
        log.info("firmware %s on trial: it must come up healthy or the launcher switches back", on_trial)
    store = await resilience.open_store(config.store.path, alarms, move_aside=not on_trial)
    for call in await store.close_interrupted():
        log.warning("call %s from %s was in progress when the box stopped: recorded as interrupted (path %s)",
                    call.call_uid, call.caller, ">".join(call.ivr_path) or "-")
    flows = await resilience.active_flow(store, catalogue, config, alarms)
    for warning in flows.flow.warnings:
        log.warning("flow %s: %s", flows.flow.name, warning)
    outage = await resilience.system_flow(store, "outage", config.central.outage_flow, alarms)
    wait = await resilience.system_flow(store, "wait", "wait", alarms)
    callback_flow = await resilience.system_flow(store, "callback_call", "callback_call", alarms)
    csat_flow = await resilience.system_flow(store, "csat", "csat", alarms)
    await resilience.repair_prompts_off_loop(catalogue, [flows.flow, outage, wait, callback_flow, csat_flow], alarms)
    loop = asyncio.get_running_loop()
    # Taken over before start-up goes on: a SIGTERM from systemd (or a test) during start-up or
    # right after the ready line ends the box cleanly instead of killing it mid-write.
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    voice_examples = VoiceExamples(config.ivr.voice_examples)
    forwards = ForwardHealth()
    learner = VoiceLearner(store, config.ivr.learn_voices,
                           lambda language: sorted((config.ivr.prompts / language).glob("*.wav")))
    if not config.ivr.learn_voices:
        forgotten = await store.forget_voices()
        if forgotten:
            log.info("learn_voices is off: deleted %d kept voice samples", forgotten)
    texts = SmsService(config, store, central_up=lambda: False, book_callback=lambda number, language: store.add_callback(
        f"sms-{int(time.time() * 1000)}", number, time.time(), language, (), {"data": {"via": "sms"}, "queue": "",
                                                                               "mode": "normal"}, during_outage=True))
    router = CallRouter(lambda incoming: CallTask(incoming, flows.flow, config, hop, catalogue, store,
                                                  central.link, outage, wait, voice_examples=voice_examples,
                                                  csat_flow=csat_flow, forwards=forwards, learner=learner,
                                                  texts=texts))

    async def place_callback(uid: str, uri: str, carried: ForwardContext, files: dict[str, Path]) -> str | None:
        task = CallTask(sip_events.IncomingCall(uid, uri, "callback"), callback_flow, config, hop, catalogue, store,
                        central.link, outage, outbound=True, carried=carried, prompt_files=files,
                        voice_examples=voice_examples, csat_flow=csat_flow, forwards=forwards, texts=texts)
        running = router.start_outbound(task)
        hop.send(sip_events.Dial(uid, uri))
        while not running.done() and task.session.outcome != "forwarded":  # an agent has them: done
            await asyncio.sleep(0.2)
        return task.session.outcome

    dialer = CallbackDialer(store, config.central.callback_uri, config.central.callback_attempts,
                            config.central.callback_retry_s, place_callback, config.central.callback_hours,
                            refusal=lambda number: callback_refusal(number, config.box.country_code,
                                                                    config.box.trunk_prefix,
                                                                    config.central.callback_international),
                            on_gave_up=lambda row: texts.confirm("callback_failed", row["number"], row["language"]))
    pin_factory = _pin_factory(config)
    leds = _panel(config, pin_factory)
    central = CentralService(config, store, router.central_lost, leds, on_back=dialer.kick)
    dialer.central_up = lambda: central.link.routing == "central"
    texts.central_up = dialer.central_up
    hop: ThreadHop = ThreadHop(loop, router.deliver)
    admission = Admission(trust_policy(config))
    trust = TrustKeeper(config, admission)
    stack = SipStack(config.sip, hop, admission, tls=tls_settings(config), central_srtp=config.central.srtp)
    box = BoxContext(config, store, flows, catalogue, active_calls=lambda: len(router.tasks), central=central,
                     dialer=dialer, voice_examples=voice_examples, forwards=forwards, admission=admission,
                     trust=trust, alarms=alarms, system_flows=(outage, wait, callback_flow, csat_flow),
                     learner=learner, sms=texts)
    firmware = FirmwareService(config, store, lambda: len(router.tasks), lambda reason: restart(reason),
                               central=central, alarms=alarms)
    firmware.raise_alarms()
    box.firmware = firmware
    api = ApiServer(box)
    metrics_server = MetricsServer(box, config.api.metrics_listen) if config.api.metrics_listen else None
    try:
        await dialer.load()
        await central.start()
        await api.start()
        if metrics_server is not None:
            await metrics_server.start()
        await asyncio.to_thread(stack.start)
    except Exception:
        await api.stop()
        if metrics_server is not None:
            await metrics_server.stop()
        await central.stop()
        await store.close()
        raise
    try:
        fxo = _fxo(config, pin_factory, hop.send, store)
    except Exception:
        await asyncio.to_thread(stack.stop)
        await api.stop()
        await central.stop()
        await store.close()
        raise
    fxo_task = loop.create_task(fxo.run(), name="fxo-line") if fxo is not None else None
    trust_task = loop.create_task(trust.run(), name="sip-trust")
    cert_task = loop.create_task(keep_alarms(alarms, config.sip.tls_cert, central.central_certificate,
                                             lambda: central.tls_problem, warn=central.set_certificate_warning),
                                 name="certificates")
    keeper = loop.create_task(retention.run(store, config.store.min_free_mb * 1024 * 1024), name="retention")
    redial = loop.create_task(dialer.run(), name="callback-dialer")
    learning = loop.create_task(learner.run(), name="voice-learning")
    texting = loop.create_task(texts.run(), name="sms")
    alarm_texts = loop.create_task(text_alarms(texts, box, leds), name="sms-alarms")
    notifier = Notifier()
    watchdog = loop.create_task(notifier.watch(lambda: stack.heartbeat), name="watchdog")
    restart_reason: list[str] = []

    def restart(reason: str) -> None:
        """Stop with RESTART_EXIT: systemd starts the box again (the console's commit, reboot)."""
        log.info("restart requested: %s", reason)
        restart_reason.append(reason)
        loop.call_later(0.5, stop.set)      # the console's answer reaches the technician first

    console = await _console(config, box, store, router, restart, logbuf)

    def button_reset() -> None:
        if Path(config.source).is_file():
            ConfigEditor(Path(config.source)).factory_reset()
        restart("factory reset from the front button")

    front = _front(config, pin_factory, calls=lambda: len(router.tasks), factory_reset=button_reset,
                   healthy=lambda: healthy(time.monotonic(), stack.heartbeat),
                   status=lambda: f"{len(router.tasks)} call(s), central {central.state}, routing {central.link.routing}")
    panel_task = None
    if front is not None:
        front.start()
        panel_task = loop.create_task(front.run(), name="front-panel")
    rollback = _arm_confirm_rollback(config, restart)
    sip_at = str(config.sip.listen)
    if stack.published != config.sip.listen.host:   # bound to every interface: say what SDP carries
        sip_at += f" (announced as {stack.published})"
    log.info("edgepbx %s ready: SIP %s %s, API %s, flow %s v%d, central %s, store %s",
             __version__, "udp+tcp" if config.sip.tcp else "udp", sip_at, api.url,
             flows.flow.name, flows.current.version, config.central.uri or "none", config.store.path)
    notifier.send(f"READY=1\nSTATUS=answering calls on {config.sip.listen}")
    health = loop.create_task(firmware.confirm_health(lambda: healthy(time.monotonic(), stack.heartbeat)),
                              name="firmware-health")
    await stop.wait()
    if rollback is not None:
        rollback.cancel()
    if front is not None:
        panel_task.cancel()
        front.close()          # the relay drops: the line goes to the backup phone
    if console is not None:
        await console.stop()
    notifier.send("STOPPING=1")
    log.info("stopping: hanging up %d call(s)", len(router.tasks))
    for task in (health, keeper, redial, learning, texting, alarm_texts, watchdog, trust_task, cert_task, *([fxo_task] if fxo_task else [])):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await api.stop()
    if metrics_server is not None:
        await metrics_server.stop()
    await central.stop()
    await asyncio.to_thread(stack.stop)
    await router.drain(timeout=5)
    await store.close()
    log.info("stopped")
    logging.getLogger().removeHandler(logbuf)
    return RESTART_EXIT if restart_reason else 0


RESTART_EXIT = 3


async def text_alarms(texts: SmsService, box: BoxContext, leds: StatusLeds | None, every_s: float = 15.0) -> None:
    """Technicians' alarms by text ([sms] alarm_to, each at most hourly) and the modem's LED:
    central down too long, the disk nearly full, texts given up, what the box repaired."""
    central_down_since: float | None = None
    while True:
        if leds is not None:
            leds.show_modem(texts.modem.state)
        if texts.enabled:
            now = time.monotonic()
            down = box.central is not None and box.central.state == "down"
            central_down_since = (central_down_since or now) if down else None
            if central_down_since is not None and now - central_down_since >= texts.sms.central_down_alarm_s:
                await texts.alarm("central_down", f"central unreachable for {int((now - central_down_since) // 60)} min")
            free = shutil.disk_usage(box.store.path.parent).free     # the console's "disk nearly full"
            if free < box.config.store.min_free_mb * 1024 * 1024:
                await texts.alarm("disk_low", f"disk nearly full: {free // 2**20} MiB free")
            counts = await box.store.sms_out_counts()
            if counts["failed"]:
                await texts.alarm("texts_failed", f"{counts['failed']} text(s) could not be sent")
            for key, line in list(box.alarms.items()):
                await texts.alarm(key, line)
        await asyncio.sleep(every_s)


async def _console(config: Config, box: BoxContext, store: Store, router: CallRouter,
                   restart: Callable[[str], None], logbuf: LogBuffer) -> ConsoleService | None:
    port = resolve_port(config.console.port)
    if not port:
        return None
    stored = [await store.setting("console_password")]

    def verify(password: str) -> bool:
        return verify_password(password, stored[0])

    async def audit(what: str, result: str) -> None:
        await store.add_audit("console", what, result)

    async def refresh_password() -> None:
        stored[0] = await store.setting("console_password")

    def calls() -> list[dict]:
        now = time.time()
        return [{"uid": t.uid, "caller": t.caller, "node": t.session.node.id, "state": t.session.phase.value,
                 "mode": t.session.mode, "seconds": now - t.started_wall} for t in router.tasks.values()]

    async def set_password(password: str) -> None:
        await store.set_setting("console_password", hash_password(password))
        await refresh_password()

    banner = f"edgepbx {__version__} on {config.box.name}"
    session = ConsoleSession(TREE, verify, banner, config.console.idle_s, has_password=lambda: stored[0] is not None)
    path = Path(config.source) if Path(config.source).is_file() else None
    service = ConsoleService(port, config.console.baud, session, Commands(box, calls, logbuf, restart, path), audit,
                             refresh_password, set_password)
    await service.start()
    return service


def _arm_confirm_rollback(config: Config, restart: Callable[[str], None]) -> asyncio.TimerHandle | None:
    """A 'config commit confirmed' waiting: roll back at its deadline unless confirmed."""
    if not Path(config.source).is_file():
        return None
    editor = ConfigEditor(Path(config.source))
    deadline = editor.pending_deadline()
    if deadline is None:
        return None
    log.warning("config commit not yet confirmed: rolled back in %.0f s unless 'config confirm'", deadline - time.time())

    def expire() -> None:
        if editor.pending_deadline() is None:
            return                           # confirmed meanwhile
        log.warning("config commit was not confirmed: rolling back")
        editor.rollback()
        restart("unconfirmed config commit rolled back")
    return asyncio.get_running_loop().call_later(max(0.0, deadline - time.time()), expire)
