"""The smallest valid flow, shared by the flow-validation and engine tests."""

MINIMAL_FLOW = """
[flow]
name = "t"
start = "main"
languages = ["en"]
fallback = "operator"

[prompts.menu]
en = "Press 1."

[nodes.main]
type = "menu"
prompt = "menu"
options = { "1" = "operator" }

[nodes.operator]
type = "forward"
"""
