"""Language names for prompts: models understand "French" far better than "fr"."""

from __future__ import annotations

import re

from ..errors import ConfigError

LANGUAGES = {
    "ar": "Arabic", "bg": "Bulgarian", "ca": "Catalan", "cs": "Czech", "cy": "Welsh", "da": "Danish",
    "de": "German", "el": "Greek", "en": "English", "eo": "Esperanto", "es": "Spanish", "et": "Estonian",
    "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fr": "French", "ga": "Irish", "he": "Hebrew",
    "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "id": "Indonesian", "is": "Icelandic",
    "it": "Italian", "ja": "Japanese", "ko": "Korean", "la": "Latin", "lt": "Lithuanian", "lv": "Latvian",
    "ms": "Malay", "nl": "Dutch", "no": "Norwegian", "nb": "Norwegian", "pl": "Polish", "pt": "Portuguese",
    "ro": "Romanian", "ru": "Russian", "sk": "Slovak", "sl": "Slovenian", "sr": "Serbian", "sv": "Swedish",
    "sw": "Swahili", "ta": "Tamil", "th": "Thai", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu",
    "vi": "Vietnamese", "zh": "Chinese",
}

_NAME = re.compile(r"^[^\W\d_]+(?:[ \-'][^\W\d_]+)*$")


def language_name(value: str) -> str:
    """``fr``/``fr-FR``/``french`` -> ``French``; unknown codes are an error, other names pass through."""
    text = value.strip()
    code = text.lower().replace("_", "-").split("-")[0]
    if code in LANGUAGES and (len(text) <= 3 or "-" in text or "_" in text):
        return LANGUAGES[code]
    if not _NAME.match(text):
        raise ConfigError(f"{value!r} is not a language name or code")
    if len(text) <= 3 and text.isascii():
        raise ConfigError(f"unknown language code {value!r}; write the language's name, e.g. 'French'")
    return text[0].upper() + text[1:]
