"""`make bench` (access): the elderly-mode DSP beside its anchors, in one run.

- Time stretch (tempo 0.6, 0.75, 0.9) on espeak-ng sentences in both languages: edgepbx's
  WSOLA, sox's `tempo` effect and Rubber Band. Duration error, pitch change (Praat's pitch
  tracker through parselmouth, median F0 out / in), clicks (largest sample step out / in),
  and speed in real-time factors (each tool on the same 60 s of speech).
- Speech rate on espeak-ng speech at known rates (80-260 words per minute, several voices,
  English and Mandarin, through G.711 with line noise): edgepbx's syllable-nuclei meter and
  de Jong and Wempe's Praat script (its steps run through parselmouth). Correlation with the
  true rate, accuracy of the slow-speaker decision (true: under 130 wpm; both judged by
  SLOW_BELOW syllables/s), and cost.
- Loudness: every shipped prompt's P.56 level, normal and elderly.
"""
from __future__ import annotations

import subprocess
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from edgepbx.dsp.g711 import line
from edgepbx.dsp.level import active_speech_level
from edgepbx.dsp.speechrate import SLOW_BELOW, SpeechRate
from edgepbx.dsp.stretch import time_stretch

RATE = 8000
ROOT = Path(__file__).resolve().parents[2]
SENTENCES = {
    "en": ["Your appointment is on Tuesday morning at nine o'clock, at the clinic on Market Street.",
           "To report a lost card, press one. For account services, press two. For loans, press three.",
           "We have taken your request and an engineer will call you back before five this afternoon."],
    "zh": ["您的预约时间是星期二上午九点，地点在市场街诊所。",
           "银行卡挂失请按一，账户服务请按二，贷款咨询请按三。",
           "我们已经记录了您的请求，工程师会在今天下午五点前给您回电。"],
}
SYLLABLES = {"en": 22 + 20 + 23,      # counted by hand, sentence by sentence
             "zh": sum(1 for t in ["您的预约时间是星期二上午九点地点在市场街诊所", "银行卡挂失请按一账户服务请按二贷款咨询请按三",
                                     "我们已经记录了您的请求工程师会在今天下午五点前给您回电"] for _ in t)}
VOICES = {"en": ["en-us", "en-us+f3", "en-gb+m3", "en-us+klatt2"], "zh": ["cmn-latn-pinyin", "cmn-latn-pinyin+f2"]}
WPM = (80, 110, 140, 170, 200, 230, 260)
SLOW_WPM = 130


def espeak(text: str, voice: str, wpm: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        raw, out = Path(tmp) / "r.wav", Path(tmp) / "o.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(raw), text], check=True, capture_output=True)
        subprocess.run(["sox", "-V1", str(raw), "-r", str(RATE), "-b", "16", "-c", "1", str(out), "gain", "-n", "-3"], check=True)
        return read(out)


def read(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").copy()


def write(path: Path, pcm: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.astype("<i2").tobytes())


def median_f0(pcm: np.ndarray) -> float:
    import parselmouth
    pitch = parselmouth.Sound(pcm.astype(np.float64) / 32768, RATE).to_pitch(pitch_floor=60, pitch_ceiling=400)
    f = pitch.selected_array["frequency"]
    return float(np.median(f[f > 0])) if (f > 0).any() else 0.0


def tool_stretch(tool: str, pcm: np.ndarray, tempo: float) -> tuple[np.ndarray, float]:
    """(output, CPU seconds) of an outside tool, timed on its own process."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        write(src, pcm)
        cmd = (["sox", str(src), str(out), "tempo", "-s", f"{tempo}"] if tool == "sox"
               else ["rubberband", "-q", "-T", f"{tempo}", str(src), str(out)])
        before = _child_cpu()
        subprocess.run(cmd, check=True, capture_output=True)
        return read(out), _child_cpu() - before


def _child_cpu() -> float:
    import resource
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stretch_table() -> bool:
    print("\nTime stretch (pitch kept): espeak-ng sentences, both languages")
    clips = [espeak(t, VOICES[lang][0], 150) for lang in SENTENCES for t in SENTENCES[lang]]
    long = np.concatenate(clips * (1 + int(60 * RATE / sum(len(c) for c in clips))))[: 60 * RATE]
    print(f"  {'tool':10} {'tempo':>5} {'length err':>10} {'F0 change':>9} {'step out/in':>11} {'x real time':>11}")
    ok = True
    speeds: dict[str, float] = {}
    for tempo in (0.6, 0.75, 0.9):
        for tool in ("edgepbx", "sox", "rubberband"):
            length_err, f0_err, steps = [], [], []
            for clip in clips:
                out = time_stretch(clip, RATE, tempo) if tool == "edgepbx" else tool_stretch(tool, clip, tempo)[0]
                length_err.append(abs(len(out) / (len(clip) / tempo) - 1))
                f0_in, f0_out = median_f0(clip), median_f0(out)
                f0_err.append(abs(f0_out / f0_in - 1) if f0_in else 1.0)
                steps.append(np.abs(np.diff(out.astype(int))).max() / max(1, np.abs(np.diff(clip.astype(int))).max()))
            if tool == "edgepbx":
                t0 = time.process_time()
                time_stretch(long, RATE, tempo)
                cpu = time.process_time() - t0
            else:
                cpu = tool_stretch(tool, long, tempo)[1]
            speed = 60 / max(cpu, 1e-6)
            speeds[f"{tool}{tempo}"] = speed
            print(f"  {tool:10} {tempo:5.2f} {max(length_err):10.2%} {max(f0_err):9.2%} {max(steps):11.2f} {speed:11.0f}")
            if tool == "edgepbx":
                ok = ok and max(length_err) <= 0.01 and max(f0_err) <= 0.02 and max(steps) <= 1.0
    faster = all(speeds[f"edgepbx{t}"] > speeds[f"sox{t}"] for t in (0.6, 0.75, 0.9))
    print(f"  targets (length within 1 %, F0 within 2 %, no step larger than the input's): {'PASS' if ok else 'FAIL'}; "
          f"faster than sox tempo: {'PASS' if faster else 'FAIL'} "
          f"({speeds['edgepbx0.75'] / speeds['sox0.75']:.2f}x at 0.75)")
    return ok and faster


def praat_rate(pcm: np.ndarray) -> float:
    """de Jong and Wempe (2009), 'Praat script to detect syllable nuclei': articulation rate
    (nuclei per second of phonation) with the script's defaults (silence -25 dB, minimum dip
    2 dB, minimum pause 0.3 s), its steps as Praat commands through parselmouth."""
    import parselmouth
    from parselmouth.praat import call
    sound = parselmouth.Sound(pcm.astype(np.float64) / 32768, RATE)
    intensity = sound.to_intensity(minimum_pitch=50, time_step=0.01)
    values = intensity.values[0]
    top = call(intensity, "Get quantile", 0, 0, 0.99)
    threshold = top - 25
    minimum = values.min()
    threshold = max(threshold, minimum)
    # phonation time: intervals above the threshold, pauses shorter than 0.3 s bridged
    times = intensity.xs()
    sounding = values > threshold
    phonation, run_gap, in_speech = 0.0, 0, False
    for s in sounding:
        if s:
            if in_speech and run_gap * 0.01 < 0.3:
                phonation += run_gap * 0.01
            phonation += 0.01
            run_gap, in_speech = 0, True
        else:
            run_gap += 1
    # peaks above the threshold; a peak counts when the dip before the next peak is > 2 dB
    peaks = [i for i in range(1, len(values) - 1)
             if values[i] > values[i - 1] and values[i] >= values[i + 1] and values[i] > threshold]
    kept = [p for p, q in zip(peaks, peaks[1:]) if values[p] - values[p:q + 1].min() > 2.0]
    pitch = sound.to_pitch_ac(time_step=0.02, pitch_floor=30, max_number_of_candidates=4, very_accurate=False,
                              silence_threshold=0.03, voicing_threshold=0.25, octave_cost=0.01,
                              octave_jump_cost=0.35, voiced_unvoiced_cost=0.25, pitch_ceiling=450)
    voiced = [i for i in kept if not np.isnan(call(pitch, "Get value at time", float(times[i]), "Hertz", "Linear"))]
    return len(voiced) / phonation if phonation > 0 else 0.0


def speechrate_table() -> bool:
    print("\nSpeech rate: espeak-ng at known rates, G.711 + line noise (30 dB SNR)")
    rng = np.random.default_rng(8)
    rows = []
    cpu = {"edgepbx": 0.0, "praat": 0.0}
    audio_s = 0.0
    for lang in ("en", "zh"):
        for voice in VOICES[lang]:
            for wpm in WPM:
                text = " ".join(SENTENCES[lang])
                clean = espeak(text, voice, wpm).astype(np.float64)
                rms = np.sqrt(np.mean(clean[np.abs(clean) > 100] ** 2))
                pcm = line(clean + rng.normal(size=len(clean)) * rms * 10 ** (-30 / 20))
                audio_s += len(pcm) / RATE
                t0 = time.process_time()
                meter = SpeechRate(RATE)
                for i in range(0, len(pcm), 160):
                    meter.feed(pcm[i:i + 160])
                cpu["edgepbx"] += time.process_time() - t0
                t0 = time.process_time()
                ref = praat_rate(pcm)
                cpu["praat"] += time.process_time() - t0
                loud = np.flatnonzero(np.abs(clean) > 300)
                true_rate = SYLLABLES[lang] / ((loud[-1] - loud[0]) / RATE)   # syllables per second spoken
                rows.append((lang, voice, wpm, meter.syllables_per_second, ref, true_rate))
    print("  r: correlation with the true rate (syllables / seconds from first to last sound)")
    print(f"  {'lang':4} {'voices':>6} | {'r edgepbx':>9} {'r Praat':>8} | {'slow decided right: edgepbx':>27} {'Praat':>6}")
    ok = True
    summary = {}
    for lang in ("en", "zh", "all"):
        sel = [r for r in rows if lang == "all" or r[0] == lang]
        wpm = np.array([r[2] for r in sel], float)
        ours = np.array([r[3] for r in sel])
        ref = np.array([r[4] for r in sel])
        true = np.array([r[5] for r in sel])
        r_ours, r_ref = np.corrcoef(true, ours)[0, 1], np.corrcoef(true, ref)[0, 1]
        truth = wpm < SLOW_WPM
        acc_ours, acc_ref = ((ours < SLOW_BELOW) == truth).mean(), ((ref < SLOW_BELOW) == truth).mean()
        summary[lang] = (r_ours, r_ref)
        print(f"  {lang:4} {len({r[1] for r in sel}):6d} | {r_ours:9.3f} {r_ref:8.3f} | {acc_ours:27.1%} {acc_ref:6.1%}")
    for lang, voice, wpm_, ours_, ref_, true_ in rows:
        if voice == VOICES[lang][0]:
            print(f"    {lang} {voice:18} {wpm_:3d} wpm, true {true_:4.2f} syll/s: edgepbx {ours_:4.2f}, Praat {ref_:4.2f}")
    speed, ref_speed = audio_s / max(cpu["edgepbx"], 1e-9), audio_s / max(cpu["praat"], 1e-9)
    r_ours, r_ref = summary["all"]
    ok = r_ours >= 0.9 and r_ours > r_ref and speed >= 200
    print(f"  cost: edgepbx {speed:.0f}x real time, Praat script {ref_speed:.0f}x (ratio {speed / ref_speed:.1f})")
    print(f"  targets (r >= 0.9, better than Praat, >= 200x real time): {'PASS' if ok else 'FAIL'}")
    return ok


def loudness_table() -> bool:
    print("\nPrompt loudness (ITU-T P.56 active level, dBov)")
    ok = True
    for variant, target in (("", -26.0), ("elderly/", -20.0)):
        levels, peaks = [], []
        for path in sorted((ROOT / "var/prompts").glob(f"*/{variant}*.wav")):
            pcm = read(path)
            levels.append(active_speech_level(pcm))
            peaks.append(np.abs(pcm.astype(int)).max())
        if not levels:
            print("  no rendered prompts under var/prompts (run `edgepbx prompts render`)")
            return False
        spread = max(abs(v - target) for v in levels)
        print(f"  {variant.strip('/') or 'normal':8} {len(levels):4d} prompts: level {min(levels):6.2f}..{max(levels):6.2f} "
              f"(target {target}), largest peak {max(peaks)} of 32767")
        ok = ok and spread <= 0.5 and max(peaks) < 32767
    return ok


def main() -> int:
    results = [stretch_table(), speechrate_table(), loudness_table()]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
