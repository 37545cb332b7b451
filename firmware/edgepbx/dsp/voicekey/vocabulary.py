"""The key words a caller may say, per language: which key each means and how it is said.

The IVR uses the first spelling of a key to tell callers what to say ("press or say three");
training renders every spelling. Keys are the same strings the IVR uses for pressed keys
("0".."9") plus the named actions.
"""
from __future__ import annotations

LANGUAGES = ("en", "zh")

DIGITS = tuple("0123456789")
ACTIONS = ("back", "operator", "repeat", "lost_card", "yes", "no")
KEYS = DIGITS + ACTIONS

WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "0": ("zero", "oh"), "1": ("one",), "2": ("two",), "3": ("three",), "4": ("four",),
        "5": ("five",), "6": ("six",), "7": ("seven",), "8": ("eight",), "9": ("nine",),
        "back": ("back", "go back"),
        "operator": ("operator", "agent"),
        "repeat": ("repeat", "say again"),
        "lost_card": ("lost card",),
        "yes": ("yes", "yeah"),
        "no": ("no",),
    },
    "zh": {
        "0": ("零",), "1": ("一", "幺"), "2": ("二", "两"), "3": ("三",), "4": ("四",),
        "5": ("五",), "6": ("六",), "7": ("七",), "8": ("八",), "9": ("九",),
        "back": ("返回",),
        "operator": ("人工", "转人工"),
        "repeat": ("重复", "再说一遍"),
        "lost_card": ("挂失",),
        "yes": ("是", "对"),
        "no": ("不是", "不对"),
    },
}


def spoken(key: str, lang: str) -> str:
    """How the IVR names `key` to a caller in `lang` (the first spelling)."""
    return WORDS[lang][key][0]


def check_vocabulary(keys: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """`keys` validated against KEYS (None means all of them)."""
    if keys is None:
        return KEYS
    unknown = sorted(set(keys) - set(KEYS))
    if unknown:
        raise ValueError(f"unknown voice keys {unknown}; known: {list(KEYS)}")
    return tuple(k for k in KEYS if k in set(keys))
