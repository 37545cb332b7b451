"""Renders the synthetic voice-key corpus: every spelling of every key, and non-key words,
in many synthetic voices (espeak-ng variants, accents, speeds and pitches; flite and festival
voices for English), as 8 kHz int16.

Output: <out>/<lang>/<label>__<voice>.wav, label being a key or "_other". Deterministic (a fixed
seed picks the voice settings), cached (existing files are kept). Run by `make voicekey-model`.
"""
from __future__ import annotations

import argparse
import hashlib
import random
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edgepbx.dsp.voicekey.vocabulary import WORDS  # noqa: E402

# Words that are not keys: what callers also say, and near misses of the key words.
OTHER = {
    "en": """ten eleven twelve thirteen twenty thirty hundred thousand hello help hi please thanks
        thank\\ you account balance card cost lost tomorrow today what where when why who how
        sorry okay fine wine free tree sex sticks heaven weight eat none won't gone bone phone
        tune door floor more hive dive alive fix mix eleven leaven date late ate hate nice ice
        wait hey why\\ not maybe perhaps really number order money payment transfer address
        name birthday doctor appointment repair washing\\ machine fridge delivery parcel
        cancel change check status open closed morning evening bank branch clinic shop um
        uh hmm ah er well so and the because actually correct wrong right left great good
        bad new old again gain pack black track bag operation opera repair repeater agency
        gentleman yesterday yellow nobody know now go going oh\\ well seventeen nineteen
        forty fifty sixty seventy eighty ninety""",
    "zh": """你好 谢谢 账户 余额 明天 今天 十 百 千 万 查询 信用卡 银行 电话 号码 请问 什么 时间
        地址 快递 维修 医生 预约 好的 喂 嗯 哦 知道 可以 没有 问题 帮忙 已经 现在 退款 订单
        发货 冰箱 洗衣机 空调 医院 挂号 门诊 转账 密码 身份证 姓名 生日 早上 晚上 我想 你们
        服务 工作 多少 怎么 为什么 哪里 天气 回来 人民 工资 重要 回答 失望 三明治 四川 七天
        九月 五金 八卦 六月 零钱 二手 一起 拜拜 麻烦 不好意思 等一下 听不清""",
}

ESPEAK_VOICES = {
    "en": ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-029",
           "en-us-nyc", "en-gb-x-gbcwmd"],
    "zh": ["cmn-latn-pinyin"],   # plain `cmn` reads Han characters as English
}
FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]
FESTIVAL_VOICES = ["voice_kal_diphone", "voice_ked_diphone", "voice_cmu_us_slt_arctic_hts"]


def espeak_variants() -> list[str]:
    out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True).stdout
    return sorted(line.split()[4].split("/")[-1] for line in out.splitlines()[1:] if len(line.split()) > 4)


def held_out_variants() -> list[str]:
    """Every fifth espeak-ng voice variant never enters training: `make bench` measures on them."""
    return espeak_variants()[::5]


def to_8k(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".tmp.wav")
    subprocess.run(["sox", str(src), "-r", "8000", "-c", "1", "-b", "16", str(tmp), "norm", "-3"],
                   check=True, capture_output=True)
    tmp.rename(dst)


def render(job: tuple[str, str, str, Path]) -> None:
    engine, voice, text, dst = job
    if dst.exists():
        return
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "x.wav"
        if engine == "espeak":
            name, speed, pitch, gap = voice.split("|")
            subprocess.run(["espeak-ng", "-v", name, "-s", speed, "-p", pitch, "-g", gap, "-w", str(wav), text],
                           check=True, capture_output=True)
        elif engine == "flite":
            name, stretch, f0 = voice.split("|")
            subprocess.run(["flite", "-voice", name, "--setf", f"duration_stretch={stretch}",
                            "--setf", f"int_f0_target_mean={f0}", "-t", text, "-o", str(wav)],
                           check=True, capture_output=True)
        else:
            name, stretch = voice.split("|")
            script = Path(tmp) / "t.txt"
            script.write_text(text + "\n")
            subprocess.run(["text2wave", "-eval", f"({name})", "-eval",
                            f"(Parameter.set 'Duration_Stretch {stretch})", str(script), "-o", str(wav)],
                           check=True, capture_output=True)
        to_8k(wav, dst)


def jobs(lang: str, out: Path, per_text: int, seed: int) -> list[tuple[str, str, str, Path]]:
    variants = sorted(set(espeak_variants()) - set(held_out_variants()))
    items = [(key, text) for key, texts in WORDS[lang].items() for text in texts]
    others = [w.replace("\\ ", " ") for w in OTHER[lang].replace("\\ ", "\x00").split()]
    items += [("_other", w.replace("\x00", " ")) for w in others]
    result = []
    for key, text in items:
        rng = random.Random(f"{seed}:{lang}:{key}:{text}")   # each text's voices stay put when texts are added
        n = per_text if key != "_other" else max(4, per_text // 6)
        for _ in range(n):
            engine = "espeak"
            if lang == "en":
                engine = rng.choices(["espeak", "flite", "festival"], weights=[6, 2, 1])[0]
            if engine == "espeak":
                voice = f"{rng.choice(ESPEAK_VOICES[lang])}+{rng.choice(variants)}|{rng.randint(100, 210)}|{rng.randint(15, 85)}|{rng.randint(0, 6)}"
            elif engine == "flite":
                voice = f"{rng.choice(FLITE_VOICES)}|{rng.uniform(0.8, 1.4):.2f}|{rng.randint(85, 230)}"
            else:
                voice = f"{rng.choice(FESTIVAL_VOICES)}|{rng.uniform(0.8, 1.4):.2f}"
            tag = hashlib.sha1(f"{engine}|{voice}|{text}".encode()).hexdigest()[:10]
            result.append((engine, voice, text, out / lang / f"{key}__{engine}-{tag}.wav"))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("build/voicekey/corpus"))
    parser.add_argument("--lang", choices=sorted(WORDS), action="append")
    parser.add_argument("--per-text", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for lang in args.lang or sorted(WORDS):
        todo = jobs(lang, args.out, args.per_text, args.seed)
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(render, todo))
        print(f"{lang}: {len(todo)} utterances in {args.out / lang}")


if __name__ == "__main__":
    main()
