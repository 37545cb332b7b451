"""Telephone numbers as phones, gateways and carriers write them.

One caller arrives as "13800000001", "+8613800000001", "008613800000001" or
"+86-138-0000-0001" depending on the trunk, and central's directory holds one of these
forms. `forms` lists every way of writing the same subscriber, so a directory entry is found
whichever form either side used. Pure functions: no I/O.
"""
from __future__ import annotations

VISUAL_SEPARATORS = str.maketrans("", "", " -.()")   # RFC 3966 visual-separator
INTERNATIONAL_PREFIXES = ("+", "00")


def clean(number: str) -> str:
    """Without visual separators: "+86 (138) 0000-0001" → "+8613800000001"."""
    return number.translate(VISUAL_SEPARATORS)


def national(number: str, country_code: str, trunk_prefix: str) -> str | None:
    """The national significant number of a number of this country, or None for a number
    of another country (or one that is not a telephone number)."""
    n = clean(number)
    for prefix in INTERNATIONAL_PREFIXES:
        if n.startswith(prefix):
            if not country_code or not n.startswith(prefix + country_code):
                return None
            n = n[len(prefix + country_code):]
            break
    else:
        if trunk_prefix and n.startswith(trunk_prefix):
            n = n[len(trunk_prefix):]
    return n if n.isdigit() else None


def callback_refusal(number: str, country_code: str, trunk_prefix: str, international: bool) -> str | None:
    """Why the box's own dialer must not call `number` back, or None when it may.

    The number is the caller's ID or one the caller keyed in, so anyone can choose it: a
    fraudster (or a spoofed caller ID) could make the box ring a premium-rate line abroad,
    again at each retry (International Revenue Share Fraud). Unless `international`, only
    numbers of the box's own country are dialled; central's agents still see the others."""
    n = clean(number)
    if not n.lstrip("+").isdigit() or len(n.lstrip("+")) < 3:
        return "not a telephone number"
    if not international and national(n, country_code, trunk_prefix) is None:
        return "another country's number ([central] callback_international is off)"
    return None


def forms(number: str, country_code: str, trunk_prefix: str) -> list[str]:
    """Every way of writing the same subscriber, the number as given first."""
    out = [number, clean(number)]
    nsn = national(number, country_code, trunk_prefix)
    if nsn:
        out.append(nsn)
        if trunk_prefix:
            out.append(trunk_prefix + nsn)
        if country_code:
            out += [prefix + country_code + nsn for prefix in INTERNATIONAL_PREFIXES]
    return list(dict.fromkeys(out))
