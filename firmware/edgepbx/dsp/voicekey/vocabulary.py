"""The key words a caller may say, per language: which key each means and how it is said.

The IVR uses the first spelling of a key to tell callers what to say ("press or say three");
training renders every spelling. Keys are the same strings the IVR uses for pressed keys
("0".."9") plus the named actions.
"""
from __future__ import annotations

LANGUAGES = ("en", "zh")

DIGITS = tuple("0123456789")
ACTIONS = ("back", "operator", "repeat", "lost_card", "yes", "no", "elderly", "visually_impaired")
KEYS = DIGITS + ACTIONS

WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "0": ("zero", "oh", "press zero"), "1": ("one", "press one"), "2": ("two", "press two"),
        "3": ("three", "press three"), "4": ("four", "press four"), "5": ("five", "press five"),
        "6": ("six", "press six"), "7": ("seven", "press seven"), "8": ("eight", "press eight"),
        "9": ("nine", "press nine"),
        "back": ("back", "go back"),
        "operator": ("operator", "agent"),
        "repeat": ("repeat", "say again"),
        "lost_card": ("lost card",),
        "yes": ("yes", "yeah"),
        "no": ("no",),
        "elderly": ("I'm a senior", "senior"),
        "visually_impaired": ("I can't see", "I am blind"),
    },
    "zh": {
        "0": ("零", "按零"), "1": ("一", "幺", "按一"), "2": ("二", "两", "按二"), "3": ("三", "按三"),
        "4": ("四", "按四"), "5": ("五", "按五"), "6": ("六", "按六"), "7": ("七", "按七"),
        "8": ("八", "按八"), "9": ("九", "按九"),
        "back": ("返回", "返回上一级"),
        "operator": ("人工", "转人工"),
        "repeat": ("重复", "再说一遍"),
        "lost_card": ("挂失",),
        "yes": ("是", "对"),
        "no": ("不是", "不对"),
        "elderly": ("我是老年人", "老年人"),
        "visually_impaired": ("我看不见", "视障"),
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
