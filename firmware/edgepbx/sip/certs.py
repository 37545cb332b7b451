"""Certificates that will stop TLS calls: the box's own and central's, raised as alarms
before they expire (30 days ahead) and when central's does not verify.

A TLS link that breaks on the day a certificate expires leaves a branch on local announcements
with nobody told; an alarm a month ahead gives central ops time to renew it.
"""
from __future__ import annotations

import asyncio
import datetime
import logging
import ssl
import time
from pathlib import Path
from typing import Callable

from cryptography import x509

log = logging.getLogger("edgepbx.sip")
WARN_DAYS = 30
CHECK_EVERY_S = 3600.0


def own_expiry(path: Path) -> float:
    """When the PEM certificate at `path` expires (seconds since the epoch)."""
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.not_valid_after_utc.timestamp()


def peer_expiry(peer_cert: dict | None) -> float | None:
    """When a certificate in ssl's getpeercert() form expires."""
    if not peer_cert or "notAfter" not in peer_cert:
        return None
    return float(ssl.cert_time_to_seconds(peer_cert["notAfter"]))


def expiry_text(what: str, expires: float, now: float) -> str | None:
    """The alarm for a certificate expiring within WARN_DAYS, or None."""
    days = (expires - now) / 86400
    when = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc).strftime("%Y-%m-%d")
    if days < 0:
        return f"{what} EXPIRED on {when}: TLS calls fail until it is renewed"
    if days < WARN_DAYS:
        return f"{what} expires on {when} ({days:.0f} days): renew it before TLS calls fail"
    return None


def certificate_alarms(now: float, own: Path | None, central: dict | None, central_problem: str | None) -> dict[str, str]:
    """Alarms by key: "cert:box", "cert:central", "tls:central"."""
    alarms: dict[str, str] = {}
    if own is not None:
        try:
            text = expiry_text("the box's SIP TLS certificate", own_expiry(own), now)
        except (OSError, ValueError) as exc:
            text = f"the box's SIP TLS certificate {own} cannot be read: {exc}"
        if text:
            alarms["cert:box"] = text
    expires = peer_expiry(central)
    if expires is not None:
        text = expiry_text("central's TLS certificate", expires, now)
        if text:
            alarms["cert:central"] = text
    if central_problem:
        alarms["tls:central"] = f"TLS to central fails, calls are answered locally: {central_problem}"
    return alarms


async def keep_alarms(alarms: dict[str, str], own: Path | None, central: Callable[[], dict | None],
                      problem: Callable[[], str | None], every_s: float = CHECK_EVERY_S,
                      warn: Callable[[bool], None] = lambda _: None) -> None:
    """Keeps the certificate alarms in `alarms` up to date (a TLS problem is checked often);
    `warn` hears whether a certificate expires soon (the central LED)."""
    last_full = float("-inf")
    while True:
        now = time.time()
        if now - last_full >= every_s or problem() or any(k.startswith(("cert:", "tls:")) for k in alarms):
            fresh = certificate_alarms(now, own, central(), problem())
            for key in [k for k in alarms if k.startswith(("cert:", "tls:"))]:
                if key not in fresh:
                    del alarms[key]
            for key, text in fresh.items():
                if alarms.get(key) != text:
                    log.warning("alarm: %s", text)
                alarms[key] = text
            warn(any(k.startswith("cert:") for k in fresh))
            last_full = now
        await asyncio.sleep(5.0)


