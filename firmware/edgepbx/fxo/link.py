"""What the call stack holds of an analog call: audio both ways and a way to say "hung up".

Built by the line driver on the loop, used by the pjsua2 thread and pjmedia's clock thread:
every member is safe to call from any thread.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from edgepbx.fxo.audio import AudioRing


@dataclass(frozen=True)
class LineLink:
    uplink: AudioRing                       # line → call: what the analog caller says
    to_line: Callable[[bytes], None]        # call → line: prompts, central's agent
    released: Callable[[], None]            # the box ended the call: go on-hook
