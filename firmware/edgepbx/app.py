"""Start-up in phases (config → flow and prompts → store → call stack), shutdown in reverse."""
from __future__ import annotations

import asyncio
import logging
import signal

from edgepbx import __version__
from edgepbx.calls import CallRouter, CallTask
from edgepbx.config import Config
from edgepbx.ivr.flow import load_flow
from edgepbx.ivr.prompts import PromptCatalogue
from edgepbx.sip.hop import ThreadHop
from edgepbx.sip.stack import SipStack
from edgepbx.store import Store

log = logging.getLogger("edgepbx")


async def run_box(config: Config) -> None:
    # Everything that can be wrong with the files is checked before any port opens.
    flow = load_flow(config.ivr.flow)
    for warning in flow.warnings:
        log.warning("flow %s: %s", flow.name, warning)
    catalogue = PromptCatalogue(config.ivr.prompts)
    catalogue.check(flow)
    store = await Store.open(config.store.path)
    loop = asyncio.get_running_loop()
    router = CallRouter(lambda incoming: CallTask(incoming, flow, config, hop, catalogue, store))
    hop: ThreadHop = ThreadHop(loop, router.deliver)
    stack = SipStack(config.sip, hop)
    try:
        await asyncio.to_thread(stack.start)
    except Exception:
        await store.close()
        raise
    central = config.central.uri or "none"
    log.info("edgepbx %s ready: SIP udp %s, flow %s v%s, central %s, store %s",
             __version__, config.sip.listen, flow.name, flow.version, central, config.store.path)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: hanging up %d call(s)", len(router.tasks))
    await asyncio.to_thread(stack.stop)
    await router.drain(timeout=5)
    await store.close()
    log.info("stopped")
