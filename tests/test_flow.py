"""Flow validation: every kind of bad flow gives a clear error naming node and field."""
from __future__ import annotations

import pytest

from edgepbx.config import TEMPLATES
from edgepbx.ivr.flow import FlowInvalid, load_flow, parse_flow
from tests.flows import MINIMAL_FLOW

GOOD = MINIMAL_FLOW


def errors(text: str) -> list[str]:
    with pytest.raises(FlowInvalid) as info:
        parse_flow(text, "test.toml")
    return [str(e) for e in info.value.errors]


def test_good_flow_loads_with_common_prompts() -> None:
    flow = parse_flow(GOOD, "test.toml")
    assert flow.start == "main" and "sorry" in flow.prompts


@pytest.mark.parametrize("template", TEMPLATES)
def test_templates_are_valid_bilingual_and_within_guidance(template: str) -> None:
    flow = load_flow(template)
    assert flow.languages == ("zh", "en")
    assert flow.warnings == ()
    for pid in flow.prompt_ids():
        assert flow.prompts[pid]["zh"] and flow.prompts[pid]["en"]


def test_shared_prompt_ids_have_one_text_across_templates() -> None:
    seen: dict[tuple[str, str], str] = {}
    for template in TEMPLATES:
        flow = load_flow(template)
        for pid, texts in flow.prompts.items():
            for lang, text in texts.items():
                assert seen.setdefault((pid, lang), text) == text, f"{pid}.{lang} differs in {template}"


@pytest.mark.parametrize("change, expected", [
    (("options = { \"1\" = \"operator\" }", "options = { \"1\" = \"nowhere\" }"), "main.options.1: no node named 'nowhere'"),
    (("type = \"forward\"", "type = \"teleport\""), "operator.type: unknown type 'teleport'"),
    (("prompt = \"menu\"", "prompt = \"missing\""), "main.prompt: no prompt named 'missing'"),
    (("start = \"main\"", "start = \"nope\""), "(flow).start: no node named 'nope'"),
    (("options = { \"1\" = \"operator\" }", "options = { \"0\" = \"operator\" }"), "main.options.0: key '0' is a global key"),
    (("options = { \"1\" = \"operator\" }", "options = { \"x\" = \"operator\" }"), "main.options.x: not a key"),
    (("type = \"menu\"", "type = \"menu\"\ncolour = \"red\""), "main.colour: not a field of a menu node"),
    (("en = \"Press 1.\"", "zh = \"按1\""), "(prompts).menu.en: missing text"),
    (("fallback = \"operator\"", "fallback = \"operator\"\nmax_failures = 0"), "(flow).max_failures: must be 1..10"),
    (("name = \"t\"", "name = 5"), "(flow).name: expected str"),
])
def test_each_kind_of_bad_flow_names_node_and_field(change: tuple[str, str], expected: str) -> None:
    found = errors(GOOD.replace(*change))
    assert any(e.startswith(expected) for e in found), found


def test_collect_rules_and_all_errors_reported_at_once() -> None:
    bad = GOOD + """
[nodes.pin]
type = "collect"
prompt = "menu"
field = "pin"
min_digits = 8
max_digits = 4
terminator = "*"
"""
    found = errors(bad)
    assert any(e.startswith("pin.max_digits: need 1 <= min_digits") for e in found)
    assert any(e.startswith("pin.terminator:") for e in found)
    assert any(e.startswith("pin.next: required") for e in found)


def test_syntax_error_and_missing_file() -> None:
    assert errors("[flow\nname=") [0].startswith("(flow).(syntax): not valid TOML")
    with pytest.raises(FlowInvalid, match="cannot read"):
        load_flow("/nonexistent/flow.toml")
