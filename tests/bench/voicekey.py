"""`make bench` (voicekey): spoken keys beside a grammar-constrained PocketSphinx, in one run.

- English digits by speakers never heard in training: each FSDD speaker is decoded by the
  networks trained without them (firmware/training/heldout/), on the telephone condition
  (G.711 mu-law, -22 dBm0, line noise 35 dB down) and a poor line (-35 dBm0, 15 dB SNR, a
  narrow band); PocketSphinx (bundled en-US model, JSGF grammar of the digit words) decodes
  the same signals.
- Synthetic voices the models were not built from (held-out espeak-ng variants), English and
  Mandarin, every key word.
- English key words by Speech Commands' 41 speakers (none in training), five folds of
  speakers; their non-key words count false keys.
- Mandarin by four real voices (zh-real's two, gcin-voice's two), each decoded by the networks
  trained without it (leave-one-voice-out): digits and actions apart, and false keys on every
  other word or syllable the voice says.
- Learning one voice over 20 calls: see tests/test_voice_learning.py (run with -s for figures).
- False keys on speech without key words (asterisk-core-sounds-en prompts whose transcript,
  shipped in the package, says no key word or number; as recorded and slowed to 0.8) and on
  music.
- Cost: CPU time per second of audio, streaming 20 ms frames, beside PocketSphinx's.
"""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgepbx.dsp.g711 import line
from edgepbx.dsp.voicekey import VoiceKeyDecoder, WORDS
from edgepbx.dsp.voicekey.model import load_file
from tests.dtmf_talkoff import SPEECH_DIR, at_speed, corpus, read_pcm8k

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "firmware/training"))
import voicekey_corpus  # noqa: E402
import voicekey_data  # noqa: E402

TARGET_ACCURACY, TARGET_WRONG, TARGET_SPEED = 0.95, 0.02, 50.0
EN_DIGITS = {w: int(k) for k, ws in WORDS["en"].items() if k.isdigit() for w in ws}


class Sphinx:
    """PocketSphinx with a JSGF grammar of the digit words; 8 kHz audio is upsampled to the
    model's 16 kHz (its front end refuses 8 kHz with the bundled model's filterbank)."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder, get_model_path
        model = Path(get_model_path()) / "en-us"
        self._grammar = tempfile.NamedTemporaryFile("w", suffix=".gram", delete=False)
        self._grammar.write("#JSGF V1.0;\ngrammar digits;\npublic <d> = " + " | ".join(EN_DIGITS) + ";\n")
        self._grammar.close()
        self.decoder = Decoder(hmm=str(model / "en-us"), dict=str(model / "cmudict-en-us.dict"),
                               jsgf=self._grammar.name, loglevel="FATAL")
        self.free = Decoder(hmm=str(model / "en-us"), dict=str(model / "cmudict-en-us.dict"),
                            lm=str(model / "en-us.lm.bin"), loglevel="FATAL")

    @staticmethod
    def _16k(pcm: np.ndarray) -> bytes:
        x = pcm.astype(np.float64)
        up = np.interp(np.arange(2 * len(x)) / 2, np.arange(len(x)), x)
        taps = np.sinc(np.arange(-32, 33) / 2) / 2 * np.hamming(65)
        return np.clip(np.convolve(up, taps * 2, "same"), -32768, 32767).astype(np.int16).tobytes()

    def hear(self, pcm: np.ndarray, decoder=None) -> str:
        d = decoder or self.decoder
        d.start_utt()
        d.process_raw(self._16k(pcm), full_utt=True)
        d.end_utt()
        return d.hyp().hypstr.strip() if d.hyp() else ""

    def digit(self, pcm: np.ndarray) -> int | None:
        return EN_DIGITS.get(self.hear(pcm))


def stream(decoder: VoiceKeyDecoder, pcm: np.ndarray) -> list:
    events = []
    for i in range(0, len(pcm), 160):
        events += decoder.feed(pcm[i:i + 160])
    return events + decoder.flush()


def surest(events: list) -> str | None:
    """The key of the surest event, None when nothing was heard."""
    return max(events, key=lambda e: e.confidence).key if events else None


def tally(counts: list[int], got: str | None, truth: str) -> None:
    """Counts [right, wrong, asks again]."""
    counts[0 if got == truth else 2 if got is None else 1] += 1


def condition(x: np.ndarray, poor: bool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if not poor:
        return voicekey_data.telephone(x, rng, strong=False)
    x = voicekey_data._band(x, rng)
    rms = 22720 * 10 ** (-35 / 20) / np.sqrt(2)
    x = x / (np.sqrt(np.mean(x ** 2)) + 1e-9) * rms
    x = np.concatenate([np.zeros(3000), x, np.zeros(3000)])
    return line(x + voicekey_data._noise(len(x), rng) * rms * 10 ** (-15 / 20))


def fsdd_table(sphinx: Sphinx) -> tuple[bool, float, float]:
    """The target is judged on the telephone condition (as the issue sets it); the poor line
    is printed beside it."""
    print("\nEnglish digits, speakers never heard in training (FSDD, leave-one-speaker-out)")
    print(f"  {'speaker':10} {'line':10} {'files':>5} | {'edgepbx right':>13} {'wrong':>6} {'asks again':>10} | {'PocketSphinx right':>18} {'wrong':>6}")
    totals = {kind: {"ours": [0, 0, 0], "ref": [0, 0, 0]} for kind in ("telephone", "poor")}
    cpu = {"ours": 0.0, "ref": 0.0}
    audio_s = 0.0
    for path in sorted(glob.glob(str(ROOT / "firmware/training/heldout/en-without-*.npz"))):
        speaker = Path(path).stem.split("-without-")[1]
        if speaker.startswith("sc-"):
            continue
        model = load_file(Path(path), "en")
        files = sorted(glob.glob(str(voicekey_data.FSDD / f"*_{speaker}_*.wav")))
        for kind in ("telephone", "poor"):
            ours = [0, 0, 0]
            ref = [0, 0, 0]
            for n, f in enumerate(files):
                truth = Path(f).stem.split("_")[0]
                pcm = condition(voicekey_data.read_wav(f), kind == "poor", seed=n)
                audio_s += len(pcm) / 8000
                t0 = time.process_time()
                events = stream(VoiceKeyDecoder("en", vocabulary=list("0123456789"), model=model), pcm)
                cpu["ours"] += time.process_time() - t0
                tally(ours, surest(events), truth)
                t0 = time.process_time()
                heard = sphinx.digit(pcm)
                cpu["ref"] += time.process_time() - t0
                tally(ref, None if heard is None else str(heard), truth)
            for k in range(3):
                totals[kind]["ours"][k] += ours[k]
                totals[kind]["ref"][k] += ref[k]
            n = len(files)
            print(f"  {speaker:10} {kind:10} {n:5d} | {ours[0] / n:13.1%} {ours[1] / n:6.1%} "
                  f"{ours[2] / n:10.1%} | {ref[0] / n:18.1%} {ref[1] / n:6.1%}")
    ok = True
    for kind in ("telephone", "poor"):
        ours, ref = totals[kind]["ours"], totals[kind]["ref"]
        n = sum(ours)
        acc, wrong, ref_acc, ref_wrong = ours[0] / n, ours[1] / n, ref[0] / n, ref[1] / n
        print(f"  {'all':10} {kind:10} {n:5d} | {acc:13.1%} {wrong:6.1%} {ours[2] / n:10.1%} | {ref_acc:18.1%} {ref_wrong:6.1%}")
        print(f"  {kind}: edgepbx / PocketSphinx right {acc / max(ref_acc, 1e-9):.2f}x; wrong keys edgepbx {wrong:.1%} vs {ref_wrong:.1%}")
        beats = acc > ref_acc and wrong < ref_wrong
        if kind == "telephone":
            target = acc >= TARGET_ACCURACY and wrong <= TARGET_WRONG
            print(f"  telephone target right >= {TARGET_ACCURACY:.0%} with wrong <= {TARGET_WRONG:.0%}: {'PASS' if target else 'FAIL'}")
            ok = target
        print(f"  {kind}: beats PocketSphinx: {'PASS' if beats else 'FAIL'}")
        ok = ok and beats
    return ok, audio_s / max(cpu["ours"], 1e-9), audio_s / max(cpu["ref"], 1e-9)


def synthetic_table() -> bool:
    print("\nSynthetic voices never used in training (held-out espeak-ng variants), every key word")
    print(f"  {'lang':4} {'utterances':>10} {'right':>7} {'wrong':>6} {'asks again':>10}")
    variants = voicekey_corpus.held_out_variants()
    rng = np.random.default_rng(11)
    ok = True
    for lang in ("en", "zh"):
        counts = [0, 0, 0]
        with tempfile.TemporaryDirectory() as tmp:
            for key, texts in WORDS[lang].items():
                for text in texts:
                    for variant in variants:
                        voice = f"{voicekey_corpus.ESPEAK_VOICES[lang][0]}+{variant}"
                        wav = Path(tmp) / "w.wav"
                        subprocess.run(["espeak-ng", "-v", voice, "-s", str(rng.integers(110, 190)), "-p",
                                        str(rng.integers(20, 80)), "-w", str(wav), text], check=True, capture_output=True)
                        subprocess.run(["sox", "-V1", "-D", str(wav), "-r", "8000", "-b", "16", str(wav) + ".8k.wav", "gain", "-n", "-3"], check=True)
                        pcm = condition(voicekey_data.read_wav(str(wav) + ".8k.wav"), False, seed=int(rng.integers(1e6)))
                        events = stream(VoiceKeyDecoder(lang), pcm)
                        tally(counts, surest(events), key)
        n = sum(counts)
        print(f"  {lang:4} {n:10d} {counts[0] / n:7.1%} {counts[1] / n:6.1%} {counts[2] / n:10.1%}")
        ok = ok and counts[1] / n <= TARGET_WRONG
    return ok


ZH_REAL_SPEEDS = (0.85, 1.0, 1.15)     # each key word also a little slower and faster
ZH_VOICES = {"tan": "zh-real, Yue Tan", "seedlingo": "zh-real, Seedlingo", "gcin3": "gcin-voice 3", "gcin5": "gcin-voice 5"}


def _zh_voice(voice: str) -> list[tuple[str, str, np.ndarray]]:
    """(word, key or "_other", samples) of one real Mandarin voice, from the training sources."""
    corpus = ROOT / "build/voicekey/corpus"
    out = []
    for label, path, group in voicekey_data.sources("zh", corpus):
        if group == f"zh:{voice}":
            out.append((Path(path).stem, label, voicekey_data.read_wav(path)))
    return out


def mandarin_real_table() -> tuple[list, list]:
    """Real Mandarin voices, each decoded by the networks trained without it (leave-one-voice-
    out: firmware/training/heldout/zh-without-VOICE.npz), on the telephone line. Key words at
    three speeds, digits and actions apart; every other word or syllable must give no key.
    Four voices are too few to call any figure speaker-independent."""
    print("\nMandarin, real voices, each by the networks trained without it (leave-one-voice-out, telephone line)")
    print(f"  {'voice':26} {'kind':8} {'words':>5} | {'right':>6} {'wrong':>6} {'asks again':>10}")
    totals = {"digits": [0, 0, 0], "actions": [0, 0, 0]}
    false_all, others_all = [], 0
    for voice, name in ZH_VOICES.items():
        path = ROOT / f"firmware/training/heldout/zh-without-{voice}.npz"
        if not path.exists():
            print(f"  {name}: no held-out model ({path.name}); run make voicekey-model")
            continue
        model = load_file(path, "zh")
        decoder = VoiceKeyDecoder("zh", model=model)
        counts = {"digits": [0, 0, 0], "actions": [0, 0, 0]}
        false, others = [], 0
        for n, (word, key, x) in enumerate(_zh_voice(voice)):
            if key == voicekey_data.OTHER:
                others += 1
                decoder.reset()
                false += [(word, e.key) for e in stream(decoder, condition(x, False, seed=n))]
                continue
            kind = "digits" if key.isdigit() else "actions"
            for speed in ZH_REAL_SPEEDS:
                decoder.reset()
                tally(counts[kind], surest(stream(decoder, condition(at_speed(x, speed), False, seed=n))), key)
        for kind, c in counts.items():
            k = sum(c)
            if k:
                print(f"  {name:26} {kind:8} {k:5d} | {c[0] / k:6.1%} {c[1] / k:6.1%} {c[2] / k:10.1%}")
                totals[kind] = [a + b for a, b in zip(totals[kind], c)]
        print(f"  {name:26} {'others':8} {others:5d} | false keys {len(false)} ({len(false) / max(others, 1):.1%})")
        false_all += false
        others_all += others
    for kind, c in totals.items():
        k = sum(c)
        if k:
            print(f"  {'all four voices':26} {kind:8} {k:5d} | {c[0] / k:6.1%} {c[1] / k:6.1%} {c[2] / k:10.1%}")
    print(f"  {'all four voices':26} {'others':8} {others_all:5d} | false keys {len(false_all)} "
          f"({len(false_all) / max(others_all, 1):.1%}){_named(false_all[:12])}")
    return totals, false_all


def speech_commands_table() -> None:
    """English key words (digits, yes, no) by Speech Commands speakers, each fold of speakers
    decoded by the networks trained without it; the fold's 20 other words must give no key."""
    print("\nEnglish, Speech Commands speakers by folds never heard in training (digits, yes, no; telephone line)")
    print(f"  {'fold':6} {'speakers':>8} {'keys':>5} | {'right':>6} {'wrong':>6} {'asks again':>10} | {'other words':>11} {'false keys':>10}")
    total, false_total, other_total = [0, 0, 0], 0, 0
    files = sorted(glob.glob(str(voicekey_data.SPEECH_COMMANDS / "*.wav")))
    for fold in range(voicekey_data.SC_FOLDS):
        decoder = VoiceKeyDecoder("en")
        counts, false, others, speakers = [0, 0, 0], 0, 0, set()
        for n, f in enumerate(files):
            word, speaker, _ = Path(f).stem.split("_")
            if voicekey_data.speech_commands_fold(speaker) != fold:
                continue
            speakers.add(speaker)
            decoder.reset()
            events = stream(decoder, condition(voicekey_data.read_wav(f), False, seed=n))
            key = voicekey_data.SC_KEYS.get(word)
            if key is None:
                others += 1
                false += len(events)
            else:
                tally(counts, surest(events), key)
        k = sum(counts)
        print(f"  {fold:<6} {len(speakers):8d} {k:5d} | {counts[0] / k:6.1%} {counts[1] / k:6.1%} {counts[2] / k:10.1%} | "
              f"{others:11d} {false:10d}")
        total = [a + b for a, b in zip(total, counts)]
        false_total += false
        other_total += others
    k = sum(total)
    if k:
        print(f"  {'all':6} {'':8} {k:5d} | {total[0] / k:6.1%} {total[1] / k:6.1%} {total[2] / k:10.1%} | "
              f"{other_total:11d} {false_total:10d}")


TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")


def transcripts() -> dict[str, str]:
    """Prompt name (e.g. "vm-goodbye", "digits/1") -> what it says, from the package's list."""
    import gzip
    out = {}
    with gzip.open(TRANSCRIPTS, "rt", encoding="utf-8", errors="replace") as f:
        for row in f:
            name, sep, text = row.partition(":")
            if sep and not row.startswith(";"):
                out[name.strip()] = text.strip().lower()
    return out


TALKOFF_SPEEDS = (1.0, 0.8)    # as recorded, and slowed (a lower, slower voice): over 10 min


def talkoff_table() -> bool:
    print("\nFalse keys on audio without key words (full vocabulary, 20 ms frames)")
    key_words = {w for ws in WORDS["en"].values() for text in ws for w in text.replace("'", " ").split()}
    key_words -= {"press", "go", "say", "i", "m", "am", "can", "t"}       # carrier words, not keys on their own
    key_words |= {"to", "too", "for", "won", "ate", "oh", "o", "owe", "know", "yeah", "zero", "nought"}
    said = transcripts()
    root = SPEECH_DIR
    speech, skipped = [], 0
    for path in corpus("speech"):
        name = str(path.relative_to(root).with_suffix(""))
        text = said.get(name)
        words = set("".join(c if c.isalnum() else " " for c in text).split()) if text is not None else None
        if words is None or words & key_words or any(ch.isdigit() for ch in (text or "")):
            skipped += 1
            continue
        speech.append((name, read_pcm8k(path)))
    music = [(p.name, read_pcm8k(p)) for p in corpus("music")]
    ok = True
    total_speech = 0.0
    for kind, clips, speeds in (("speech", speech, TALKOFF_SPEEDS), ("music", music, (1.0,))):
        for speed in speeds:
            total = sum(len(clip) for _, clip in clips) / speed / 8000
            events = _false_keys(clips, speed)
            note = f" ({skipped} prompts that say a key word, or have no transcript, left out)" if kind == "speech" and speed == 1.0 else ""
            print(f"  {kind:6} x{speed:<4} {total / 60:6.1f} min: {len(events)} false keys{note}{_named(events)}")
            ok = ok and not events
            total_speech += total if kind == "speech" else 0.0
    print(f"  speech heard: {total_speech / 60:.1f} min (target: no false key on at least 10 min)")
    menu = ["1", "2", "3", "0", "operator", "repeat", "back"]       # what one menu of the box listens for
    for speed in TALKOFF_SPEEDS:
        events = _false_keys(speech, speed, menu)
        print(f"  (for information) speech x{speed:<4} heard by one menu's vocabulary {menu}: {len(events)} false keys{_named(events)}")
    return ok and total_speech >= 600


def _false_keys(clips: list[tuple[str, np.ndarray]], speed: float, vocabulary: list[str] | None = None) -> list[tuple[str, str]]:
    """(clip name, key) of every key heard in `clips` played at `speed` over a G.711 line."""
    return [(name, e.key) for name, clip in clips
            for e in stream(VoiceKeyDecoder("en", vocabulary=vocabulary), line(at_speed(clip, speed)))]


def _named(events: list[tuple[str, str]]) -> str:
    return (": " + ", ".join(f"{n}->{k}" for n, k in events)) if events else ""


def main() -> int:
    sphinx = Sphinx()
    ok_en, speed, ref_speed = fsdd_table(sphinx)
    ok_syn = synthetic_table()
    speech_commands_table()
    mandarin_real_table()
    ok_talk = talkoff_table()
    print(f"\nCost, streaming 20 ms frames on one core: edgepbx {speed:.0f}x real time, PocketSphinx {ref_speed:.0f}x "
          f"(ratio {speed / ref_speed:.1f}); target >= {TARGET_SPEED:.0f}x: {'PASS' if speed >= TARGET_SPEED else 'FAIL'}")
    return 0 if ok_en and ok_syn and ok_talk and speed >= TARGET_SPEED else 1


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
