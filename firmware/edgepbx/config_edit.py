"""Changing the box's config file from the console: a candidate, validated on every change,
committed atomically with the previous file kept, and rolled back unless confirmed.

`commit confirmed MINUTES` writes a marker beside the config with the deadline; when the box
starts (after the restart the commit asks for) it arms a timer from the marker, and restores
the previous file and restarts at the deadline unless `config confirm` removed the marker,
so a technician cannot lock himself out with a bad change.
"""
from __future__ import annotations

import json
import os
import re
import time
import tomllib
from pathlib import Path
from typing import Any

from edgepbx.config import Config, ConfigError, default_config_text, is_secret, parse_config


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


HIDDEN = '"********"'
_ASSIGNMENT = re.compile(r"^(\s*([A-Za-z0-9_-]+)\s*=\s*)(.*)$")


def _shown(key: str, value: Any) -> str:
    """A value as the console shows it: secrets (passwords) hidden once set."""
    return HIDDEN if is_secret(key) and value else _toml_value(value)


def masked(toml_text: str) -> str:
    """A config file's text with the values of secret keys hidden (`show config`)."""
    out = []
    for line in toml_text.splitlines():
        m = _ASSIGNMENT.match(line)
        if m and is_secret(m.group(2)) and not m.group(3).startswith(('""', "''")):
            line = m.group(1) + HIDDEN
        out.append(line)
    return "\n".join(out)


def dumps(doc: dict[str, dict[str, Any]]) -> str:
    parts = []
    for section, table in doc.items():
        parts.append(f"[{section}]")
        parts += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
        parts.append("")
    return "\n".join(parts)


class ConfigEditor:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.running = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        self.candidate = json.loads(json.dumps(self.running))

    @property
    def previous(self) -> Path:
        return self.path.with_name(self.path.name + ".prev")

    @property
    def marker(self) -> Path:
        return self.path.with_name(self.path.name + ".confirm")

    def check(self, doc: dict) -> Config:
        return parse_config(dumps(doc), str(self.path), self.path.parent)

    def set(self, key: str, raw: str) -> str:
        """`section.key` to a TOML value (bare words are strings); refused unless the whole
        candidate still validates."""
        section, _, name = key.partition(".")
        if not section or not name:
            raise ConfigError(f"{key}: use SECTION.KEY, e.g. central.uri")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        trial = json.loads(json.dumps(self.candidate))
        trial.setdefault(section, {})[name] = value
        self.check(trial)              # raises ConfigError naming the key
        self.candidate = trial
        return f"{section}.{name} = {_shown(name, value)} (candidate; 'config commit' applies it)"

    def diff(self) -> list[str]:
        out = []
        for section in sorted(set(self.running) | set(self.candidate)):
            old, new = self.running.get(section, {}), self.candidate.get(section, {})
            for key in sorted(set(old) | set(new)):
                if old.get(key) != new.get(key):
                    before = _shown(key, old[key]) if key in old else "(default)"
                    after = _shown(key, new[key]) if key in new else "(default)"
                    out.append(f"{section}.{key}: {before} -> {after}")
        return out

    def commit(self, confirm_minutes: float | None = None) -> str:
        if not self.diff():
            raise ConfigError("nothing to commit")
        self.check(self.candidate)
        text = dumps(self.candidate)
        if self.path.is_file():
            _write(self.previous, self.path.read_text(encoding="utf-8"))
        _write(self.path, text)
        if confirm_minutes is not None:
            _write(self.marker, json.dumps({"deadline": time.time() + confirm_minutes * 60}))
            return f"committed; rolled back in {confirm_minutes:g} min unless 'config confirm'"
        self.marker.unlink(missing_ok=True)
        return "committed"

    def write_running(self, doc: dict) -> None:
        """Writes a change made from afar (the sync API, already checked) as the running config;
        the old file is kept as .prev."""
        if self.path.is_file():
            _write(self.previous, self.path.read_text(encoding="utf-8"))
        _write(self.path, dumps(doc))
        self.running = json.loads(json.dumps(doc))

    def confirm(self) -> str:
        if not self.marker.exists():
            raise ConfigError("no commit is waiting for confirmation")
        self.marker.unlink()
        return "confirmed: the new config stays"

    def rollback(self) -> str:
        if not self.previous.is_file():
            raise ConfigError("no previous config to go back to")
        _write(self.path, self.previous.read_text(encoding="utf-8"))
        self.marker.unlink(missing_ok=True)
        return "rolled back to the previous config"

    def factory_reset(self) -> str:
        """The factory config in place of the file (the old one kept as .prev); records live
        in the store and are untouched."""
        if self.path.is_file():
            _write(self.previous, self.path.read_text(encoding="utf-8"))
        _write(self.path, default_config_text())
        self.marker.unlink(missing_ok=True)
        return "factory config written (the old one is kept as .prev)"

    def pending_deadline(self) -> float | None:
        try:
            return float(json.loads(self.marker.read_text())["deadline"])
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
