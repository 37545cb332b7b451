"""The flow new calls start on, and its history: pushed, rolled back, kept in the store.

A push is validated exactly as at boot (the flow checker, then every prompt it names must
have audio); only then is it stored and swapped in. The swap is one reference assignment on
the event loop, so it happens between calls: a call in progress keeps the flow it began on.
Version 0 is the flow the config names, used until central pushes one.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Mapping

from edgepbx.config import TEMPLATES, Config
from edgepbx.ivr.flow import Flow, FlowError, FlowInvalid, flow_document, read_flow, template_document
from edgepbx.ivr.prompts import PromptCatalogue
from edgepbx.store import Store

log = logging.getLogger("edgepbx.flows")


class VersionConflict(Exception):
    """The push was based on a version that is no longer the active one."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the active flow is version {current}")
        self.current = current


class UnknownVersion(LookupError):
    pass


@dataclass(frozen=True)
class FlowVersion:
    version: int
    flow: Flow
    document: Mapping[str, Any]
    sha256: str
    label: str | None


def canonical(document: Mapping[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def digest(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(document).encode()).hexdigest()


class ActiveFlow:
    def __init__(self, store: Store, catalogue: PromptCatalogue, current: FlowVersion) -> None:
        self.store = store
        self.catalogue = catalogue
        self.current = current
        self._lock = asyncio.Lock()  # one push or rollback at a time: the version check must hold

    @property
    def flow(self) -> Flow:
        return self.current.flow

    @classmethod
    async def load(cls, store: Store, catalogue: PromptCatalogue, config: Config,
                   check_prompts: bool = True) -> "ActiveFlow":
        """The last pushed flow if central ever pushed one, else the config's flow (version 0).

        Raises FlowInvalid (or, with `check_prompts`, PromptsMissing) when the flow cannot run;
        the box itself loads through edgepbx.resilience, which falls back instead.
        """
        stored = await store.active_flow()
        if stored is not None:
            document = json.loads(stored["document"])
            current = FlowVersion(stored["version"], read_flow(document, f"stored flow v{stored['version']}"),
                                  document, stored["sha256"], stored["label"])
        else:
            name = config.ivr.flow
            if name in TEMPLATES:
                document = template_document(name)
            else:
                path = config.flow_path()
                assert path is not None
                try:
                    text = path.read_text(encoding="utf-8")
                except OSError as exc:
                    raise FlowInvalid(str(path), [FlowError("(flow)", "(file)", f"cannot read: {exc.strerror}")]) from None
                document = flow_document(text, str(path))
            current = FlowVersion(0, read_flow(document, name), document, digest(document), None)
        if check_prompts:
            catalogue.check(current.flow)
        return cls(store, catalogue, current)

    @classmethod
    def fallback(cls, store: Store, catalogue: PromptCatalogue, flow: Flow) -> "ActiveFlow":
        """Runs `flow` (the last good one, or a template) as version 0 when the real one is bad."""
        document = {"fallback": flow.name}
        return cls(store, catalogue, FlowVersion(0, flow, document, digest(document), "fallback"))

    def validate(self, document: Mapping[str, Any], source: str) -> Flow:
        """Everything boot checks; FlowInvalid lists each problem as (node, field, reason)."""
        flow = read_flow(document, source)
        missing = self.catalogue.missing(flow)
        if missing:
            raise FlowInvalid(source, [FlowError("(prompts)", item, "no audio for this prompt: upload it first")
                                       for item in missing])
        return flow

    async def push(self, document: Mapping[str, Any], *, base_version: int | None, label: str | None = None,
                   comment: str = "") -> FlowVersion:
        async with self._lock:
            if base_version is not None and base_version != self.current.version:
                raise VersionConflict(self.current.version)
            flow = self.validate(document, "pushed flow")
            return await self._activate(document, flow, label, comment, None)

    async def rollback(self, target: int | str, *, base_version: int | None, comment: str = "") -> FlowVersion:
        """Make an earlier version (by number or label) active again, as a new version."""
        async with self._lock:
            if base_version is not None and base_version != self.current.version:
                raise VersionConflict(self.current.version)
            row = await (self.store.flow_version(target) if isinstance(target, int) else self.store.flow_by_label(target))
            if row is None:
                raise UnknownVersion(f"no flow version {target!r}")
            document = json.loads(row["document"])
            flow = self.validate(document, f"flow v{row['version']}")
            return await self._activate(document, flow, row["label"], comment or f"rollback to v{row['version']}",
                                        row["version"])

    async def _activate(self, document: Mapping[str, Any], flow: Flow, label: str | None, comment: str,
                        rollback_of: int | None) -> FlowVersion:
        sha = digest(document)
        version = await self.store.add_flow(canonical(document), sha, label, comment, rollback_of)
        self.current = FlowVersion(version, flow, document, sha, label)  # new calls start here
        log.info("flow %s v%d active (%s)%s", flow.name, version, sha[:12], f": {comment}" if comment else "")
        return self.current
