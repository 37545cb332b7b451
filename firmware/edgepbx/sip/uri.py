"""Reading a SIP URI's parameters the way the box's config check and its prober both need."""
from __future__ import annotations


def transport_param(uri: str) -> str:
    """The URI's ;transport= value in lower case, "udp" when it names none (RFC 3261 19.1.1).
    Only the URI itself counts, not header parameters after a closing '>'."""
    params = [p.strip().lower() for p in uri.split(">", 1)[0].split(";")[1:]]
    return next((p.removeprefix("transport=") for p in params if p.startswith("transport=")), "udp")


def is_tls(uri: str) -> bool:
    """A sips: URI (RFC 5630) or one that says ;transport=tls: the box reaches it over TLS."""
    return uri.strip().lower().startswith("sips:") or transport_param(uri) == "tls"


def as_tls_hop(uri: str) -> str:
    """How the box dials a sips: URI: sip:...;transport=tls, TLS on the one hop it controls
    (its peer is central's SBC, or the gateway itself). Sent as sips:, pjsua would put its
    sip: Contact in the INVITE and a strict peer answers 480 "SIPS Required" (RFC 5630 asks a
    sips: Contact); the call is just as encrypted either way. Other URIs are left alone."""
    text = uri.strip()
    if not text.lower().startswith("sips:"):
        return uri
    rest, sep, headers = text[5:].partition("?")
    params = [p for p in rest.split(";")[1:] if not p.lower().startswith("transport=")]
    return "sip:" + ";".join([rest.split(";")[0], *params, "transport=tls"]) + (sep + headers)


def srtp_for(mode: str, uri: str) -> str:
    """The SRTP mode of a call the box places to `uri` under [central] srtp = `mode`: "auto" is
    mandatory to a TLS peer (keys over a secure channel) and off to any other."""
    if mode != "auto":
        return mode
    return "mandatory" if is_tls(uri) else "off"
