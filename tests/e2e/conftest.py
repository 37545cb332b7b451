import os
import signal
from typing import Iterator

import pytest

from edgepbx.config import SYSTEM_FLOWS, TEMPLATES
from edgepbx.ivr.flow import load_flow
from edgepbx.ivr.prompts import PromptCatalogue
from tests.e2e.support import PROMPTS, STARTED

# A child that crashes in pjsua2 (box, caller, stand-in central) prints where, instead of
# leaving a failed test with nothing but an exit code.
os.environ["PYTHONFAULTHANDLER"] = "1"


@pytest.fixture(scope="session", autouse=True)
def rendered_prompts() -> None:
    """Default prompts for every template (cached under var/prompts; `make test` renders them too)."""
    catalogue = PromptCatalogue(PROMPTS)
    for name in TEMPLATES + SYSTEM_FLOWS:
        catalogue.render(load_flow(name))


@pytest.fixture(autouse=True)
def no_leftover_processes() -> Iterator[None]:
    """A failed assertion must not leave a box or a central running into the next test
    (processes of module-scoped fixtures were started before this and are left alone)."""
    first = len(STARTED)
    yield
    for proc in STARTED[first:]:
        if proc.proc.poll() is None:
            proc.proc.kill()
            proc.proc.wait()
        if proc.group:      # a launcher leads its own group: its box child goes too
            try:
                os.killpg(proc.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    del STARTED[first:]
