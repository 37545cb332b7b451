"""Flow documents: the declarative IVR a box runs, loaded from TOML and validated.

A flow is a set of nodes (menu, collect, play, forward, callback, hangup, language, hours), a
prompt table with the text of every prompt in every language of the flow, global keys
valid at every level, and failure handling. Validation collects every error, each naming
the node and the field, so an operator fixes a rejected flow in one pass. A flow that does
not validate never loads.
"""
from __future__ import annotations

import re
import tomllib
import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from edgepbx.config import LANGUAGES, SYSTEM_FLOWS, TEMPLATES
from edgepbx.ivr.schedule import Opening, parse_date, parse_schedule

KEYS = "0123456789*#"
NODE_TYPES = ("language", "menu", "collect", "play", "forward", "callback", "message", "hangup", "hours", "text")
FORWARD_TARGETS = ("central", "backup")
GLOBAL_ACTIONS = ("back", "repeat")
VOICE_PROMPTS = ("voice_hint", "heard", "heard_confirm") + tuple(f"digit_{d}" for d in "0123456789")
ACCESS_PROMPTS = ("accessibility_offer", "elderly_human_first", "key_locations", "again", "heard_it")
SYSTEM_PROMPTS = ("sorry", "agents_busy") + VOICE_PROMPTS + ACCESS_PROMPTS  # the engine itself plays these
VI_SUFFIX = "_vi"   # prompt X_vi replaces X for visually-impaired callers (no "see our website")
NOT_FOR_BLIND = ("website", "web site", "sms", "text message", "网站", "网址", "短信", "扫码", "二维码")
# Spoken shortcuts valid at every level when voice keys are on: what each does (a node id,
# "back" or "repeat"). "operator" defaults to what key 0 does; "lost_card" only where named.
VOICE_SHORTCUTS = ("operator", "back", "repeat", "lost_card")
RECOMMENDED_MAX_OPTIONS = 4  # ISO/IEC 13714: at most 4 options per menu besides global keys
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,47}$")

# Which fields each node type takes (besides "type"), and which of them are required.
_NODE_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "language": ({"prompt", "options", "next", "voice_keys"}, {"prompt", "options", "next"}),
    "menu": ({"prompt", "options", "voice_keys", "elderly_prompt", "elderly_options"}, {"prompt", "options"}),
    "collect": ({"prompt", "field", "min_digits", "max_digits", "terminator", "secret", "next",
                 "first_digit_timeout_s", "inter_digit_timeout_s", "voice_keys"}, {"prompt", "field", "next"}),
    "play": ({"prompt", "next", "voice_keys", "key_fact"}, {"prompt", "next"}),
    "forward": ({"prompt", "queue", "on_fail", "target"}, set()),
    "callback": ({"prompt", "number_field", "next"}, {"prompt", "next"}),
    "message": ({"prompt", "next", "max_seconds"}, {"prompt", "next"}),
    "hangup": ({"prompt"}, set()),
    "hours": ({"open", "next", "closed", "closed_dates"}, {"open", "next", "closed"}),
    # send the caller a text ([sms]): `text` = { zh = "...", en = "..." }, {field} for what a
    # collect node filled (never a secret one); `number_field` to text another number
    "text": ({"prompt", "text", "next", "number_field"}, {"prompt", "text", "next"}),
}
TEXT_FIELD = re.compile(r"\{([a-z][a-z0-9_]*)\}")


@dataclass(frozen=True)
class FlowError:
    node: str   # node id, or "(flow)" / "(prompts)" for the document's own tables
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.node}.{self.field}: {self.reason}"


class FlowInvalid(ValueError):
    """A flow that must not load; `errors` lists every problem found."""

    def __init__(self, source: str, errors: list[FlowError]) -> None:
        self.source = source
        self.errors = errors
        listing = "; ".join(str(e) for e in errors[:10])
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        super().__init__(f"{source}: invalid flow: {listing}{more}")


@dataclass(frozen=True)
class Node:
    id: str
    type: str
    prompt: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    next: str | None = None
    field: str | None = None
    min_digits: int = 1
    max_digits: int = 16
    terminator: str = "#"
    secret: bool = False
    first_digit_timeout_s: float | None = None
    inter_digit_timeout_s: float | None = None
    queue: str | None = None
    on_fail: str | None = None
    number_field: str | None = None
    target: str = "central"
    max_seconds: float = 60.0
    voice_keys: bool | None = None   # None: as the flow says
    elderly_prompt: tuple[str, ...] = ()       # menu: what elderly callers hear instead (fewer options)
    elderly_options: tuple[str, ...] = ()      # menu: the keys offered to them (empty: all)
    key_fact: bool = False                     # play: said twice and confirmed in elderly mode
    openings: tuple[Opening, ...] = ()         # hours: when the branch is open (then `next`)
    closed: str | None = None                  # hours: where callers go when it is closed
    closed_dates: tuple[str, ...] = ()         # hours: holidays, "YYYY-MM-DD" or "MM-DD" every year
    text: Mapping[str, str] = dataclasses.field(default_factory=dict)   # text: the SMS, by language


@dataclass(frozen=True)
class Flow:
    name: str
    version: str
    start: str
    languages: tuple[str, ...]
    global_keys: Mapping[str, str]
    max_failures: int
    fallback: str
    first_digit_timeout_s: float
    inter_digit_timeout_s: float
    prompts: Mapping[str, Mapping[str, str]]
    nodes: Mapping[str, Node]
    warnings: tuple[str, ...] = field(default=(), compare=False)
    voice_keys: bool = False               # callers may say keys at every menu (always so for visually-impaired mode)
    accessibility_offer: bool = True       # the greeting starts with "seniors press 0, blind callers press star"
    voice_shortcuts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def prompt_ids(self) -> set[str]:
        """Every prompt the flow defines (the box may choose among them, e.g. by expected wait)
        plus those its nodes and the engine play."""
        used = {p for node in self.nodes.values() for p in node.prompt + node.elderly_prompt}
        return used | set(SYSTEM_PROMPTS) | set(self.prompts)


class _Checker:
    """Reads a raw TOML document into a Flow, collecting errors instead of stopping."""

    def __init__(self) -> None:
        self.errors: list[FlowError] = []
        self.warnings: list[str] = []

    def error(self, node: str, fieldname: str, reason: str) -> None:
        self.errors.append(FlowError(node, fieldname, reason))

    def get(self, table: Mapping[str, Any], node: str, key: str, kind: type | tuple[type, ...],
            default: Any = None, required: bool = False) -> Any:
        if key not in table:
            if required:
                self.error(node, key, "required")
            return default
        value = table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.error(node, key, f"expected {names}, got {type(value).__name__} {value!r}")
            return default
        return value

    def prompt_list(self, table: Mapping[str, Any], node: str) -> tuple[str, ...]:
        value = self.get(table, node, "prompt", (str, list), default=[])
        items = [value] if isinstance(value, str) else value
        if not all(isinstance(p, str) for p in items):
            self.error(node, "prompt", "expected a prompt id or a list of prompt ids")
            return ()
        return tuple(items)

    def read(self, raw: Mapping[str, Any], common_prompts: Mapping[str, Any]) -> Flow | None:
        for key in sorted(set(raw) - {"flow", "prompts", "nodes"}):
            self.error("(flow)", key, "unknown table (known: flow, prompts, nodes)")
        head = raw.get("flow", {})
        if not isinstance(head, dict):
            self.error("(flow)", "flow", "expected a table")
            head = {}
        known_head = {"name", "version", "start", "languages", "global_keys", "max_failures",
                      "fallback", "first_digit_timeout_s", "inter_digit_timeout_s", "voice_keys", "voice_shortcuts",
                      "accessibility_offer"}
        for key in sorted(set(head) - known_head):
            self.error("(flow)", key, f"unknown key (known: {', '.join(sorted(known_head))})")
        name = self.get(head, "(flow)", "name", str, default="", required=True)
        version = self.get(head, "(flow)", "version", str, default="1")
        start = self.get(head, "(flow)", "start", str, default="", required=True)
        languages = tuple(self.get(head, "(flow)", "languages", list, default=list(LANGUAGES)))
        for lang in languages:
            if lang not in LANGUAGES:
                self.error("(flow)", "languages", f"unknown language {lang!r} (known: {', '.join(LANGUAGES)})")
        if not languages:
            self.error("(flow)", "languages", "at least one language")
        global_keys = dict(self.get(head, "(flow)", "global_keys", dict, default={"0": "operator", "*": "back", "9": "repeat"}))
        max_failures = self.get(head, "(flow)", "max_failures", int, default=3)
        if not 1 <= max_failures <= 10:
            self.error("(flow)", "max_failures", f"must be 1..10, got {max_failures}")
        fallback = self.get(head, "(flow)", "fallback", str, default="", required=True)
        first_s = self.get(head, "(flow)", "first_digit_timeout_s", float, default=6.0)
        inter_s = self.get(head, "(flow)", "inter_digit_timeout_s", float, default=4.0)
        for key, value in (("first_digit_timeout_s", first_s), ("inter_digit_timeout_s", inter_s)):
            if not 1.0 <= value <= 60.0:
                self.error("(flow)", key, f"must be 1..60 seconds, got {value}")

        voice_keys = self.get(head, "(flow)", "voice_keys", bool, default=False)
        accessibility_offer = self.get(head, "(flow)", "accessibility_offer", bool, default=True)
        shortcuts = {"back": "back", "repeat": "repeat"}
        if isinstance(global_keys.get("0"), str):
            shortcuts["operator"] = global_keys["0"]
        shortcuts.update(self.get(head, "(flow)", "voice_shortcuts", dict, default={}))

        prompts = self.read_prompts(raw.get("prompts", {}), common_prompts, languages)
        raw_nodes = raw.get("nodes", {})
        if not isinstance(raw_nodes, dict) or not raw_nodes:
            self.error("(flow)", "nodes", "at least one node is required")
            raw_nodes = {}
        nodes = {}
        for node_id, table in raw_nodes.items():
            node = self.read_node(node_id, table, global_keys, languages)
            if node is not None:
                nodes[node_id] = node

        def target(node: str, fieldname: str, value: str | None) -> None:
            if value is not None and value not in nodes and value in raw_nodes:
                return  # the node exists but has its own errors
            if value is not None and value not in nodes:
                self.error(node, fieldname, f"no node named {value!r}")

        target("(flow)", "start", start or None)
        target("(flow)", "fallback", fallback or None)
        for key, action in global_keys.items():
            if key not in KEYS or len(key) != 1:
                self.error("(flow)", "global_keys", f"{key!r} is not a key (use one of {KEYS})")
            if not isinstance(action, str):
                self.error("(flow)", "global_keys", f"key {key!r}: expected a node id, 'back' or 'repeat'")
            elif action not in GLOBAL_ACTIONS:
                target("(flow)", f"global_keys.{key}", action)
        for word, action in shortcuts.items():
            if word not in VOICE_SHORTCUTS:
                self.error("(flow)", "voice_shortcuts", f"{word!r} is not a spoken shortcut (known: {', '.join(VOICE_SHORTCUTS)})")
            elif not isinstance(action, str):
                self.error("(flow)", f"voice_shortcuts.{word}", "expected a node id, 'back' or 'repeat'")
            elif action not in GLOBAL_ACTIONS:
                target("(flow)", f"voice_shortcuts.{word}", action)
        for node in nodes.values():
            for prompt in node.prompt + node.elderly_prompt:
                if prompt not in prompts:
                    self.error(node.id, "prompt", f"no prompt named {prompt!r} in [prompts]")
            if node.type == "menu":
                for key, dest in node.options.items():
                    target(node.id, f"options.{key}", dest)
            for fieldname in ("next", "on_fail", "closed"):
                target(node.id, fieldname, getattr(node, fieldname))
        for prompt in SYSTEM_PROMPTS:
            if prompt not in prompts:
                self.error("(prompts)", prompt, "the engine needs this prompt")
        for prompt_id, texts in prompts.items():
            said = " ".join(texts.values()).lower()
            if any(w in said for w in NOT_FOR_BLIND) and prompt_id + VI_SUFFIX not in prompts:
                self.warnings.append(f"prompt {prompt_id} points callers to something to read or see; add "
                                     f"{prompt_id}{VI_SUFFIX} for visually-impaired callers")
        self.check_fields(nodes)
        self.check_hours_loops(nodes)
        self.check_reachable(nodes, start, fallback, {**global_keys, **{f"voice:{k}": v for k, v in shortcuts.items()}})
        if self.errors:
            return None
        return Flow(name=name, version=version, start=start, languages=languages,
                    global_keys=MappingProxyType(global_keys), max_failures=max_failures,
                    fallback=fallback, first_digit_timeout_s=first_s, inter_digit_timeout_s=inter_s,
                    prompts=MappingProxyType(prompts), nodes=MappingProxyType(nodes),
                    warnings=tuple(self.warnings), voice_keys=voice_keys, accessibility_offer=accessibility_offer,
                    voice_shortcuts=MappingProxyType(shortcuts))

    def read_prompts(self, table: Any, common: Mapping[str, Any], languages: tuple[str, ...]) -> dict[str, dict[str, str]]:
        if not isinstance(table, dict):
            self.error("(prompts)", "prompts", "expected a table of prompt ids")
            table = {}
        merged = {**common, **table}
        prompts: dict[str, dict[str, str]] = {}
        for prompt_id, texts in merged.items():
            if not ID_PATTERN.match(prompt_id):
                self.error("(prompts)", prompt_id, "prompt ids are lower-case letters, digits and '_'")
                continue
            if not isinstance(texts, dict):
                self.error("(prompts)", prompt_id, "expected a table of language = text")
                continue
            for lang in sorted(set(texts) - set(LANGUAGES)):
                self.error("(prompts)", f"{prompt_id}.{lang}", f"unknown language (known: {', '.join(LANGUAGES)})")
            for lang in languages:
                text = texts.get(lang)
                if not isinstance(text, str) or not text.strip():
                    self.error("(prompts)", f"{prompt_id}.{lang}", "missing text for a language of the flow")
            prompts[prompt_id] = {k: v for k, v in texts.items() if isinstance(v, str)}
        return prompts

    def read_node(self, node_id: str, table: Any, global_keys: Mapping[str, str],
                  languages: tuple[str, ...]) -> Node | None:
        if not ID_PATTERN.match(node_id):
            self.error(node_id, "(id)", "node ids are lower-case letters, digits and '_' (start with a letter)")
        if not isinstance(table, dict):
            self.error(node_id, "(node)", "expected a table")
            return None
        kind = self.get(table, node_id, "type", str, required=True)
        if kind is None:
            return None
        if kind not in NODE_TYPES:
            self.error(node_id, "type", f"unknown type {kind!r} (known: {', '.join(NODE_TYPES)})")
            return None
        allowed, required = _NODE_FIELDS[kind]
        for key in sorted(set(table) - allowed - {"type"}):
            self.error(node_id, key, f"not a field of a {kind} node (fields: {', '.join(sorted(allowed))})")
        for key in sorted(required - set(table)):
            self.error(node_id, key, "required")
        values: dict[str, Any] = {"id": node_id, "type": kind, "prompt": self.prompt_list(table, node_id)}
        if "prompt" in required and not values["prompt"]:
            if "prompt" in table:
                self.error(node_id, "prompt", "at least one prompt")
        for key in ("next", "queue", "on_fail", "field", "number_field", "closed"):
            if key in table and key in allowed:
                values[key] = self.get(table, node_id, key, str)
        if "options" in allowed and "options" in table:
            options = self.get(table, node_id, "options", dict, default={})
            for key, dest in options.items():
                if len(key) != 1 or key not in KEYS:
                    self.error(node_id, f"options.{key}", f"not a key (use one of {KEYS})")
                elif not isinstance(dest, str):
                    self.error(node_id, f"options.{key}", "expected a node id")
                elif kind == "menu" and key in global_keys:
                    self.error(node_id, f"options.{key}", f"key {key!r} is a global key of this flow")
                elif kind == "language" and dest not in languages:
                    self.error(node_id, f"options.{key}", f"{dest!r} is not a language of this flow")
            if not options:
                self.error(node_id, "options", "at least one option")
            elif kind == "menu" and len(options) > RECOMMENDED_MAX_OPTIONS:
                self.warnings.append(f"{node_id}.options: {len(options)} options; at most "
                                     f"{RECOMMENDED_MAX_OPTIONS} is the usual guidance (ISO/IEC 13714)")
            values["options"] = MappingProxyType(dict(options))
        if "voice_keys" in table and "voice_keys" in allowed:
            values["voice_keys"] = self.get(table, node_id, "voice_keys", bool)
        if kind == "play":
            values["key_fact"] = self.get(table, node_id, "key_fact", bool, default=False)
        if kind == "menu" and "elderly_prompt" in table:
            values["elderly_prompt"] = self.prompt_list({"prompt": table["elderly_prompt"]}, node_id)
        if kind == "menu" and "elderly_options" in table:
            chosen = self.get(table, node_id, "elderly_options", list, default=[])
            for key in chosen:
                if key not in table.get("options", {}):
                    self.error(node_id, "elderly_options", f"{key!r} is not one of the menu's options")
            if chosen and "elderly_prompt" not in table:
                self.error(node_id, "elderly_prompt", "required with elderly_options (the prompt must name only those)")
            values["elderly_options"] = tuple(str(k) for k in chosen)
        if kind == "collect":
            values["min_digits"] = self.get(table, node_id, "min_digits", int, default=1)
            values["max_digits"] = self.get(table, node_id, "max_digits", int, default=16)
            if not 1 <= values["min_digits"] <= values["max_digits"] <= 32:
                self.error(node_id, "max_digits", "need 1 <= min_digits <= max_digits <= 32")
            values["terminator"] = self.get(table, node_id, "terminator", str, default="#")
            if values["terminator"] not in ("#", ""):
                self.error(node_id, "terminator", "must be \"#\" or \"\" (none)")
            values["secret"] = self.get(table, node_id, "secret", bool, default=False)
            for key in ("first_digit_timeout_s", "inter_digit_timeout_s"):
                value = self.get(table, node_id, key, float)
                if value is not None and not 1.0 <= value <= 60.0:
                    self.error(node_id, key, f"must be 1..60 seconds, got {value}")
                values[key] = value
            if values.get("field") is not None and not ID_PATTERN.match(values["field"]):
                self.error(node_id, "field", "field names are lower-case letters, digits and '_'")
        if kind == "forward":
            values["target"] = self.get(table, node_id, "target", str, default="central")
            if values["target"] not in FORWARD_TARGETS:
                self.error(node_id, "target", f"must be one of {', '.join(FORWARD_TARGETS)}")
        if kind == "hours":
            try:
                values["openings"] = parse_schedule(self.get(table, node_id, "open", str, default=""))
            except ValueError as exc:
                self.error(node_id, "open", str(exc))
            dates = self.get(table, node_id, "closed_dates", list, default=[])
            for date in dates:
                try:
                    parse_date(str(date))
                except ValueError as exc:
                    self.error(node_id, "closed_dates", str(exc))
            values["closed_dates"] = tuple(str(d) for d in dates)
        if kind == "text":
            texts = self.get(table, node_id, "text", dict, default={})
            for lang in languages:
                if not isinstance(texts.get(lang), str) or not texts[lang].strip():
                    self.error(node_id, f"text.{lang}", "the text to send, in each language of the flow")
            values["text"] = MappingProxyType({k: v for k, v in texts.items() if isinstance(v, str)})
        if kind == "message":
            values["max_seconds"] = self.get(table, node_id, "max_seconds", float, default=60.0)
            if not 5.0 <= values["max_seconds"] <= 300.0:
                self.error(node_id, "max_seconds", f"must be 5..300 seconds, got {values['max_seconds']}")
        return Node(**values)

    def check_fields(self, nodes: Mapping[str, Node]) -> None:
        collected = {n.field: n for n in nodes.values() if n.type == "collect" and n.field}
        for node in nodes.values():
            if node.number_field is not None and node.number_field not in collected:
                self.error(node.id, "number_field", f"no collect node fills field {node.number_field!r}")
            elif node.number_field is not None and collected[node.number_field].secret:
                self.error(node.id, "number_field", f"field {node.number_field!r} is secret")
            for lang, text in node.text.items():
                for name in TEXT_FIELD.findall(text):
                    if name not in collected:
                        self.error(node.id, f"text.{lang}", f"no collect node fills field {name!r}")
                    elif collected[name].secret:
                        self.error(node.id, f"text.{lang}", f"field {name!r} is secret: it never goes in a text")

    def check_hours_loops(self, nodes: Mapping[str, Node]) -> None:
        """hours nodes lead on at once: a ring of them would never reach a caller."""
        for node in nodes.values():
            if node.type != "hours":
                continue
            seen, todo = set(), [node.next, node.closed]
            while todo:
                dest = todo.pop()
                if dest == node.id:
                    self.error(node.id, "next", "hours nodes lead back to this one without a prompt in between")
                    break
                if dest in nodes and nodes[dest].type == "hours" and dest not in seen:
                    seen.add(dest)
                    todo += [nodes[dest].next, nodes[dest].closed]

    def check_reachable(self, nodes: Mapping[str, Node], start: str, fallback: str,
                        global_keys: Mapping[str, str]) -> None:
        seen: set[str] = set()
        todo = [n for n in (start, fallback, *global_keys.values()) if n in nodes]
        while todo:
            node_id = todo.pop()
            if node_id in seen:
                continue
            seen.add(node_id)
            node = nodes[node_id]
            dests = [node.next, node.on_fail, node.closed] + (list(node.options.values()) if node.type == "menu" else [])
            todo.extend(d for d in dests if d in nodes)
        for node_id in sorted(set(nodes) - seen):
            self.warnings.append(f"{node_id}: unreachable from the start node")


def _template_text(name: str) -> str:
    return resources.files("edgepbx.ivr").joinpath("templates", f"{name}.toml").read_text(encoding="utf-8")


def common_prompts() -> Mapping[str, Any]:
    """Prompts every flow gets unless it defines its own: 'sorry', 'agents_busy', ..."""
    return tomllib.loads(_template_text("common")).get("prompts", {})


def parse_flow(text: str, source: str) -> Flow:
    """Parse and validate a TOML flow document; raise FlowInvalid listing every error."""
    return read_flow(flow_document(text, source), source)


def flow_document(text: str, source: str) -> dict[str, Any]:
    """The TOML text of a flow as plain data (the form the sync API exchanges as JSON)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FlowInvalid(source, [FlowError("(flow)", "(syntax)", f"not valid TOML: {exc}")]) from None


def template_document(name: str) -> dict[str, Any]:
    return flow_document(_template_text(name), f"template {name}")


def read_flow(raw: Mapping[str, Any], source: str) -> Flow:
    """Validate a flow document given as data; raise FlowInvalid listing every error."""
    if not isinstance(raw, Mapping):
        raise FlowInvalid(source, [FlowError("(flow)", "(document)", "must be a table/object")])
    checker = _Checker()
    try:
        flow = checker.read(raw, common_prompts())
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # shapes TOML cannot express
        raise FlowInvalid(source, [*checker.errors, FlowError("(flow)", "(document)", f"malformed: {exc}")]) from None
    if flow is None:
        raise FlowInvalid(source, checker.errors)
    return flow


def load_flow(name_or_path: str | Path) -> Flow:
    """Load a built-in template by name, or a flow file by path."""
    if str(name_or_path) in TEMPLATES + SYSTEM_FLOWS:
        return parse_flow(_template_text(str(name_or_path)), f"template {name_or_path}")
    path = Path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowInvalid(str(path), [FlowError("(flow)", "(file)", f"cannot read: {exc.strerror}")]) from None
    return parse_flow(text, str(path))
