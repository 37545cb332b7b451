"""Bearer-token authentication with scopes, and a brake on addresses that keep failing.

After FREE_FAILURES wrong tokens within WINDOW_S, tokens from that address are refused
unchecked (429, with Retry-After) for a time that doubles with each further failure, up to
MAX_BACKOFF_S. A success clears its record. A request with no token at all is a plain 401. Valid tokens are looked up in the store on every request, so
`edgepbx token create/revoke` take effect at once on the running box.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from edgepbx.api.errors import ApiError
from edgepbx.api.tokens import allows, same_hash, token_hash

FREE_FAILURES = 5
WINDOW_S = 60.0
MAX_BACKOFF_S = 300.0
MAX_TRACKED = 10000


@dataclass
class _Failures:
    times: list[float] = field(default_factory=list)
    blocked_until: float = 0.0


class Throttle:
    def __init__(self) -> None:
        self._by_address: dict[str, _Failures] = {}

    def retry_after(self, address: str, now: float) -> float:
        entry = self._by_address.get(address)
        return max(0.0, entry.blocked_until - now) if entry else 0.0

    def failed(self, address: str, now: float) -> None:
        if len(self._by_address) >= MAX_TRACKED:
            self._by_address.clear()  # a flood of addresses: forget rather than grow without bound
        entry = self._by_address.setdefault(address, _Failures())
        entry.times = [t for t in entry.times if now - t < WINDOW_S] + [now]
        excess = len(entry.times) - FREE_FAILURES
        if excess > 0:
            entry.blocked_until = now + min(MAX_BACKOFF_S, 2.0 ** (excess - 1))

    def succeeded(self, address: str) -> None:
        self._by_address.pop(address, None)


bearer = HTTPBearer(auto_error=False, description="a token from `edgepbx token create NAME --scope read|write`")


@dataclass(frozen=True)
class Client:
    name: str
    scope: str


def _require(needed: str):  # noqa: ANN202 - a FastAPI dependency factory
    async def check(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Client:
        box = request.app.state.box
        throttle: Throttle = request.app.state.throttle
        address = request.client.host if request.client else "?"
        now = time.monotonic()
        if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
            # no token, no guess: always a plain 401, never counted
            raise ApiError(401, "unauthenticated", "send 'Authorization: Bearer TOKEN'",
                           headers={"WWW-Authenticate": "Bearer"})
        wait = throttle.retry_after(address, now)
        if wait > 0:  # tokens from this address are not even looked at until the brake is off
            raise ApiError(429, "too_many_failures", f"too many failed logins from {address}; retry in {wait:.0f} s",
                           headers={"Retry-After": str(int(wait) + 1)})
        presented = token_hash(credentials.credentials)
        row = await box.store.token_by_hash(presented)
        if row is None or not same_hash(row["token_hash"], presented):
            throttle.failed(address, now)
            raise ApiError(401, "unauthenticated", "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
        throttle.succeeded(address)
        if not allows(row["scope"], needed):
            raise ApiError(403, "forbidden", f"token {row['name']!r} has scope {row['scope']!r}; this needs {needed!r}")
        return Client(row["name"], row["scope"])

    return check


need_read = _require("read")
need_write = _require("write")
