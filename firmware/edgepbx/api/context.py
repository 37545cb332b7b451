"""What the API reads and changes in the running box, gathered in one object."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from edgepbx.central.forwards import ForwardHealth
from edgepbx.config import Config
from edgepbx.flows import ActiveFlow
from edgepbx.ivr.prompts import PromptCatalogue
from edgepbx.ivr.voice_examples import VoiceExamples
from edgepbx.store import Store


@dataclass
class BoxContext:
    config: Config
    store: Store
    flows: ActiveFlow
    catalogue: PromptCatalogue
    active_calls: Callable[[], int] = lambda: 0
    central: Any = None   # the CentralService: .state ("up"/"down"/"none"), .mode, .link.routing, set_mode()
    dialer: Any = None    # the CallbackDialer: .enabled, set_enabled(), kick()
    voice_examples: VoiceExamples | None = None
    forwards: ForwardHealth = field(default_factory=ForwardHealth)
    started_wall: float = field(default_factory=time.time)
    started_monotonic: float = field(default_factory=time.monotonic)
    last_sync: float | None = None                # last time central changed or collected anything
    admission: Any = None   # edgepbx.sip.admission.Admission (None: no SIP stack, e.g. API tests)
    trust: Any = None       # edgepbx.sip.trust.TrustKeeper
    alarms: dict[str, str] = field(default_factory=dict)   # raised by parts of the box: key -> text
    system_flows: tuple = ()  # the flows the box runs by itself (outage, wait, callback, CSAT)
    firmware: Any = None    # edgepbx.update.service.FirmwareService
    learner: Any = None     # edgepbx.ivr.voice_learning.VoiceLearner (None: not learning, e.g. API tests)
    sms: Any = None         # edgepbx.sms.service.SmsService (None: not built, e.g. API tests)

    def alarm_lines(self) -> list[str]:
        """Alarms parts of the box raised (a missing prompt, a flow or store replaced)."""
        return list(self.alarms.values())

    def synced(self) -> None:
        self.last_sync = time.time()
