"""Training examples for the voice-key network: recordings, telephone-line augmentation, and the
same endpointing and features the decoder runs on a call.

Augmentation stands in for the speakers and lines the corpus lacks, and changes the speaker,
not only the line: vocal-tract length (resampling by 0.84..1.2 moves every formant), pitch
alone (sox `pitch`, +-5 semitones, formants kept) and speed alone (sox `tempo`) for the real
voices, room reverb (an exponentially decaying tail, RT60 0.1..0.6 s), a random telephone band
and tilt, levels from -40 to -10 dBm0, noise at 5..45 dB SNR, and G.711 mu-law or a GSM 06.10
round trip (sox).
"""
from __future__ import annotations

import glob
import re
import subprocess
import wave
from pathlib import Path

import numpy as np

from edgepbx.dsp.features import Mfcc
from edgepbx.dsp.g711 import line
from edgepbx.dsp.voicekey.endpoint import Endpointer
from edgepbx.dsp.voicekey.frontend import word_input
from edgepbx.dsp.voicekey.vocabulary import KEYS

OTHER = "_other"
CLASSES = KEYS + (OTHER,)
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared/data"
FSDD = SHARED_DATA / "fsdd-dev"
SPEECH_COMMANDS = SHARED_DATA / "speechcommands-en"
ZH_REAL = SHARED_DATA / "zh-real"
SC_KEYS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
           "seven": "7", "eight": "8", "nine": "9", "yes": "yes", "no": "no"}
SC_FOLDS = 5
REAL_PREFIXES = ("fsdd:", "allison", "zh:", "sc:")
# Debian's gcin-voice: every Mandarin syllable said on its own by two voices ("3", "5"; Taiwan
# Mandarin), <zhuyin syllable>/<voice>.ogg. Two more real voices for the key syllables, and
# real non-key syllables; syllables a tone away from a key are left out (callers' tones vary).
GCIN_VOICE = Path("/usr/share/gcin-voice/ogg")
GCIN_KEYS = {"ㄌㄧㄥ2": "0", "ㄧ": "1", "ㄧㄠ": "1", "ㄦ4": "2", "ㄌㄧㄤ3": "2", "ㄙㄢ": "3", "ㄙ4": "4",
             "ㄨ3": "5", "ㄌㄧㄡ4": "6", "ㄑㄧ": "7", "ㄅㄚ": "8", "ㄐㄧㄡ3": "9", "ㄕ4": "yes", "ㄉㄨㄟ4": "yes"}
ALLISON_DIGITS = Path("/usr/share/asterisk/sounds/en/digits")
# Real human speech that is never a key: Asterisk's French, Spanish, Italian and Russian prompts
# (four speakers). Without real non-key speech the network calls real words keys. English
# prompts are NOT used: `make bench` measures false keys on them.
FOREIGN_PROMPTS = [Path(f"/usr/share/asterisk/sounds/{d}") for d in
                   ("fr_CA_f_June", "es_MX_f_Allison", "it_IT_m_Carlo", "ru_RU_f_IvrvoiceRU")]
FOREIGN_PER_VOICE = 400


def read_wav(path: str | Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        if (w.getframerate(), w.getsampwidth(), w.getnchannels()) != (8000, 2, 1):
            raise ValueError(f"{path}: expected 8 kHz 16-bit mono")
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64)


def sources(lang: str, corpus: Path, fsdd: Path = FSDD, with_speech_commands: bool = False) -> list[tuple[str, str, str]]:
    """(class, path, group): group names the speaker, so evaluation can hold speakers out.
    Speech Commands stays out of English training by default: trained in (five folds, tried),
    it took English talk-off on prompts from 0 to 19 false keys and gained little on its own
    unseen folds; it measures unseen English speakers instead."""
    out = []
    for path in sorted(glob.glob(str(corpus / lang / "*.wav"))):
        label, voice = Path(path).stem.split("__")
        out.append((label, path, "synthetic:" + voice))
    for root in FOREIGN_PROMPTS:
        files = sorted(p for p in glob.glob(str(root / "**/*.wav"), recursive=True) if "/digits/" not in p)
        for path in files[:: max(1, len(files) // FOREIGN_PER_VOICE)][:FOREIGN_PER_VOICE]:
            out.append(("_other", path, "foreign:" + root.name))
    if lang == "zh":
        for path in sorted(glob.glob(str(ZH_REAL / "*.wav"))):
            key, speaker, _ = Path(path).stem.split("_", 2)
            out.append((key if key in KEYS else OTHER, path, "zh:" + speaker))
        out += gcin_sources(corpus.parent / "gcin")
    if lang == "en" and with_speech_commands:
        for path in sorted(glob.glob(str(SPEECH_COMMANDS / "*.wav"))):
            word, speaker, _ = Path(path).stem.split("_")
            out.append((SC_KEYS.get(word, OTHER), path, f"sc:{speech_commands_fold(speaker)}:{speaker}"))
    if lang == "en":
        for path in sorted(glob.glob(str(fsdd / "*.wav"))):
            digit, speaker, _ = Path(path).stem.split("_")
            out.append((digit, path, "fsdd:" + speaker))
        for path in sorted(glob.glob(str(ALLISON_DIGITS / "[0-9].wav"))):
            out.append((Path(path).stem, path, "allison"))
    return out


def _toneless(syllable: str) -> str:
    return syllable.rstrip("1234")


def gcin_sources(cache: Path) -> list[tuple[str, str, str]]:
    """gcin-voice's syllables as 8 kHz WAVs under `cache` (converted once, without dither)."""
    if not GCIN_VOICE.is_dir():
        return []
    key_bases = {_toneless(s) for s in GCIN_KEYS}
    out = []
    for folder in sorted(GCIN_VOICE.iterdir()):
        key = GCIN_KEYS.get(folder.name)
        if key is None and _toneless(folder.name) in key_bases:
            continue
        for src in sorted(folder.glob("*.ogg")):
            wav = cache / src.stem / f"{folder.name}.wav"
            if not wav.exists():
                wav.parent.mkdir(parents=True, exist_ok=True)
                subprocess.run(["sox", "-V1", "-D", str(src), "-r", "8000", "-c", "1", "-b", "16", str(wav), "norm", "-3"],
                               check=True)
            out.append((key or OTHER, str(wav), f"zh:gcin{src.stem}"))
    return out


def speech_commands_fold(speaker: str) -> int:
    """Speakers split into SC_FOLDS folds by their id (hex), so a fold's speakers are unseen."""
    return int(speaker, 16) % SC_FOLDS


def is_real(group: str) -> bool:
    return group.startswith(REAL_PREFIXES)


def _sox(x: np.ndarray, *chain: str) -> np.ndarray:
    raw = ["-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1"]
    pcm = np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()
    out = subprocess.run(["sox", "-D", "-V0", *raw, "-", *raw, "-", *chain], input=pcm, capture_output=True, check=True).stdout
    return np.frombuffer(out, "<i2").astype(np.float64)


def speaker_shift(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another voice from one recording: pitch alone (formants kept) and speed alone."""
    cents, tempo = rng.uniform(-500, 500), rng.uniform(0.75, 1.3)
    return _sox(x, "pitch", f"{cents:.0f}", "tempo", "-s", f"{tempo:.3f}")


def gsm(x: np.ndarray) -> np.ndarray:
    """A GSM 06.10 full-rate round trip, as a mobile caller's line delivers speech."""
    raw = ["-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1"]
    pcm = np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()
    coded = subprocess.run(["sox", "-D", "-V0", *raw, "-", "-t", "gsm", "-"], input=pcm, capture_output=True, check=True).stdout
    out = subprocess.run(["sox", "-D", "-V0", "-t", "gsm", "-", *raw, "-"], input=coded, capture_output=True, check=True).stdout
    return np.frombuffer(out, "<i2").astype(np.float64)[: len(x)]


def reverb(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A small room: the direct sound plus an exponentially decaying noise tail."""
    rt60 = rng.uniform(0.1, 0.6)
    n = int(rt60 * 8000)
    t = np.arange(n) / 8000
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60) * rng.uniform(0.05, 0.3)
    tail[:int(0.002 * 8000)] = 0
    tail[0] = 1.0
    return np.convolve(x, tail)[: len(x) + n // 2]


def _band(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random telephone channel: band edges, spectral tilt and a few soft peaks."""
    n = len(x)
    spectrum = np.fft.rfft(x)
    hz = np.fft.rfftfreq(n, 1 / 8000)
    lo, hi = rng.uniform(150, 450), rng.uniform(2900, 3800)
    gain_db = rng.uniform(-6, 6) * np.log2(np.maximum(hz, 100) / 1000)
    for _ in range(rng.integers(0, 3)):
        centre, width, depth = rng.uniform(300, 3500), rng.uniform(150, 800), rng.uniform(-6, 6)
        gain_db += depth * np.exp(-0.5 * ((hz - centre) / width) ** 2)
    gain = 10 ** (gain_db / 20) / (1 + (lo / np.maximum(hz, 1)) ** 4) / (1 + (hz / hi) ** 8)
    return np.fft.irfft(spectrum * gain, n)


def _noise(n: int, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(n)
    colour = rng.uniform(0, 1)
    brown = np.cumsum(white)
    brown -= np.convolve(brown, np.ones(400) / 400, mode="same")
    mix = (1 - colour) * white / white.std() + colour * brown / (brown.std() + 1e-9)
    return mix / mix.std()


def telephone(x: np.ndarray, rng: np.random.Generator, strong: bool = True, speaker: bool = False,
              wide: bool = False) -> np.ndarray:
    """`x` (float, 8 kHz) as a caller's line would deliver it, with silence around it.
    `speaker`: also another voice (pitch and speed alone, sox) and sometimes a GSM line.
    `wide` (Mandarin): reverb, levels to -10 dBm0 and noise to 5 dB SNR too; English keeps the
    recipe its shipped networks were trained with (levels -40..-12, SNR 12..45 dB)."""
    codec_gsm = False
    if strong:
        if speaker and rng.uniform() < 0.7:
            x = speaker_shift(x, rng)
        warp = rng.uniform(0.84, 1.2)
        x = np.interp(np.arange(0, len(x) - 1, warp), np.arange(len(x)), x)
        if wide and rng.uniform() < 0.3:
            x = reverb(x, rng)
        x = _band(x, rng)
        if wide:
            level_dbm0 = rng.uniform(-40, -10)
            snr_db = rng.uniform(5, 30) if rng.uniform() < 0.5 else rng.uniform(30, 45)
        else:
            level_dbm0 = rng.uniform(-40, -12)
            snr_db = rng.uniform(12, 45)
        codec_gsm = speaker and rng.uniform() < 0.25
    else:
        level_dbm0, snr_db = -22.0, 35.0
    pad = lambda: np.zeros(int(rng.uniform(0.25, 0.6) * 8000))  # noqa: E731
    speech_rms = 22720 * 10 ** (level_dbm0 / 20) / np.sqrt(2)
    x = x / (np.sqrt(np.mean(x[np.abs(x) > 0.05 * np.abs(x).max()] ** 2)) + 1e-9) * speech_rms
    x = np.concatenate([pad(), x, pad()])
    x = x + _noise(len(x), rng) * speech_rms * 10 ** (-snr_db / 20)
    if codec_gsm:
        x = gsm(x)
    return line(x)


def words_in(pcm: np.ndarray, tone: bool = False) -> list[tuple[int, np.ndarray]]:
    """(frames, network input) of every word the decoder's endpointer finds in `pcm` (int16);
    `tone`: with the pitch channels, from the word's audio cut as the decoder cuts it."""
    frames = Mfcc(8000).feed(pcm)
    ep = Endpointer()
    out = []

    def word(seg) -> tuple[int, np.ndarray]:
        end = min(seg.end, len(frames))
        audio = pcm[seg.start * 80: end * 80 + 200] if tone else None
        return end - seg.start, word_input(frames[seg.start:end], audio)

    for i in range(len(frames)):
        seg = ep.push(float(frames[i, 0]))
        if seg is not None:
            out.append(word(seg))
    for _ in range(30):     # silence after the end flushes a word still open
        seg = ep.push(-10.0)
        if seg is not None:
            out.append(word(seg))
    return out


def noise_examples(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """Coughs, clicks, breaths and bursts of line noise: segments that are not words."""
    out = []
    for _ in range(count):
        n = int(rng.uniform(0.15, 1.2) * 8000)
        burst = _band(_noise(n, rng), rng) * np.hanning(n) ** rng.uniform(0.3, 3)
        if rng.uniform() < 0.3:       # a hum or a tone, as lines and phones make
            burst += np.sin(2 * np.pi * rng.uniform(50, 2500) * np.arange(n) / 8000) * rng.uniform(0.2, 2)
        out.append(burst * 3000)
    return out


def speaker_of(group: str) -> str:
    return re.sub(r"-.*", "", group) if group.startswith("synthetic:") else group


TONAL = {"zh": True, "en": False}
