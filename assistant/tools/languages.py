"""Language names for prompts: models understand "French" far better than "fr"."""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from .language_words import (
    _SHARES,
    FUNCTION_WORDS,
    INSTEAD_SCORE,
    _script,
    _surest,
    _text_words,
    language_scores,
    written_in,
)

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

WRITTEN_SCRIPTS = frozenset(name.upper() for name in SCRIPTS.values()) - {
    "SIMPLIFIED", "TRADITIONAL", "JAPANESE", "KOREAN",
}
"""The qualifiers of :data:`SCRIPTS` that are Unicode's names of a script (``LATIN``): "Japanese (Latin)", from
``ja-Latn``, is written in Latin letters, though Japanese's own name is not, and a reply in romaji is no
reply in another script."""

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


_NAMES_FILE = Path(__file__).with_name("language_names.tsv")
"""The codes and names of ISO 639-1, -2 and -3 (every language the standards list, 8000 names, historical
and constructed ones too: "Old English", "Klingon"), common names they lack ("Cantonese", "Farsi") and
languages' names for themselves ("Deutsch", "हिन्दी"); read only when a name is checked."""


@dataclass(frozen=True)
class _Table:
    """What :data:`_NAMES_FILE` says, read once (:func:`_table`)."""

    codes: dict[str, str]
    """ISO 639-1/-2 codes -> the name a prompt uses."""
    names: frozenset[str]
    """Every known name, case-folded."""
    written: dict[str, tuple[str, frozenset[str]]]
    """Each language a name for itself is listed for (the third column), case-folded -> its name and the
    scripts its own names are written in."""
    own: dict[str, str]
    """Each name a language has for itself, case-folded -> the language's name ("deutsch" -> "German")."""
    selves: dict[str, tuple[str, ...]]
    """Each such language's name -> its names for itself ("German" -> ("Deutsch",))."""
    code_of: dict[str, str]
    """A name, case-folded -> a code that gives it ("ga" -> "gaa"): how to name a language unambiguously."""


@functools.cache
def _table() -> _Table:
    """:data:`_NAMES_FILE`, parsed once: the one reading of it for every question asked of it.

    A name a prompt uses is a known name too (:data:`LANGUAGES`' "Greek", the languages an own name is
    listed for: "Punjabi"): "el" became "Greek", which ISO lists only as "Modern Greek", and ``--to Greek``
    was refused as "not a language the assistant knows (did you mean 'Greek'?)".

    Why from the languages' own names for the scripts: the script of "አማርኛ" says that Amharic is written
    in Ethiopic letters, and "Српски" and "Srpski" that Serbian is in Cyrillic or Latin ones. A hand-kept
    list of scripts covered fifteen languages: a reply in French or in Cyrillic letters passed as an
    Amharic translation. (Two parsers of the file, one per question, read it twice and could disagree.)
    """
    codes: dict[str, str] = {}
    names: set[str] = {name.casefold() for name in LANGUAGES.values()}
    languages: dict[str, tuple[str, set[str]]] = {}
    own: dict[str, str] = {}
    selves: dict[str, list[str]] = {}
    for line in _NAMES_FILE.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        code, name, *of = line.split("\t")
        if code:
            codes[code] = name
        names.add(name.casefold())
        if not of:
            continue
        itself = [language.strip() for language in of[0].split(",") if language.strip()]
        names.update(language.casefold() for language in itself)
        scripts = {_script(char) for char in name if char.isalpha()}
        for language in itself:
            languages.setdefault(language.casefold(), (itself[0], set()))[1].update(scripts)
        if itself:
            own[name.casefold()] = itself[0]
            selves.setdefault(itself[0], []).append(name)
    code_of: dict[str, str] = {}
    for code, name in sorted(codes.items(), key=lambda item: len(item[0])):  # the shortest code first
        code_of.setdefault(name.casefold(), code)
    return _Table(
        codes=codes,
        names=frozenset(names),
        written={key: (name, frozenset(scripts)) for key, (name, scripts) in languages.items()},
        own=own,
        selves={name: tuple(spelled) for name, spelled in selves.items()},
        code_of=code_of,
    )


def _known() -> tuple[dict[str, str], frozenset[str]]:
    """ISO 639-1/-2 codes -> the name a prompt uses, and every known name, case-folded (:func:`_table`)."""
    table = _table()
    return table.codes, table.names


def known_language(name: str) -> bool:
    """Whether ``name`` names a language: one of :data:`_NAMES_FILE`'s (case aside), or a variety of one,
    its last words ("Brazilian Portuguese", "Swiss German", "Simple English"), perhaps with a qualifier
    in brackets ("Chinese (Traditional)").

    Why: any word was a language, so "Klingonese" or "asdf" went to the model, which wrote something
    and called it a translation. A list of a few dozen languages would refuse real ones ("Cantonese",
    "Yoruba"); the standards' full list refuses only what no one speaks or writes.
    """
    _, names = _known()
    words = name.split(" (", 1)[0].casefold().split()
    if len(words) > 1 and words[-1] == "language":  # "the Spanish language"
        words = words[:-1]
    return any(" ".join(words[index:]) in names for index in range(len(words)))


def _suggestion(name: str) -> str:
    """" (did you mean 'X'?)" for the likeliest language with a code close to ``name`` (a typo: "Germna"); or "".

    Only those: among all 8000 names the closest to a made-up word is an obscure one ("Elvish": "Lish")."""
    codes, _ = _known()
    common = {
        language.casefold(): language
        for language in [*LANGUAGES.values(), *codes.values()]
        if not _no_one_language(language)  # "Sign Language" is none of "Sign Languages"
    }
    close = difflib.get_close_matches(name.split(" (", 1)[0].casefold(), list(common), n=1, cutoff=0.8)
    return f" (did you mean {common[close[0]]!r}?)" if close else ""


def language_name(value: str) -> str:
    """``fr``/``fr-FR``/``french`` -> ``French``; unknown codes and names that name no language are an error.

    A name passes through as written (capitalised), when :func:`known_language` knows it; a code of
    ISO 639-1 or -2 that :data:`LANGUAGES` lacks ("am", "yor") is the standard's name ("Amharic").
    A group of languages is a name too ("Germanic languages"): :func:`one_language` refuses it where one
    language is needed."""
    text = unicodedata.normalize("NFC", value.strip())
    code, *subtags = text.lower().replace("_", "-").split("-")
    _refuse_code_or_name(text)
    if code in LANGUAGES and (len(text) <= 3 or _TAG.match(text)):  # not "Ga-Dangme" (a name, not Irish)
        return _qualified(code, subtags)
    if not _NAME.match(_without_marks(text)) and not _TAG.match(text):
        raise ConfigError(f"{_shown(value)} is not a language name or code")
    codes, _ = _known()
    if code in codes and len(text) <= 3:  # a tag's script and region are read for LANGUAGES' codes only
        return codes[code]
    if (len(text) <= 3 and text.isascii()) or _TAG.match(text):
        raise ConfigError(f"unknown language code {_shown(value)}; write the language's name, e.g. 'French'{_KNOWN}")
    if not known_language(text):
        raise ConfigError(
            f"{_shown(value.strip())} is not a language the assistant knows{_suggestion(text)}; "
            f"write one such as 'French' or 'fr'{_KNOWN}"
        )
    return text[0].upper() + text[1:]


_KNOWN = " (listed in assistant/tools/language_names.tsv)"
"""Where a refused language's user finds the known ones (:data:`_NAMES_FILE`, named as in the package):
8000 names are no list for an error line, and no rule tells which made-up name is refused ("Elvish" is,
"Klingon" is not)."""

SHOWN_CHARACTERS = 60
"""Most characters of a value quoted in a message: a 5,000-character ``--to`` made a page-long error line."""


def _shown(value: str) -> str:
    """``value`` quoted for a message (control characters escaped), cut to :data:`SHOWN_CHARACTERS` with "…"."""
    return repr(value if len(value) <= SHOWN_CHARACTERS else value[: SHOWN_CHARACTERS - 1] + "…")


def one_language(value: str) -> str:
    """:func:`language_name` of ``value``, which must name one language: a text is translated into one.

    ``--to gem`` ("Germanic languages"), ``--to und`` ("Undetermined") or ``--to zxx`` ("No linguistic
    content") reached the model as "Translate the following text to No linguistic content"."""
    name = language_name(value)
    if _no_one_language(name):
        named = "" if name.casefold() == value.strip().casefold() else f" ({name})"
        raise ConfigError(f"{_shown(value.strip())}{named} is no one language; name one, e.g. 'French'")
    return name


AUTO = "auto"
"""A language parameter's word for "tell it from the text" (translate's ``--from``, summarize's ``--language``)."""


def language_or_auto(value: str) -> str | None:
    """None for :data:`AUTO` or nothing (the language is told from the text), else :func:`one_language`'s name.

    The one check of an optional language parameter: translate's source and summarize's language
    both take it, so ``fr`` reaches either prompt as "French" and a made-up name is refused alike
    (summarize's sent ``-p language=xx``, escape sequences and all, to the model as written)."""
    if value.strip().lower() in (AUTO, ""):
        return None
    return one_language(value)


_NO_ONE_LANGUAGE = re.compile(r"(?:\blanguages|\bpidgins|^undetermined|^no linguistic content)$", re.IGNORECASE)


def _no_one_language(name: str) -> bool:
    """Whether ``name`` is an ISO 639-2 group of languages or a code for none: what no text is translated into.

    Every such name in :data:`_NAMES_FILE` ends in "languages" or "pidgins" ("Creoles and pidgins"), or is one of
    the two codes' names; no single language's name does.
    """
    return _NO_ONE_LANGUAGE.search(name.split(" (", 1)[0].strip()) is not None


def _refuse_code_or_name(text: str) -> None:
    """Refuse ``text`` written as a name ("Ga") where it is a code of another language too ("ga": Irish).

    A code is written in lower case or in capitals ("ga", "GA"); written any other way, a word of up to
    three letters that is also a listed language's name is that language as much as the code's: ``--to Ga``
    (the language of Accra) was translated into Irish, ``--to Mon`` (of Myanmar) into Mongolian. Neither
    reading is sure ("En" is a language of Vietnam, and likelier a capitalised "en"), so both are named.
    """
    if len(text) > 3 or text.islower() or text.isupper():
        return
    table = _table()
    folded = text.casefold()
    coded = LANGUAGES.get(folded) or table.codes.get(folded)
    if coded is None or folded not in table.names or coded.casefold() == folded:
        return
    other = table.code_of.get(folded)
    named = f"{other!r} (or {text + ' language'!r})" if other else repr(f"{text} language")
    raise ConfigError(
        f"{text!r} is both the code of {coded} ({folded!r}) and the name of the {text} language: "
        f"write {folded!r} or {coded!r} for {coded}, or {named} for {text}"
    )


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


SCRIPT_LANGUAGES = {"CJK": "Chinese characters", "HANGUL": "Korean", "HIRAGANA": "Japanese", "KATAKANA": "Japanese", "GREEK": "Greek",
                    "HEBREW": "Hebrew", "THAI": "Thai", "TAMIL": "Tamil"}
"""Scripts that name their language; another is named as a script ("Cyrillic script")."""

SCRIPT_LETTERS = 8
"""Fewest letters (outside words copied from the input) that make a reply's script sure."""
LETTER_WEIGHT = {"CJK": 2.5, "HANGUL": 2.0, "HIRAGANA": 1.5, "KATAKANA": 1.5}
"""Latin letters one letter of these scripts stands for, in telling which script a reply is mostly in:
"Good morning, my friend, how are you today?" is 31 Latin letters, 13 Chinese characters, 14 Hangul
syllables and 20 Japanese letters. Counted one for one, a right Chinese answer with its pinyin after it
("早上好，我的朋友 (Zǎoshang hǎo, wǒ de péngyǒu)") was mostly Latin."""
def _script_counts(words: list[str]) -> dict[str, int]:
    """How many letters of ``words`` each script has."""
    counts: dict[str, int] = {}
    for word in words:
        for char in word:
            script = _script(char)
            counts[script] = counts.get(script, 0) + 1
    return counts


def _weighed(counts: dict[str, int]) -> dict[str, float]:
    """Letter counts by script (:func:`_script_counts`) as the Latin letters they stand for (:data:`LETTER_WEIGHT`)."""
    return {script: count * LETTER_WEIGHT.get(script, 1.0) for script, count in counts.items()}


def _scripts_of(words: list[str]) -> set[str]:
    """The scripts of at least a quarter of the letters of ``words``."""
    counts = _script_counts(words)
    total = sum(counts.values())
    return {script for script, count in counts.items() if 4 * count >= total}


def names_for_itself(language: str) -> tuple[str, ...]:
    """The names ``language`` (any name :func:`written_with` reads) has for itself: "German" -> ("Deutsch",).

    A model labels its translation so too ("Deutsch: Guten Morgen."), and the translate tool's cleaner
    removes that label as it removes "German:"."""
    writing = written_with(language)
    return _table().selves.get(writing[0], ()) if writing is not None else ()


def written_with(language: str) -> tuple[str, frozenset[str]] | None:
    """The language ``language`` names (as :func:`language_name` gives it: "Amharic", "Deutsch", "Chinese
    (Traditional)", "Brazilian Portuguese") and the scripts it is written in (Unicode's first word of a
    letter's name: ``LATIN``, ``ETHIOPIC``, ``CJK``); None where the assistant does not know its writing.

    The one place a language's script is known: every language with a name for itself in
    :data:`_NAMES_FILE`. A variety is its last words' language, as :func:`known_language` reads it, and
    a script it names in brackets is the one it is written in ("Serbian (Latin)", from ``sr-Latn``: a
    reply in Cyrillic letters is no translation into it).
    """
    table = _table()
    languages, own = table.written, table.own
    name, _, qualifiers = language.partition(" (")
    words = name.casefold().split()
    if len(words) > 1 and words[-1] == "language":  # "the Spanish language"
        words = words[:-1]
    for index in range(len(words)):
        key = " ".join(words[index:])
        key = own.get(key, key).casefold()  # "Deutsch" is German
        if key in languages:
            found, scripts = languages[key]
            named = (scripts | WRITTEN_SCRIPTS) & {part.strip().upper() for part in qualifiers.rstrip(")").split(",")}
            return found, named or scripts
    return None


def answered_in(reply: str, source: str, target: str, source_language: str | None = None) -> str | None:
    """The language (or script) ``reply``, a translation of ``source`` into ``target``, is written in instead,
    where that can be told; None where it is in ``target`` or cannot be told.

    A small model asked for French may answer in Spanish (a text mostly of emoji did, with SmolLM2);
    printed, that reads as the French translation. Told by the reply's script (Cyrillic is no Japanese),
    then, for a language of :data:`FUNCTION_WORDS`, by its function words; only by the words the input
    does not hold, so names and words kept from it ("iPhone" in a Japanese reply, a quoted English title
    in a French one) say nothing. A target whose writing the assistant does not know (:func:`written_with`:
    a name with no name for itself listed, "Klingon") is never refused, and one in Latin letters without
    function words here ("Polish") only for a reply in another script.

    For a target in Latin letters, a reply in the input's language (``source_language``, or the one its
    words surely are in) or in English, the language of the tool's prompt, is not refused: such a reply is
    the input kept (a name, a title, a term with no translation) or the model's own chatter, which the
    translate tool's cleaner removes and which a model echoing its prompt shows
    (:func:`~assistant.tools.generate.echoes_prompt`); what is surely wrong is a third language. The input
    given back in its language, told by more evidence, is :func:`given_back`'s to refuse.

    A target not written in Latin letters (Japanese, Russian, Amharic) refuses a reply mostly in another
    script, whatever it is: asked for Japanese, SmolLM2's English or Latin-letter gibberish passed. So does
    the input given back as a sentence of its language; names and numbers kept from the input, in a reply
    otherwise in the target's script, say nothing.
    """
    writing = written_with(target)
    if writing is None:
        return None
    language, scripts = writing
    given = _text_words(source)
    source_writing = written_with(source_language or "")
    kept = {language, "English", source_writing[0] if source_writing else None, written_in(given)}
    held = set(given)
    novel = [word for word in _text_words(reply) if word not in held]
    counts = _script_counts(novel)
    letters = sum(counts.values())
    weight = _weighed(counts)
    if letters >= SCRIPT_LETTERS and sum(weight.get(s, 0) for s in scripts) * 2 < sum(weight.values()):
        script = max(weight, key=lambda name: weight[name])
        if "LATIN" not in scripts:
            # A target in another script: Latin letters (English, the input's language, gibberish) are no
            # translation into it, nor is the input's own script; English chatter is not kept, as it is for
            # a Latin target, since asked for Japanese SmolLM2 answered in English and that passed.
            said = (written_in(novel) or "Latin script") if script == "LATIN" else None
            return said or SCRIPT_LANGUAGES.get(script, f"{script.title()} script")
        if script != "LATIN":
            # in the input's own script, as the input's language is kept below ("東京" from a Japanese text)
            return None if script in _scripts_of(given) else SCRIPT_LANGUAGES.get(script, f"{script.title()} script")
        found = written_in(novel)
        return found if found not in kept else None
    if "LATIN" not in scripts:
        # The input given back (as good as unchanged) for a target in another script: names alone
        # ("Barack Obama, Angela Merkel") may stay in Latin letters, but not a sentence of the input's language.
        words = _text_words(reply)
        counts = _script_counts(words)
        whole = _weighed(counts)
        found = written_in(words)
        if found is not None and counts.get("LATIN", 0) >= SCRIPT_LETTERS and 2 * whole["LATIN"] > sum(whole.values()):
            return found
        return None
    if language in FUNCTION_WORDS:
        scores = language_scores(novel)
        # The target's own words count wherever they are: "me" of "Ligue-me mais tarde." is the input's
        # word too ("Call me later."), and without it the Portuguese reply was French by its "mais".
        own = language_scores(_text_words(reply))[language]
        found = _surest(scores) or (_surest(scores, INSTEAD_SCORE) if not own else None)
        if found is not None and found not in kept:
            return found
    return None


_PROSE = re.compile(r"(?:[^\W_]|[\s.,!?;:'\"«»„“”‘’¿¡…–—%€$£&-])*")
"""Text made of words and a sentence's punctuation only: no brackets, ``=``, slashes or ``#`` of code or a URL."""
_CAPITALISED = re.compile(r"[^\W\d_]+")

GIVEN_BACK_SHARE = 0.5
"""Least share of a reply's different words that are the input's for a reply in the input's language to be the input
given back (reworded, in a loop or as it was) rather than a text of its own: "L'enfant est très bon et nous allons à
la plage." for "Il fait très beau aujourd'hui et nous allons à la plage." (7 of 11), "Eu não sei que está ao que o
que está ao que está." for "Eu não sei onde está a estação de comboios." (4 of 7), against the chatter "Sure, this
is what you asked for and it is done." for "Good morning, my friend, how are you today?" (1 of 10), kept as before."""


def given_back(reply: str, source: str, target: str) -> str | None:
    """The input's language where ``reply``, asked to translate ``source`` into ``target``, is the input given back
    in it (unchanged, or mostly its words); else None.

    Asked for English, SmolLM2 gave back "Ik heb geen tijd om vandaag naar de winkel te gaan." as it was, and for
    German "The museum is closed on Mondays and the park is open on Fridays.": both printed as translations.
    :func:`answered_in` keeps a reply in the input's language (a name or title kept); this tells that apart by
    evidence, and refuses only where all of it is sure: the input is surely in a language (:func:`written_in`:
    function words, so names, numbers and a single word say nothing) other than the target's; it is prose, not
    code or a URL, and not a title or list of names (a word that is no function word in lower case); the reply
    is surely in that language too, at least :data:`GIVEN_BACK_SHARE` of its different words are the input's
    (case, spacing and punctuation aside), and the words
    it adds hold less than one of the target's (:data:`INSTEAD_SCORE`: "J'adore pizza, it is very good…" is a
    translation begun, which :func:`answered_in` judges). The target's own text is told apart only where the
    target is a language of :data:`FUNCTION_WORDS` or written in another script: Polish or Czech text ("i", "a",
    "to", "on") may look English by its short words, so a reply given back for such a target is not refused here.
    An input mostly in a script that is none of the target's is given back when the reply is mostly in that script
    and holds none but the input's words; that script is then named ("Arabic script", "Japanese").
    """
    writing = written_with(target)
    if writing is None:
        return None
    target_language, scripts = writing
    given = _text_words(source)
    counts = _script_counts(given)
    if counts.get("LATIN", 0) * 2 < sum(counts.values()):
        # An input mostly in another script, given back: "مرحبا يا صديقي، كيف حالك اليوم؟" is no English, nor
        # is "Доброе утро, как дела." for "Доброе утро, мой друг, как дела?". Its words only: more of the input's
        # script after it is kept ("東京は日本の首都です。" and a sentence more, for French), as
        # :func:`answered_in` keeps the input's script for a Latin target.
        own = _scripts_of(given) - {"LATIN"}
        if sum(counts.values()) < SCRIPT_LETTERS or own & scripts:
            return None
        words = _text_words(reply)
        weight = _weighed(_script_counts(words))
        mostly = 2 * sum(weight.get(name, 0) for name in own) > sum(weight.values())
        if not words or not set(words) <= set(given) or not mostly:
            return None
        script = max(own, key=lambda name: (name != "CJK", counts[name]))  # kana say Japanese, as kanji cannot
        return SCRIPT_LANGUAGES.get(script, f"{script.title()} script")
    if target_language not in FUNCTION_WORDS and "LATIN" in scripts:
        return None
    language = written_in(given)
    if language is None or language == target_language or not _PROSE.fullmatch(unicodedata.normalize("NFC", source)):
        return None
    if not any(word.islower() and word not in _SHARES for word in _CAPITALISED.findall(source)):
        return None  # "The Lord of the Rings", "Barack Obama and Angela Merkel": a title or names, kept
    words = _text_words(reply)
    held = set(given)
    if not words or written_in(words) != language:
        return None
    if language_scores([word for word in words if word not in held]).get(target_language, 0.0) >= INSTEAD_SCORE:
        return None  # words of the target added to the input's: a translation begun, not the input given back
    distinct = set(words)  # a reply going round in a loop of the input's words is the input given back too
    return language if len(distinct & held) >= GIVEN_BACK_SHARE * len(distinct) else None
