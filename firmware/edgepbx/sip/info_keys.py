"""Keys sent as SIP INFO requests, in the two bodies phones and gateways use.

- `application/dtmf-relay` (Cisco's): lines `Signal=5` and `Duration=160`. The signal is the
  key's character, or by some gateways its RFC 4733 event code (`Signal=10` for *).
- `application/dtmf`: the body is the key's event code or character alone (`5`, `11`).

pjsua read only the character after "Signal=", so `Signal=10` became key 1 (a wrong key,
worse than none), and it answered `application/dtmf` with 500 and dropped the key. Free of
I/O: the stack hands over the Content-Type and the body.
"""
from __future__ import annotations

EVENT_KEYS = "0123456789*#ABCD"      # RFC 4733 section 3.2: event codes 0-15
_FLASH = {"16", "!"}                 # hook flash: nothing for an IVR to do
DTMF_TYPES = ("application/dtmf-relay", "application/dtmf")


class NotAKey(ValueError):
    """A DTMF body that names no key (answered 400)."""


def info_key(content_type: str, body: str) -> str | None:
    """The key a SIP INFO carries: "0".."9", "*", "#", "A".."D"; "" for a hook flash; None when
    the body is not DTMF (another INFO package, left to pjsua). Raises NotAKey."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/dtmf-relay":
        signals = [value for name, sep, value in (line.partition("=") for line in body.splitlines())
                   if sep and name.strip().lower() == "signal"]
        if not signals:
            raise NotAKey("no Signal line")
        return _key(signals[0])
    if kind == "application/dtmf":
        return _key(body)
    return None


def _key(signal: str) -> str:
    text = signal.strip().upper()
    if text in _FLASH:
        return ""
    if text.isdigit() and int(text) < len(EVENT_KEYS):
        return EVENT_KEYS[int(text)]
    if len(text) == 1 and text in EVENT_KEYS:
        return text
    raise NotAKey("the signal names no key")     # its text is not logged: it may be a PIN
