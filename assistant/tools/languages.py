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

SCRIPTS = {
    "hans": "Simplified", "hant": "Traditional", "latn": "Latin", "cyrl": "Cyrillic", "arab": "Arabic",
    "deva": "Devanagari", "grek": "Greek", "hebr": "Hebrew", "jpan": "Japanese", "kore": "Korean",
    "thai": "Thai", "taml": "Tamil",
}
"""Script subtags (ISO 15924), named as a prompt says them: "Chinese (Traditional)", "Serbian (Latin)".
The script decides the written form (zh-Hant is Traditional characters, sr-Latn Serbian in Latin
letters); dropped, the model was asked for plain "Chinese" and may answer in Simplified."""

REGIONS = {
    "419": "Latin America", "ar": "Argentina", "at": "Austria", "au": "Australia", "be": "Belgium",
    "br": "Brazil", "ca": "Canada", "ch": "Switzerland", "cl": "Chile", "cn": "China", "co": "Colombia",
    "de": "Germany", "es": "Spain", "fr": "France", "gb": "United Kingdom", "hk": "Hong Kong",
    "ie": "Ireland", "in": "India", "it": "Italy", "mo": "Macau", "mx": "Mexico", "my": "Malaysia",
    "nl": "Netherlands", "nz": "New Zealand", "pt": "Portugal", "sg": "Singapore", "tw": "Taiwan",
    "uk": "United Kingdom", "us": "United States", "za": "South Africa",
}
"""Region subtags (ISO 3166, UN M49 ``419``) whose language is written differently there: spelling
(en-GB, pt-BR against pt-PT), vocabulary (es-419), or no "ß" (de-CH). A region not listed names the
language alone, as before; a region that implies a script for Chinese adds that too (:data:`CHINESE_SCRIPT`)."""

CHINESE_SCRIPT = {"tw": "hant", "hk": "hant", "mo": "hant", "cn": "hans", "sg": "hans", "my": "hans"}
"""The script a region writes Chinese in, when the tag names none: zh-TW is Traditional, zh-CN Simplified."""

_WORDS = r"[^\W\d_]+(?:[ \-'][^\W\d_]+)*"
_NAME = re.compile(rf"^{_WORDS}(?: \({_WORDS}(?:, {_WORDS})*\))?$")
"""Words of letters, perhaps with qualifiers in brackets ("Chinese (Traditional)", "Portuguese (Brazil)",
"Chinese (Traditional, Taiwan)": what :func:`language_name` gives for ``zh-Hant-TW``)."""
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
    code, *subtags = text.lower().replace("_", "-").split("-")
    if code in LANGUAGES and (len(text) <= 3 or _TAG.match(text)):  # not "Ga-Dangme" (a name, not Irish)
        return _qualified(code, subtags)
    if not _NAME.match(_without_marks(text)) and not _TAG.match(text):
        raise ConfigError(f"{value!r} is not a language name or code")
    if (len(text) <= 3 and text.isascii()) or _TAG.match(text):
        raise ConfigError(f"unknown language code {value!r}; write the language's name, e.g. 'French'")
    return text[0].upper() + text[1:]


def _qualified(code: str, subtags: list[str]) -> str:
    """The language of ``code`` with what its script and region subtags change in the writing.

    ``zh-Hant`` → "Chinese (Traditional)", ``zh-TW`` → "Chinese (Traditional, Taiwan)", ``sr-Latn`` →
    "Serbian (Latin)", ``pt-BR`` → "Portuguese (Brazil)"; variants (``oxendict``) and regions not in
    :data:`REGIONS` add nothing. The one place a tag becomes the name a prompt uses.
    """
    script = next((tag for tag in subtags if len(tag) == 4 and tag.isalpha()), None)
    region = next((tag for tag in subtags if (len(tag) == 2 and tag.isalpha()) or (len(tag) == 3 and tag.isdigit())), None)
    if script is None and code == "zh" and region in CHINESE_SCRIPT:
        script = CHINESE_SCRIPT[region]
    written = SCRIPTS.get(script or "")
    if written == LANGUAGES[code]:  # ja-Jpan, el-Grek: the language's own script says nothing more
        written = None
    qualifiers = [name for name in (written, REGIONS.get(region or "")) if name]
    return f"{LANGUAGES[code]} ({', '.join(qualifiers)})" if qualifiers else LANGUAGES[code]
