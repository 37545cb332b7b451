"""The admission policy from the config, with trusted host names looked up off the event loop.

Central's hosts (`[central] uri`, `backup_uri`, `callback_uri`) are trusted by themselves and
never throttled; `[sip] trusted` may name hosts too (a trunk provider's SBC). Names are looked
up when the box starts and every `REFRESH_S` after, in the resolver's threads, one at a time:
a dead DNS server during a WAN outage must not freeze calls. A name that does not resolve keeps
the addresses it had.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket

from edgepbx.config import Config, is_loopback
from edgepbx.sip.admission import Admission, Network, Policy, parse_rate, parse_trusted

log = logging.getLogger("edgepbx.sip")
REFRESH_S = 300.0
LOOKUP_TIMEOUT_S = 5.0


def central_hosts(config: Config) -> tuple[str, ...]:
    """The hosts of central's URIs (`sip:queue@10.0.0.5:5060;transport=tcp` → 10.0.0.5)."""
    hosts = []
    for uri in (config.central.uri, config.central.backup_uri, config.central.callback_uri):
        if not uri or ":" not in uri:
            continue
        rest = uri.split(":", 1)[1].split(";", 1)[0].split("?", 1)[0]
        host = rest.rsplit("@", 1)[-1]
        host = host[1:].split("]", 1)[0] if host.startswith("[") else host.split(":", 1)[0]
        if host and "{" not in host:
            hosts.append(host)
    return tuple(dict.fromkeys(hosts))


def policy(config: Config, looked_up: dict[str, tuple[str, ...]] | None = None) -> Policy:
    """The policy the config asks for; `looked_up` maps host names to their addresses."""
    looked_up = looked_up or {}
    sip = config.sip
    entries = sip.trusted or (("127.0.0.0/8",) if is_loopback(sip.listen.host) else ())
    networks: list[Network] = []
    names: set[str] = set()
    for entry in entries:
        parsed = parse_trusted(entry)
        if isinstance(parsed, str):
            names.update(looked_up.get(parsed, ()))
        else:
            networks.append(parsed)
    central: set[str] = set()
    for host in central_hosts(config):
        parsed = _parsed(host)
        if isinstance(parsed, Network):
            central.add(str(parsed.network_address))
        central.update(looked_up.get(host, ()))
    rate, burst = parse_rate(sip.invite_rate)
    return Policy(networks=tuple(networks), addresses=frozenset(names), central=frozenset(central),
                  untrusted=sip.untrusted, invite_rate=rate, invite_burst=burst,
                  calls_per_source=sip.calls_per_source, block_s=sip.block_s)


def host_names(config: Config) -> list[str]:
    """Every name the policy needs looked up."""
    names = [e for e in config.sip.trusted if isinstance(parse_trusted(e), str)]
    names += [h for h in central_hosts(config) if isinstance(_parsed(h), str)]
    return list(dict.fromkeys(names))


def _parsed(host: str) -> object:
    try:
        return parse_trusted(host)
    except ValueError:
        return None


class TrustKeeper:
    """Keeps `admission.policy` in step with the config and DNS."""

    def __init__(self, config: Config, admission: Admission) -> None:
        self.config = config
        self.admission = admission
        self.looked_up: dict[str, tuple[str, ...]] = {}
        self._soon = asyncio.Event()

    def apply(self, config: Config | None = None) -> None:
        """The policy of `config` (or the current one) takes effect now, for the next request."""
        if config is not None:
            self.config = config
        new = policy(self.config, self.looked_up)
        with self.admission.lock:
            self.admission.policy = new

    async def run(self) -> None:
        while True:
            await self.refresh()
            self._soon.clear()
            try:
                await asyncio.wait_for(self._soon.wait(), REFRESH_S)
            except asyncio.TimeoutError:
                pass

    def look_up_soon(self) -> None:
        """Look the names up now (a changed list), in the keeper's task, not the caller's."""
        self._soon.set()

    async def refresh(self) -> None:
        loop = asyncio.get_running_loop()
        changed = False
        for name in host_names(self.config):
            try:
                infos = await asyncio.wait_for(loop.getaddrinfo(name, None, family=socket.AF_INET,
                                                                type=socket.SOCK_DGRAM), LOOKUP_TIMEOUT_S)
            except (OSError, asyncio.TimeoutError) as exc:
                if name not in self.looked_up:
                    log.warning("trusted SIP host %s does not resolve (%s): not trusted until it does", name, exc)
                continue
            addresses = tuple(sorted({info[4][0] for info in infos}))
            if self.looked_up.get(name) != addresses:
                self.looked_up[name] = addresses
                changed = True
        if changed:
            self.apply()


def with_trust(config: Config, trusted: tuple[str, ...], untrusted: str) -> Config:
    return dataclasses.replace(config, sip=dataclasses.replace(config.sip, trusted=trusted, untrusted=untrusted))
