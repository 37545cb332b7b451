"""A simulated GSM/LTE modem on a pseudo-terminal, written from 3GPP TS 27.007 / 27.005 (AT
commands, PDU mode) and TS 23.040 / 23.038 (the PDUs), independently of the firmware's codec.

The box opens `modem.device` (the pty's slave) as it would /dev/ttyUSB2. The test drives it:
`deliver()` stores an SMS-DELIVER on the "SIM" and announces it with +CMTI; `sent` lists the
SMS-SUBMITs the box sent (decoded here); `fail_next` answers that many AT+CMGS with
+CMS ERROR; `silent` makes the modem stop answering; `sim` is what AT+CPIN? says.
"""
from __future__ import annotations

import os
import threading
import time
import tty
from dataclasses import dataclass

# TS 23.038 6.2.1 default alphabet, basic characters only (enough for the tests' texts)
_ALPHABET = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
             "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")

# TS 23.038 6.2.1.1: the extension table, after an escape (0x1B)
_EXTENSION = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|",
              0x65: "€"}


@dataclass
class Submitted:
    to: str
    text: str
    concat: tuple[int, int, int] | None
    dcs: int


def _semi_octets(digits: str) -> bytes:
    if len(digits) % 2:
        digits += "F"
    return bytes(int(digits[i + 1] + digits[i], 16) for i in range(0, len(digits), 2))


def _septets_to_bytes(values: list[int], fill_bits: int) -> bytes:
    out, acc, nbits = bytearray(), 0, fill_bits
    for v in values:
        acc |= v << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def deliver_pdus(sender: str, text: str, *, parts: int = 1, ucs2: bool | None = None, ref: int = 0x42) -> list[str]:
    """SMS-DELIVER PDUs (hex, SMSC field first) carrying `text` from `sender`, in `parts` parts."""
    if ucs2 is None:
        ucs2 = any(ch not in _ALPHABET for ch in text)
    size = -(-len(text) // parts)
    chunks = [text[i:i + size] for i in range(0, len(text), size)]
    pdus = []
    for seq, chunk in enumerate(chunks, start=1):
        udh = bytes([5, 0, 3, ref, len(chunks), seq]) if len(chunks) > 1 else b""
        if ucs2:
            ud = udh + chunk.encode("utf-16-be")
            udl, dcs = len(ud), 0x08
        else:
            values = [_ALPHABET.index(ch) for ch in chunk]
            fill = (7 - len(udh) * 8 % 7) % 7 if udh else 0
            ud = udh + _septets_to_bytes(values, fill)
            udl, dcs = (len(udh) * 8 + fill) // 7 + len(values), 0x00
        intl = sender.startswith("+")
        digits = sender.lstrip("+")
        oa = bytes([len(digits), 0x91 if intl else 0x81]) + _semi_octets(digits)
        centre = _semi_octets("8613800100500")
        smsc = bytes([1 + len(centre), 0x91]) + centre           # length: type octet + address octets
        first = 0x04 | (0x40 if udh else 0)          # SMS-DELIVER, no more messages, UDHI
        scts = _semi_octets("26120715300032")        # 26-12-07 15:30:00 +08:00 (32 quarters)
        pdus.append((smsc + bytes([first]) + oa + bytes([0x00, dcs]) + scts + bytes([udl]) + ud).hex().upper())
    return pdus


def decode_submit(hex_pdu: str) -> Submitted:
    """An SMS-SUBMIT as the box sent it (SMSC field first)."""
    data = bytes.fromhex(hex_pdu)
    i = 1 + data[0]
    first = data[i]
    assert first & 0x03 == 0x01, f"not an SMS-SUBMIT: {hex_pdu}"
    i += 2                                           # first octet, message reference
    ndigits, kind = data[i], data[i + 1]
    raw = data[i + 2:i + 2 + (ndigits + 1) // 2]
    to = ("+" if kind == 0x91 else "") + "".join(f"{b & 15:X}{b >> 4:X}" for b in raw)[:ndigits]
    i += 2 + len(raw)
    pid, dcs = data[i], data[i + 1]
    assert pid == 0
    i += 2
    vpf = (first >> 3) & 0x03
    i += {0: 0, 2: 1, 1: 7, 3: 7}[vpf]
    udl = data[i]
    ud = data[i + 1:]
    concat, header = None, 0
    if first & 0x40:
        header = ud[0] + 1
        if ud[1] == 0x00:
            concat = (ud[3], ud[4], ud[5])
    if dcs & 0x0C == 0x08:
        text = ud[header:udl].decode("utf-16-be")
    else:
        bits = int.from_bytes(ud, "little")
        skip = -(-header * 8 // 7)
        values = [(bits >> (7 * k)) & 0x7F for k in range(skip, udl)]
        text, escape = "", False
        for v in values:
            if escape:
                text += _EXTENSION[v]
                escape = False
            elif v == 0x1B:
                escape = True
            else:
                text += _ALPHABET[v]
    return Submitted(to, text, concat, dcs)


class SimModem:
    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.device = os.ttyname(slave)
        self._slave = slave
        self.echo = True
        self.silent = False
        self.fail_next = 0
        self.sim = "READY"
        self.storage: dict[int, str] = {}
        self.sent: list[Submitted] = []
        self.commands: list[str] = []
        self._reference = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        os.close(self.master)
        os.close(self._slave)

    def _out(self, text: str) -> None:
        os.write(self.master, text.encode())

    def _result(self, *lines: str) -> None:
        self._out("".join(f"\r\n{line}\r\n" for line in lines))

    def deliver(self, sender: str, text: str, **kw) -> list[int]:
        """Store the text's PDUs on the SIM and announce each with +CMTI (TS 27.005 3.4.1)."""
        indexes = []
        with self._lock:
            for pdu in deliver_pdus(sender, text, **kw):
                index = max(self.storage, default=0) + 1
                self.storage[index] = pdu
                indexes.append(index)
                self._result(f'+CMTI: "SM",{index}')
        return indexes

    def _run(self) -> None:
        import select
        buffer = b""
        pdu_for: int | None = None
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            buffer += chunk
            while True:
                if pdu_for is not None:
                    for end in (b"\x1a", b"\x1b"):
                        if end in buffer:
                            pdu, _, buffer = buffer.partition(end)
                            if end == b"\x1a" and not self.silent:
                                self._submitted(pdu.decode().strip(), pdu_for)
                            elif not self.silent:
                                self._result("OK")
                            pdu_for = None
                            break
                    else:
                        break
                    continue
                if b"\r" not in buffer:
                    break
                line, _, buffer = buffer.partition(b"\r")
                command = line.decode(errors="replace").strip()
                if not command:
                    continue
                self.commands.append(command)
                if self.silent:
                    continue
                if self.echo:
                    self._out(command + "\r")
                pdu_for = self._command(command)

    def _submitted(self, pdu: str, length: int) -> None:
        tpdu_octets = len(pdu) // 2 - 1 - int(pdu[:2], 16)
        if tpdu_octets != length:
            self._result("+CMS ERROR: 304")         # the length given to AT+CMGS is not the TPDU's
            return
        if self.fail_next:
            self.fail_next -= 1
            self._result("+CMS ERROR: 38")          # network out of order (TS 27.005 3.2.5)
            return
        self.sent.append(decode_submit(pdu))
        self._reference = (self._reference + 1) % 256
        self._result(f"+CMGS: {self._reference}", "OK")

    def _command(self, command: str) -> int | None:
        up = command.upper()
        with self._lock:
            if up in ("AT", "AT+CMEE=1", "AT+CMGF=0") or up.startswith("AT+CNMI="):
                self._result("OK")
            elif up == "ATE0":
                self.echo = False
                self._result("OK")
            elif up == "AT+CPIN?":
                self._result("+CME ERROR: 10") if self.sim == "" else self._result(f"+CPIN: {self.sim}", "OK")
            elif up == "AT+CREG?":
                self._result("+CREG: 0,1", "OK")
            elif up == "AT+CSQ":
                self._result("+CSQ: 21,99", "OK")
            elif up.startswith("AT+CMGS="):
                self._out("\r\n> ")
                return int(up.partition("=")[2])
            elif up.startswith("AT+CMGR="):
                index = int(up.partition("=")[2])
                if index in self.storage:
                    pdu = self.storage[index]
                    self._result(f"+CMGR: 0,,{len(pdu) // 2 - 8}", pdu, "OK")
                else:
                    self._result("+CMS ERROR: 321")      # invalid memory index
            elif up.startswith("AT+CMGD="):
                self.storage.pop(int(up.partition("=")[2].split(",")[0]), None)
                self._result("OK")
            elif up == "AT+CMGL=4":
                lines = []
                for index, pdu in sorted(self.storage.items()):
                    lines += [f"+CMGL: {index},0,,{len(pdu) // 2 - 8}", pdu]
                self._result(*lines, "OK")
            else:
                self._result("ERROR")
        return None

    def wait_sent(self, count: int, timeout: float = 20.0) -> list[Submitted]:
        deadline = time.monotonic() + timeout
        while len(self.sent) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.sent)
