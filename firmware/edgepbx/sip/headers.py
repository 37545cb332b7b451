"""The IVR context the box hands to central in X- headers, so the agent never asks twice.

Values are percent-encoded UTF-8; secret fields are named, never valued.
"""
from __future__ import annotations

from urllib.parse import quote, unquote

from edgepbx.ivr.events import ForwardContext
from edgepbx.numbers import clean
from edgepbx.store import DirectoryEntry

PREFIX = "X-EdgePBX-"


def context_headers(ctx: ForwardContext, *, box: str, call_uid: str, caller: str,
                    known: DirectoryEntry | None = None) -> list[tuple[str, str]]:
    data = ";".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(ctx.data.items()))
    headers = [
        (PREFIX + "Box", box),
        (PREFIX + "Call", call_uid),
        (PREFIX + "Caller", quote(caller, safe="@+:.")),
        (PREFIX + "Lang", ctx.language),
        (PREFIX + "Mode", ctx.mode),
        (PREFIX + "Path", ",".join(ctx.path)),
    ]
    if ctx.mode == "elderly":   # central routes these to its elderly-care agents first
        headers.append((PREFIX + "Priority", "elderly"))
    if ctx.queue:
        headers.append((PREFIX + "Queue", ctx.queue))
    if data:
        headers.append((PREFIX + "Data", data))
    if ctx.secret_fields:
        headers.append((PREFIX + "Secret-Fields", ",".join(ctx.secret_fields)))
    if known is not None:  # the caller directory's entry: central routes and greets by it
        if known.name:
            headers.append((PREFIX + "Caller-Name", quote(known.name, safe="")))
        if known.flags:
            headers.append((PREFIX + "Flags", ",".join(known.flags)))
        if known.notes:
            headers.append((PREFIX + "Notes", quote(known.notes, safe="")))
    return headers


def parse_context_headers(headers: dict[str, str]) -> dict[str, object]:
    """Central's side: read the context back (header names are case-insensitive)."""
    h = {k.lower(): v for k, v in headers.items()}
    get = lambda name: h.get((PREFIX + name).lower(), "")  # noqa: E731
    data = {}
    for pair in filter(None, get("Data").split(";")):
        key, _, value = pair.partition("=")
        data[unquote(key)] = unquote(value)
    return {
        "box": get("Box"), "call": get("Call"), "caller": unquote(get("Caller")),
        "language": get("Lang"), "mode": get("Mode"), "queue": get("Queue") or None,
        "path": [p for p in get("Path").split(",") if p], "data": data,
        "secret_fields": [p for p in get("Secret-Fields").split(",") if p],
        "caller_name": unquote(get("Caller-Name")), "flags": [p for p in get("Flags").split(",") if p],
        "notes": unquote(get("Notes")),
    }


def parse_sip_headers(whole_msg: str) -> dict[str, str]:
    """Header fields of a raw SIP message (first occurrence wins; folded lines joined)."""
    head = whole_msg.replace("\r\n", "\n").split("\n\n", 1)[0].split("\n")[1:]
    out: dict[str, str] = {}
    for line in head:
        if line[:1] in (" ", "\t") and out:
            last = next(reversed(out))
            out[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep and name.strip() not in out:
            out[name.strip()] = value.strip()
    return out


def caller_number(uri: str) -> str:
    """The number (or user) a SIP or tel URI names: '"Ann" <sip:1001@10.0.0.1>' → '1001',
    'sip:+86-138-0000-0001;isub=1@gw;user=phone' → '+8613800000001', 'tel:+8613800000001'
    → '+8613800000001'. User-part parameters and visual separators (RFC 3966) go; '' when
    the URI names no user."""
    inner = uri.split("<", 1)[1].split(">", 1)[0] if "<" in uri else uri.strip()
    scheme, colon, rest = inner.partition(":")
    if not colon:
        return ""
    if scheme.lower() == "tel":
        user = rest.split(";", 1)[0]
    elif "@" in rest:
        user = rest.split("@", 1)[0].split(";", 1)[0]
    else:
        return ""
    user = unquote(user)
    phone = clean(user)
    return phone if phone.lstrip("+").isdigit() else user
