import pytest

from edgepbx.config import SYSTEM_FLOWS, TEMPLATES
from edgepbx.ivr.flow import load_flow
from edgepbx.ivr.prompts import PromptCatalogue
from tests.e2e.support import PROMPTS


@pytest.fixture(scope="session", autouse=True)
def rendered_prompts() -> None:
    """Default prompts for every template (cached under var/prompts; `make test` renders them too)."""
    catalogue = PromptCatalogue(PROMPTS)
    for name in TEMPLATES + SYSTEM_FLOWS:
        catalogue.render(load_flow(name))
