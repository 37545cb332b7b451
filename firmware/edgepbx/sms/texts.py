"""What the box says by text, in Mandarin and English, and to whom it may say it. Pure.

`[sms] texts` names a TOML file whose tables replace these (same keys, `zh` and `en`), so
each business words its own confirmations.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from edgepbx.numbers import national

TEXTS: dict[str, dict[str, str]] = {
    "received": {"zh": "收到，客服将尽快以短信回复。",
                 "en": "Received: an agent will answer by text as soon as possible."},
    "received_outage": {"zh": "收到。客服中心暂时无法接通，恢复后将以短信回复。如需回电，请回复“回电”。",
                        "en": "Received. Our call center cannot be reached just now and will answer by text when "
                              "it is back. To be called back instead, reply CALL."},
    "callback_booked": {"zh": "您的回电请求已登记，我们将尽快致电您。",
                        "en": "Your callback request is booked: we will call you as soon as we can."},
    "outage_callback": {"zh": "客服中心暂时无法接通。您的回电请求已登记，恢复后我们会致电您。",
                        "en": "Our call center cannot be reached just now. Your callback request is booked: "
                              "we will call you when it is back."},
    "message_left": {"zh": "您的留言已收到，我们会尽快处理。",
                     "en": "We have your voice message and will deal with it soon."},
    "callback_failed": {"zh": "我们按您的要求回电，但未能接通。如需帮助，请再次致电或回复本短信。",
                        "en": "We called you back as you asked but could not reach you. Call us again, or reply "
                              "to this text."},
    "text_thread": {"zh": "您好，请直接回复本短信说明您的问题，客服将以短信回复。",
                    "en": "Hello: reply to this text with your question, and an agent will answer by text."},
}
CALLBACK_WORDS = ("回电", "CALL", "CALL ME", "CALLBACK")
AUTOMATIC = ("received", "received_outage", "callback_booked", "outage_callback", "message_left",
             "callback_failed", "text_thread", "flow")      # capped per number per day; "central" is not
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def load_texts(path: Path | None) -> dict[str, dict[str, str]]:
    """The built-in texts, with those of `path` over them; raises ValueError naming what is wrong."""
    texts = {key: dict(value) for key, value in TEXTS.items()}
    if path is None:
        return texts
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    for key, table in raw.items():
        if key not in TEXTS or not isinstance(table, dict) or not all(
                lang in ("zh", "en") and isinstance(text, str) and text for lang, text in table.items()):
            raise ValueError(f"{path}: [{key}]: expected one of {', '.join(TEXTS)} with zh and/or en texts")
        texts[key].update(table)
    return texts


def language_of(text: str) -> str:
    """"zh" for a text with Chinese characters in it, else "en" (the reply's language)."""
    return "zh" if CJK.search(text) else "en"


def asks_for_callback(text: str) -> bool:
    return text.strip().strip("。.!！").upper() in CALLBACK_WORDS


def recipient(number: str, country_code: str, trunk_prefix: str, mobile_pattern: str) -> tuple[str | None, str]:
    """(the number to text, in international form, or None; why not). Only mobiles of the box's
    own country: never another country's, a premium line, a short code or a sender name, which
    anyone can put in a caller ID or an SMS sender field to make the box pay for texts."""
    nsn = national(number, country_code, trunk_prefix)
    if nsn is None:
        return None, "not a number of this country"
    if not re.fullmatch(mobile_pattern, nsn):
        return None, "not a mobile number"
    return f"+{country_code}{nsn}", ""


_LONG_DIGITS = re.compile(r"(?:\d[ -]?){6,}")


def redacted(text: str) -> str:
    """For logs: every run of six or more digits (a card number, an ID, a PIN with its account)
    masked but for its last two."""
    return _LONG_DIGITS.sub(lambda m: "*" * (len(m.group()) - 2) + m.group()[-2:], text)
