"""Operators' recordings: any common WAV in, the call stack's format (8 kHz 16-bit mono) out.

sox converts (it reads PCM of any width, float, A-law/mu-law WAV and WAVE_FORMAT_EXTENSIBLE,
at any rate, and mixes channels down). The file is replaced atomically and its `.txt` stamp
removed, which marks it as a recording the default renderer never overwrites.
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

from edgepbx.config import LANGUAGES
from edgepbx.ivr.flow import ID_PATTERN as PROMPT_ID
from edgepbx.ivr.prompts import RATE, PromptCatalogue

MAX_UPLOAD_BYTES = 16 * 1024 * 1024
MAX_SECONDS = 300.0
MIN_SECONDS = 0.2
SOX_TIMEOUT_S = 30.0


class BadRecording(ValueError):
    """The upload cannot become a prompt; the message says why (for a 4xx)."""


@dataclass(frozen=True)
class PromptFile:
    language: str
    prompt_id: str
    sha256: str
    bytes: int
    duration_s: float
    recorded: bool


def check_name(language: str, prompt_id: str) -> None:
    if language not in LANGUAGES:
        raise BadRecording(f"unknown language {language!r} (known: {', '.join(LANGUAGES)})")
    if not PROMPT_ID.match(prompt_id):
        raise BadRecording("prompt ids are 1-48 lower-case letters, digits and '_', starting with a letter")


def describe(catalogue: PromptCatalogue, language: str, prompt_id: str) -> PromptFile | None:
    path = catalogue.path(prompt_id, language)
    try:
        data = path.read_bytes()
        with wave.open(str(path)) as w:
            duration = w.getnframes() / w.getframerate()
    except (OSError, wave.Error, EOFError, ZeroDivisionError):
        return None
    return PromptFile(language, prompt_id, hashlib.sha256(data).hexdigest(), len(data), round(duration, 3),
                      not path.with_suffix(".txt").exists())


def listing(catalogue: PromptCatalogue) -> list[PromptFile]:
    out = []
    for language in LANGUAGES:
        for path in sorted((catalogue.root / language).glob("*.wav")):
            if PROMPT_ID.match(path.stem):
                found = describe(catalogue, language, path.stem)
                if found:
                    out.append(found)
    return out


async def install(catalogue: PromptCatalogue, language: str, prompt_id: str, upload: bytes) -> PromptFile:
    """Convert and store an uploaded WAV as a prompt; raise BadRecording with the reason."""
    check_name(language, prompt_id)
    target = catalogue.path(prompt_id, language)
    await store_wav(upload, target)
    target.with_suffix(".txt").unlink(missing_ok=True)
    found = describe(catalogue, language, prompt_id)
    assert found is not None
    return found


async def store_wav(upload: bytes, target: Path, max_seconds: float = MAX_SECONDS) -> float:
    """Convert any common WAV to the box's 8 kHz mono 16-bit and write it to `target`
    atomically and durably; return its length in seconds, or raise BadRecording."""
    if len(upload) > MAX_UPLOAD_BYTES:
        raise BadRecording(f"recording is {len(upload)} bytes; the limit is {MAX_UPLOAD_BYTES}")
    if len(upload) < 44 or upload[:4] != b"RIFF" or upload[8:12] != b"WAVE":
        raise BadRecording("not a WAV file (expected a RIFF/WAVE header)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src, out = Path(tmp) / "upload.wav", Path(tmp) / "prompt.wav"
        src.write_bytes(upload)
        proc = await asyncio.create_subprocess_exec(
            "sox", "-V1", "-t", "wav", str(src), "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
            "-t", "wav", str(out), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), SOX_TIMEOUT_S)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise BadRecording("recording could not be converted in time") from None
        if proc.returncode != 0:
            reason = err.decode(errors="replace").strip().splitlines()
            reason = reason[-1].split(":", 2)[-1].strip() if reason else "unreadable audio"
            raise BadRecording(f"cannot read this WAV: {reason}")
        try:
            with wave.open(str(out)) as w:
                frames, rate = w.getnframes(), w.getframerate()
        except (wave.Error, EOFError) as exc:
            raise BadRecording(f"cannot read this WAV: {exc}") from None
        duration = frames / rate
        if duration < MIN_SECONDS:
            raise BadRecording(f"recording lasts {duration:.3f} s; it needs at least {MIN_SECONDS} s")
        if duration > max_seconds:
            raise BadRecording(f"recording lasts {duration:.0f} s; the limit is {max_seconds:.0f} s")
        with open(out, "rb") as f:
            os.fsync(f.fileno())
        out.replace(target)
    _fsync_dir(target.parent)
    return duration


def remove(catalogue: PromptCatalogue, language: str, prompt_id: str) -> bool:
    check_name(language, prompt_id)
    path = catalogue.path(prompt_id, language)
    if not path.exists():
        return False
    path.unlink()
    path.with_suffix(".txt").unlink(missing_ok=True)
    for derived in path.parent.glob(f"*/{prompt_id}.*"):   # its elderly / visually-impaired versions
        derived.unlink(missing_ok=True)
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
