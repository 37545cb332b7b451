"""`make bench` (fxo): caller ID beside spandsp's `adsi_rx`, and the disconnect-tone detector.

Caller ID: random messages (SDMF and MDMF, numbers of 7-13 digits, names) sent as V.23 or Bell
202 at a random level (0 to -45 dBm0), twist (-6..+6 dB) and frequency error (-1.5..+1.5 %),
white noise at each SNR (relative to the signal's power), through G.711 mu-law. spandsp runs on
the same signals, told the right standard (CLIP for V.23, CLASS for Bell 202); edgepbx is told
nothing. Right = the number (and name) sent; wrong = any other number reported.
Targets: 100 % right at >= 20 dB SNR, more right than spandsp at every SNR below, no wrong ones.

Tones: busy found within two cadence cycles from any start phase and level; no busy or
congestion in speech and music recordings (asterisk-core-sounds-en, asterisk-moh-opsound).
"""
from __future__ import annotations

import glob
import time
import wave

import numpy as np

from edgepbx.dsp.callerid import decode
from edgepbx.dsp.progress import PLANS, ToneDetector
from tests.bench.spandsp import SpandspAdsi, load
from tests.callerid_signals import Fsk, cadenced, mdmf, on_line, sdmf
from tests.dtmf_q24 import dbm0_amplitude, line, white_noise

SNRS = (40, 30, 25, 20, 15, 12, 10, 8, 6, 4)
TRIALS = 150


def load_spandsp() -> SpandspAdsi | None:
    lib = load()
    return SpandspAdsi(lib) if lib is not None else None


def random_case(rng: np.random.Generator) -> tuple[Fsk, bytes, str, str | None]:
    number = "".join(rng.choice(list("0123456789"), int(rng.integers(7, 14))))
    name = None if rng.random() < 0.4 else "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ "), int(rng.integers(3, 16)))).strip() or "X"
    standard = str(rng.choice(["v23", "bell202"]))
    message = sdmf(number) if name is None and rng.random() < 0.5 else mdmf(number, name)
    fsk = Fsk(standard, level_dbm0=float(rng.uniform(-45, 0)), twist_db=float(rng.uniform(-6, 6)),
              freq_error=float(rng.uniform(-0.015, 0.015)), baud_error=float(rng.uniform(-0.01, 0.01)))
    return fsk, message, number, name


def callerid_sweep(spandsp: SpandspAdsi | None) -> bool:
    print(f"caller ID: {TRIALS} random messages per row (level 0..-45 dBm0, twist +-6 dB, frequency +-1.5 %,"
          " V.23 and Bell 202), G.711")
    print(f"  {'SNR dB':>6}  {'edgepbx right':>13} {'wrong':>5}   {'spandsp right':>13} {'wrong':>5}   verdict")
    ok = True
    total_wrong = 0
    cpu = [0.0, 0.0]
    seconds = 0.0
    for snr in SNRS:
        rng = np.random.default_rng(300 + snr)
        right = wrong = s_right = s_wrong = 0
        for _ in range(TRIALS):
            fsk, message, number, name = random_case(rng)
            x = on_line(fsk.signal(message), snr, rng)
            seconds += len(x) / 8000
            t = time.process_time()
            got = decode(x)
            cpu[0] += time.process_time() - t
            if got is not None:
                if got.number == number and got.name == name:
                    right += 1
                else:
                    wrong += 1
            if spandsp is not None:
                t = time.process_time()
                msgs = spandsp.decode(x, fsk.standard)
                cpu[1] += time.process_time() - t
                if msgs:
                    if msgs[0] == message[:-1]:
                        s_right += 1
                    else:
                        s_wrong += 1
        total_wrong += wrong
        if snr >= 20:
            verdict = "ok" if right == TRIALS else "FAIL (100 % needed)"
        else:
            verdict = ("ok" if spandsp is None or right > s_right else "FAIL (not more than spandsp)")
        ok &= verdict == "ok"
        sp = f"{100 * s_right / TRIALS:12.1f}% {s_wrong:5d}" if spandsp else f"{'n/a':>13} {'':5}"
        print(f"  {snr:6d}  {100 * right / TRIALS:12.1f}% {wrong:5d}   {sp}   {verdict}")
    print(f"  wrong numbers reported by edgepbx: {total_wrong} (target 0)")
    ok &= total_wrong == 0
    if spandsp is not None:
        print(f"  speed: edgepbx {seconds / cpu[0]:.0f}x real time (whole-signal decode, both modems tried),"
              f" spandsp {seconds / cpu[1]:.0f}x (told the modem)")
    return ok


def busy_detection() -> bool:
    print("disconnect tones: busy, from 8 start phases, levels -10/-25/-40 dBm0, frequency +-1.5 %, noise 20 dB down")
    ok = True
    for country, tones in sorted(PLANS.items()):
        busy = next(t for t in tones if t.kind == "busy")
        period = sum(busy.cadence)
        worst = 0.0
        misses = 0
        rng = np.random.default_rng(7)
        for start in np.linspace(0, period, 8, endpoint=False):
            for level in (-10.0, -25.0, -40.0):
                for error in (-0.015, 0.015):
                    x = cadenced(busy.freqs, busy.cadence, 4 * period, level, start, error)
                    x = line(x + white_noise(len(x), 8000, dbm0_amplitude(level) ** 2 / 2 / 100, rng))
                    detector = ToneDetector(country, kinds=("busy", "congestion"))
                    found = [e for i in range(0, len(x), 160) for e in detector.feed(x[i:i + 160])]
                    if not found or found[0].kind != "busy":
                        misses += 1
                    else:
                        worst = max(worst, found[0].at / period)
        good = misses == 0 and worst <= 2.0 + 0.02 / period
        ok &= good
        print(f"  {country}: {busy.freqs} Hz {busy.cadence} s   missed {misses}/48   slowest {worst:.2f} cycles   "
              f"{'ok' if good else 'FAIL'}")
    files = sorted(glob.glob("/usr/share/asterisk/sounds/en/**/*.wav", recursive=True)) + \
        sorted(glob.glob("/usr/share/asterisk/moh/*.wav"))
    heard = {"speech": 0.0, "music": 0.0}
    false = {"speech": 0, "music": 0}
    for path in files:
        with wave.open(path) as w:
            if w.getframerate() != 8000 or w.getnchannels() != 1:
                continue
            x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        kind = "music" if "/moh/" in path else "speech"
        heard[kind] += len(x) / 8000
        for country in PLANS:
            false[kind] += len(ToneDetector(country, kinds=("busy", "congestion")).feed(x))
    for kind in heard:
        print(f"  {kind}: {heard[kind] / 60:.1f} min x {len(PLANS)} tone plans, false disconnects {false[kind]} (target 0)")
    if not files:
        print("  speech/music recordings not installed: FAIL")
        return False
    return ok and sum(false.values()) == 0


def main() -> int:
    spandsp = load_spandsp()
    if spandsp is None:
        print("spandsp (libspandsp2) not installed: reference columns are empty")
    a = callerid_sweep(spandsp)
    b = busy_detection()
    print(f"fxo: caller ID {'PASS' if a else 'FAIL'}, disconnect tones {'PASS' if b else 'FAIL'}")
    return 0 if a and b else 1
