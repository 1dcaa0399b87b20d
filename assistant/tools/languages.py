"""Language names for prompts: models understand "French" far better than "fr"."""

from __future__ import annotations

import re
import unicodedata

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
_TAG = re.compile(
    r"^[A-Za-z]{2,3}(?:[-_](?:[A-Za-z]{4}|[A-Za-z]{2}|\d{3}))+(?:[-_](?:[A-Za-z0-9]{5,8}|\d[A-Za-z0-9]{3}))*$"
)
"""A language tag with a region or script (``pt-BR``, ``zh_Hant``, ``es-419``), perhaps then variants
(``en-GB-oxendict``, ``de-CH-1901``): a code, never a name. Without the variants, "en-GB-oxendict"
passed as a language *name* and the model was asked to translate "to En-GB-oxendict"."""


def _without_marks(text: str) -> str:
    """``text`` without the combining marks that follow a letter, so the name's words are letters only.

    Why: ``[^\\W\\d_]`` matches no combining mark, and the vowel signs of Indic scripts are marks:
    "हिन्दी" (Hindi, by its own name), "தமிழ்" or a decomposed "Français" were refused as no
    language name. A mark at the start, or after a space or punctuation, stays and is refused.
    """
    kept: list[str] = []
    for char in text:
        if unicodedata.category(char).startswith("M") and kept and kept[-1].isalpha():
            continue
        kept.append(char)
    return "".join(kept)


def language_name(value: str) -> str:
    """``fr``/``fr-FR``/``french`` -> ``French``; unknown codes are an error, other names pass through."""
    text = unicodedata.normalize("NFC", value.strip())
    code = text.lower().replace("_", "-").split("-")[0]
    if code in LANGUAGES and (len(text) <= 3 or _TAG.match(text)):  # not "Ga-Dangme" (a name, not Irish)
        return LANGUAGES[code]
    if not _NAME.match(_without_marks(text)) and not _TAG.match(text):
        raise ConfigError(f"{value!r} is not a language name or code")
    if (len(text) <= 3 and text.isascii()) or _TAG.match(text):
        raise ConfigError(f"unknown language code {value!r}; write the language's name, e.g. 'French'")
    return text[0].upper() + text[1:]
