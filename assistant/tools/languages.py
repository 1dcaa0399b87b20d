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

_WORDS = r"[^\W\d_]+(?:[ \-'][^\W\d_]+)*"
_NAME = re.compile(rf"^{_WORDS}(?: \({_WORDS}\))?$")
"""Words of letters, perhaps with a qualifier in brackets ("Chinese (Traditional)", "Portuguese (Brazil)")."""
_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_](?:[A-Za-z]{4}|[A-Za-z]{2}|\d{3}))+$")
"""A language tag with a region or script (``pt-BR``, ``zh_Hant``, ``es-419``): a code, never a name."""


def language_name(value: str) -> str:
    """``fr``/``fr-FR``/``french`` -> ``French``; unknown codes are an error, other names pass through."""
    text = value.strip()
    code = text.lower().replace("_", "-").split("-")[0]
    if code in LANGUAGES and (len(text) <= 3 or _TAG.match(text)):  # not "Ga-Dangme" (a name, not Irish)
        return LANGUAGES[code]
    if not _NAME.match(text) and not _TAG.match(text):
        raise ConfigError(f"{value!r} is not a language name or code")
    if (len(text) <= 3 and text.isascii()) or _TAG.match(text):
        raise ConfigError(f"unknown language code {value!r}; write the language's name, e.g. 'French'")
    return text[0].upper() + text[1:]
