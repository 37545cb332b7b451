"""Voice keys: callers say the key ("three", "返回", "operator") instead of pressing it.

`VoiceKeyDecoder` streams a call's audio and reports each key word once; `recognize` names
the key of one utterance. See decoder.py for how, and firmware/training/ for the model.
"""
from edgepbx.dsp.voicekey.decoder import VoiceKeyDecoder, VoiceKeyEvent, recognize
from edgepbx.dsp.voicekey.vocabulary import KEYS, LANGUAGES, WORDS, spoken

__all__ = ["VoiceKeyDecoder", "VoiceKeyEvent", "recognize", "KEYS", "LANGUAGES", "WORDS", "spoken"]
