"""SMS in PDU mode (3GPP TS 23.040, TS 23.038, TS 27.005): SMS-SUBMIT out, SMS-DELIVER in.

Pure functions, no I/O. Text that the GSM 7-bit default alphabet (with its extension table)
can carry goes 7-bit (160 characters, 153 per part of a long text); anything else, Chinese
included, goes UCS2 (70 characters, 67 per part; characters outside the BMP as UTF-16
surrogate pairs). Long texts are split into parts carrying a concatenation header
(information element 00, 8-bit reference) that phones join again.
"""
from __future__ import annotations

from dataclasses import dataclass

# TS 23.038 6.2.1: the default alphabet (0x1B escapes to the extension table)
GSM7 = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
        "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXT = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D, "]": 0x3E,
            "|": 0x40, "€": 0x65}
_GSM7_INDEX = {ch: i for i, ch in enumerate(GSM7) if ch != "\x1b"}
_GSM7_EXT_BACK = {v: k for k, v in GSM7_EXT.items()}

DCS_GSM7, DCS_UCS2 = 0x00, 0x08
VALIDITY_24H = 0xA7              # relative validity period: 24 hours (TS 23.040 9.2.3.12.1)
MAX_PARTS = 10                   # a longer text is refused, not sent as a flood of parts


class PduError(ValueError):
    """A PDU that does not follow TS 23.040, or a text or number that cannot be sent."""


@dataclass(frozen=True)
class Part:
    """One SMS-SUBMIT ready for AT+CMGS: `length` is the TPDU's octets (without the SMSC field)."""
    length: int
    hex: str


@dataclass(frozen=True)
class Deliver:
    """One SMS-DELIVER as received. `concat` (reference, total, sequence) for a part of a long text."""
    sender: str
    text: str
    timestamp: str               # service-centre time stamp, "YY-MM-DD hh:mm:ss+zz" (quarter hours)
    concat: tuple[int, int, int] | None = None


def septets(text: str) -> list[int] | None:
    """The text in the GSM 7-bit alphabet, or None when it needs UCS2."""
    out: list[int] = []
    for ch in text:
        if ch in _GSM7_INDEX:
            out.append(_GSM7_INDEX[ch])
        elif ch in GSM7_EXT:
            out += [0x1B, GSM7_EXT[ch]]
        else:
            return None
    return out


def _pack(septet_values: list[int], header: bytes = b"") -> bytes:
    """Septets packed LSB first after `header` and the fill bits that bring it to a septet boundary."""
    bits = 0
    count = 0
    for byte in header:
        bits |= byte << count
        count += 8
    count += (7 - count % 7) % 7
    for value in septet_values:
        bits |= (value & 0x7F) << count
        count += 7
    return bits.to_bytes((count + 7) // 8, "little") if count else b""


def _unpack(data: bytes, septet_count: int, header_octets: int = 0) -> list[int]:
    bits = int.from_bytes(data, "little")
    start = header_octets * 8
    start += (7 - start % 7) % 7
    first = start // 7
    return [(bits >> (7 * i)) & 0x7F for i in range(first, septet_count)]


def _gsm7_text(values: list[int]) -> str:
    out, escape = [], False
    for v in values:
        if escape:
            out.append(_GSM7_EXT_BACK.get(v, " "))
            escape = False
        elif v == 0x1B:
            escape = True
        else:
            out.append(GSM7[v])
    return "".join(out)


def encode_address(number: str) -> bytes:
    """TP-DA: digit count, type of number (0x91 international, 0x81 unknown), semi-octets."""
    digits = number[1:] if number.startswith("+") else number
    if not digits.isdigit() or not 1 <= len(digits) <= 20:
        raise PduError(f"not a number an SMS can go to: {number!r}")
    swapped = "".join(b + a for a, b in zip(*[iter(digits + ("F" if len(digits) % 2 else ""))] * 2))
    return bytes([len(digits), 0x91 if number.startswith("+") else 0x81]) + bytes.fromhex(swapped)


def _split_units(units: list, single: int, per_part: int, escape_aware: bool) -> list[list]:
    if len(units) <= single:
        return [units]
    parts, current = [], []
    for i, unit in enumerate(units):
        if len(current) == per_part or (escape_aware and unit == 0x1B and len(current) == per_part - 1):
            parts.append(current)
            current = []
        current.append(unit)
    parts.append(current)
    return parts


def encode_submit(number: str, text: str, reference: int = 0) -> list[Part]:
    """The SMS-SUBMIT PDUs that carry `text` to `number` (one, or a concatenated series using
    the 8-bit `reference`). The SMSC field is 00: the SIM's service centre."""
    if not text:
        raise PduError("an empty text")
    address = encode_address(number)
    gsm = septets(text)
    if gsm is not None:
        chunks = _split_units(gsm, 160, 153, escape_aware=True)
    else:
        utf16 = text.encode("utf-16-be")
        units = [utf16[i:i + 2] for i in range(0, len(utf16), 2)]
        chunks = _split_units(units, 70, 67, escape_aware=False)
        # never split a surrogate pair between parts
        for i in range(len(chunks) - 1):
            if 0xD8 <= chunks[i][-1][0] <= 0xDB:
                chunks[i + 1].insert(0, chunks[i].pop())
    if len(chunks) > MAX_PARTS:
        raise PduError(f"a text of {len(chunks)} parts (at most {MAX_PARTS})")
    parts = []
    for seq, chunk in enumerate(chunks, start=1):
        header = bytes([5, 0x00, 3, reference & 0xFF, len(chunks), seq]) if len(chunks) > 1 else b""
        if gsm is not None:
            body = _pack(chunk, header)
            udl = (len(header) * 8 + 6) // 7 + len(chunk) if header else len(chunk)
            dcs = DCS_GSM7
        else:
            body = header + b"".join(chunk)
            udl = len(body)
            dcs = DCS_UCS2
        first = 0x11 | (0x40 if header else 0)        # SMS-SUBMIT, relative validity, UDHI
        tpdu = bytes([first, 0x00]) + address + bytes([0x00, dcs, VALIDITY_24H, udl]) + body
        parts.append(Part(len(tpdu), "00" + tpdu.hex().upper()))
    return parts


def _decode_address(data: bytes, at: int) -> tuple[str, int]:
    digits, kind = data[at], data[at + 1]
    octets = (digits + 1) // 2
    raw = data[at + 2:at + 2 + octets]
    if len(raw) < octets:
        raise PduError("address runs past the end of the PDU")
    if kind & 0x70 == 0x50:                       # alphanumeric (TS 23.040 9.1.2.5)
        return _gsm7_text(_unpack(raw, digits * 4 // 7)), at + 2 + octets
    swapped = "".join(f"{b & 0x0F:X}{b >> 4:X}" for b in raw)[:digits]
    return ("+" if kind & 0x70 == 0x10 else "") + swapped.rstrip("F"), at + 2 + octets


def _timestamp(raw: bytes) -> str:
    d = ["".join(f"{b & 0x0F}{b >> 4}" for b in [x]) for x in raw]
    zone = ((raw[6] & 0x07) * 10 + (raw[6] >> 4)) * (-1 if raw[6] & 0x08 else 1)
    return f"{d[0]}-{d[1]}-{d[2]} {d[3]}:{d[4]}:{d[5]}{zone:+03d}"


def decode_deliver(hex_pdu: str) -> Deliver:
    """One SMS-DELIVER PDU as +CMGR/+CMGL give it (with the SMSC field first)."""
    try:
        data = bytes.fromhex(hex_pdu.strip())
    except ValueError:
        raise PduError("not hexadecimal") from None
    try:
        at = 1 + data[0]                          # skip the SMSC field
        first = data[at]
        if first & 0x03 != 0x00:
            raise PduError(f"not an SMS-DELIVER (message type {first & 0x03})")
        sender, at = _decode_address(data, at + 1)
        dcs = data[at + 1]
        stamp = _timestamp(data[at + 2:at + 9])
        udl = data[at + 9]
        ud = data[at + 10:]
    except IndexError:
        raise PduError("PDU too short") from None
    header_len = 0
    concat = None
    if first & 0x40 and ud:                       # UDHI: a user-data header first
        header_len = ud[0] + 1
        header = ud[1:header_len]
        i = 0
        while i + 1 < len(header):
            iei, size = header[i], header[i + 1]
            value = header[i + 2:i + 2 + size]
            if iei == 0x00 and size == 3:
                concat = (value[0], value[1], value[2])
            elif iei == 0x08 and size == 4:       # 16-bit reference
                concat = ((value[0] << 8) | value[1], value[2], value[3])
            i += 2 + size
    alphabet = (dcs >> 2) & 0x03 if dcs & 0xC0 == 0x00 else (1 if dcs & 0x04 else 0) if dcs & 0xF0 == 0xF0 else 0
    if alphabet == 2:
        body = ud[header_len:udl]
        text = body[:len(body) // 2 * 2].decode("utf-16-be", errors="replace")
    elif alphabet == 1:
        text = ud[header_len:udl].decode("latin-1")
    else:
        text = _gsm7_text(_unpack(ud, udl, header_len))
    return Deliver(sender, text, stamp, concat)


class Reassembler:
    """Joins the parts of long texts (by sender, reference and part count); parts of a text
    never completed are dropped after `max_age_s` by `expire`. Pure: the caller passes time."""

    def __init__(self, max_age_s: float = 3 * 86400) -> None:
        self.max_age_s = max_age_s
        self._parts: dict[tuple[str, int, int], dict[int, tuple[Deliver, object]]] = {}
        self._first_seen: dict[tuple[str, int, int], float] = {}

    def add(self, message: Deliver, tag: object, now: float) -> tuple[Deliver, list[object]] | None:
        """The whole text and the tags of its parts (SIM indexes to delete) once complete."""
        if message.concat is None or message.concat[1] <= 1:
            return message, [tag]
        ref, total, seq = message.concat
        key = (message.sender, ref, total)
        parts = self._parts.setdefault(key, {})
        self._first_seen.setdefault(key, now)
        if 1 <= seq <= total:
            parts[seq] = (message, tag)
        if len(parts) < total:
            return None
        del self._parts[key], self._first_seen[key]
        ordered = [parts[i] for i in range(1, total + 1)]
        text = "".join(m.text for m, _ in ordered)
        return Deliver(message.sender, text, ordered[0][0].timestamp, None), [t for _, t in ordered]

    def expire(self, now: float) -> list[object]:
        """Tags of parts whose text never completed in time (to delete from the SIM)."""
        old = [k for k, t in self._first_seen.items() if now - t > self.max_age_s]
        tags = []
        for key in old:
            tags += [tag for _, tag in self._parts.pop(key).values()]
            del self._first_seen[key]
        return tags

    def waiting(self) -> set[object]:
        return {tag for parts in self._parts.values() for _, tag in parts.values()}
