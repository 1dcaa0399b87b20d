"""The figures a text states — numbers with their scale and unit — so a summary's can be checked against its source.

A small model invents figures while summarising (docs/tools.md: SmolLM2 added "up to 1,500 jobs" and
"$3 million" to a story whose figures were "$124 billion", "3%" and "2,000 jobs"). Comparing the digits
alone let "$3 million" pass where the text said "3%", and let any figure written in words ("three
million", "a dozen") through unchecked. A figure here is its value with the scale words after it
applied ("3 million" and "3,000,000" are one figure, "$1.2bn" and "1,200 million dollars" another) and
its unit: a percentage, a currency or neither.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

PERCENT = "%"

_DIGITS = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)*")
"""A number written in digits ("2,000", "3.5", "2026"); commas are thousands separators."""

SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_SCALE_ABBREVIATIONS = {"k": 1000, "m": 10**6, "mn": 10**6, "mln": 10**6, "bn": 10**9, "b": 10**9, "tn": 10**12}
"""Short scales, only after an amount of money ("$3m", "£2bn"): after a bare number "m" is metres."""
_SCALE_AFTER = re.compile(r"[ \u00a0-]?(hundred|thousand|million|billion|trillion)s?\b", re.IGNORECASE)
_SHORT_SCALE_AFTER = re.compile(r" ?(k|mn|mln|m|bn|b|tn)\b", re.IGNORECASE)

CURRENCIES = {
    "$": "$", "us$": "$", "dollar": "$", "dollars": "$", "usd": "$",
    "€": "€", "euro": "€", "euros": "€", "eur": "€",
    "£": "£", "pound": "£", "pounds": "£", "sterling": "£", "gbp": "£",
    "¥": "¥", "yen": "¥", "jpy": "¥", "yuan": "yuan", "renminbi": "yuan", "cny": "yuan",
    "₹": "₹", "rupee": "₹", "rupees": "₹", "inr": "₹",
}
"""Currency signs and names, each to one symbol: "$124 billion" and "124 billion dollars" are one figure."""
_CURRENCY_BEFORE = re.compile(r"(?:(US\$|\$|€|£|¥|₹)|\b(USD|EUR|GBP|JPY|CNY|INR))[ \u00a0]?\Z")
_UNIT_AFTER = re.compile(
    r"[ \u00a0]?(?:(%|percent\b|per[ \u00a0]cent\b|percentage[ \u00a0]points?\b|pct\b)"
    r"|(dollars?|euros?|pounds?(?![ \u00a0]of\b)|sterling|yen|yuan|renminbi|rupees?|usd|eur|gbp|jpy|cny|inr)\b)",
    re.IGNORECASE,
)
"""A unit after a number (and its scale): a percentage, or a currency by name ("pounds of flour" is a weight)."""
_RANGE = re.compile(r"[ \u00a0]?(?:-|–|—|to)[ \u00a0]?")
"""Between the two numbers of a range ("2-3%", "$2 to 3 billion"): the second's unit and scale are the first's too."""

UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")

SMALL_WORDS = 20
"""A number in words up to this, with no scale or unit ("two", "the three leaders"), is how a summary counts
what its text lists ("Acme and Beta" are "the two companies"): no figure, and not checked. Written in digits,
or as "a dozen", "twenty-five", "three million", "five percent", it is one."""


@dataclass(frozen=True)
class Figure:
    """A figure of a text: its ``value`` (scale applied) and ``unit`` ("%", a currency symbol, or "")."""

    value: Fraction
    unit: str = ""
    checked: bool = True
    """Whether a summary may state it only where its source does (:data:`SMALL_WORDS` are not)."""
    start: int = 0
    end: int = 0

    def stated_by(self, source: "Figure") -> bool:
        """Whether ``source`` states this figure: the same value, and the same unit unless this one has none.

        A figure without a unit is the source's in any unit ("rose 3" after "3%"); "3%" is not "3 million",
        and "$3 million" is not a percentage or "€3 million", though it is "3 million" said without its
        currency.
        """
        if self.value != source.value:
            return False
        return not self.unit or self.unit == source.unit or (self.unit != PERCENT and not source.unit)


def figures(text: str) -> list[Figure]:
    """The figures in ``text``, in order: numbers in digits and in words, with their scale and unit."""
    found = sorted([*_digit_figures(text), *_word_figures(text)], key=lambda f: f.start)
    return _ranges(text, found)


def unstated(sentence: str, source: list[Figure]) -> list[Figure]:
    """The figures of ``sentence`` that ``source`` (:func:`figures` of the text it summarises) does not state."""
    return [f for f in figures(sentence) if f.checked and not any(f.stated_by(s) for s in source)]


def stated_figures(text: str) -> list[Figure]:
    """The figures ``text`` states read every way its writing allows: :func:`figures`, and the readings
    of other languages' numbers ("1.234" and "12,5" as German and French write 1,234 and 12.5; "1 234 567";
    "3 Millionen", "12 milliards", "1400万"; "10k"). For the text a summary is checked against.

    SmolLM2 summarises a German or French text in English: "1.234 Millionen Euro" became "1,234 million
    euros", which the English reading alone took for an invented figure, and the faithful sentence was
    dropped. A summary's own figures are read one way (:func:`figures`): a reading added here can only
    let a figure pass, never drop one.
    """
    return [*figures(text), *_other_readings(text)]


def _readings(raw: str) -> list[Fraction]:
    """The values digits may be read as: with "," separating thousands and "." decimals (first), and with
    "." separating thousands and "," decimals; none for "1.2.3" or "192.168.0.1", which are no number.
    A "," is a thousands separator only before three digits: "12,5" was read as 125."""
    values = []
    if re.fullmatch(r"\d+(?:\.\d+)?|\d{1,3}(?:,\d{3})+(?:\.\d+)?", raw):  # not "12,5" as 125
        values.append(Fraction(raw.replace(",", "")))
    if raw.count(",") <= 1 and re.fullmatch(r"\d{1,3}(?:\.\d{3})*(?:,\d+)?", raw):
        european = Fraction(raw.replace(".", "").replace(",", "."))
        if european not in values:
            values.append(european)
    return values


def _parse_digits(raw: str) -> Fraction | None:
    """Digits as :func:`figures` reads them: the first of :func:`_readings`, or None (a version, an address)."""
    values = _readings(raw)
    return values[0] if values else None


def _digit_figures(text: str) -> list[Figure]:
    found = []
    for match in _DIGITS.finditer(text):
        value = _parse_digits(match.group())
        if value is None:  # "1.2.3": Fraction() raised, and any text naming a version failed summarize
            continue
        currency = _currency_before(text, match.start())
        end = match.end()
        scale = _SCALE_AFTER.match(text, end)
        if scale is not None:
            value *= SCALES[scale.group(1).lower()]
            end = scale.end()
        elif currency and (short := _SHORT_SCALE_AFTER.match(text, end)) is not None:
            value *= _SCALE_ABBREVIATIONS[short.group(1).lower()]
            end = short.end()
        unit, end = _unit_after(text, end, currency)
        found.append(Figure(value, unit, True, match.start(), end))
    return found


def _currency_before(text: str, start: int) -> str:
    match = _CURRENCY_BEFORE.search(text, max(0, start - 5), start)
    if match is None:
        return ""
    return CURRENCIES[(match.group(1) or match.group(2)).lower()]


def _unit_after(text: str, end: int, currency: str) -> tuple[str, int]:
    """The unit after a number ending at ``end`` (a currency before it counts when none follows), and its end."""
    match = _UNIT_AFTER.match(text, end)
    if match is None:
        return currency, end
    if match.group(1):
        return PERCENT, match.end()
    return CURRENCIES.get(match.group(2).lower(), currency), match.end()


def _word_figures(text: str) -> list[Figure]:
    """Numbers written in words: "two", "twenty-five", "three million", "a dozen", "half a million"."""
    words = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(text)]
    found = []
    index = 0
    while index < len(words):
        parsed = _number_at(words, index, text)
        if parsed is None:
            index += 1
            continue
        value, small, last = parsed
        start, end = words[index][0], words[last][1]
        currency = _currency_before(text, start)
        unit, end = _unit_after(text, end, currency)
        found.append(Figure(value, unit, not small or bool(unit), start, end))
        index = last + 1
    return found


def _number_at(words: list[tuple[int, int, str]], index: int, text: str) -> tuple[Fraction, bool, int] | None:
    """The number in words starting at ``words[index]``: its value, whether it is a small count (no scale,
    at most :data:`SMALL_WORDS`), and the index of its last word; None if none starts there.

    Words follow in the order numbers are said: "twenty" then "five", "three" then "hundred" or "million",
    "a" before a scale ("a million", "a dozen"), "and" inside ("one hundred and twenty"); "two three" is
    two numbers, and a plural ("hundreds of", "millions") says no figure.
    """
    total, current = Fraction(0), Fraction(0)
    previous = ""  # the kind of the last number word: "unit", "tens", "hundred", "scale"
    article = False
    scaled = half = False
    last = None
    position = index
    if words[index][2] == "half" and index + 2 < len(words) and words[index + 1][2] in ("a", "an"):
        if words[index + 2][2] in SCALES or words[index + 2][2] == "dozen":
            half, position = True, index + 1
    while position < len(words):
        word = words[position][2]
        if position > index and not _adjacent(text, words[position - 1][1], words[position][0]):
            break
        following = words[position + 1][2] if position + 1 < len(words) else ""
        if word in ("a", "an") and last is None:
            if not (following in SCALES or following == "dozen"):
                break
            article = True
        elif word == "and" and previous in ("hundred", "scale"):
            if not (following in UNITS or following in TENS):
                break
        elif word in UNITS or word in TENS:
            small = UNITS.index(word) if word in UNITS else TENS[word]
            if previous == "tens" and not (word in UNITS and 0 < small < 10):
                break
            if previous == "unit":
                break
            current += small
            previous = "tens" if word in TENS else "unit"
            last = position
        elif word in SCALES or word == "dozen":
            if not (previous in ("unit", "tens") or (previous == "hundred" and word != "hundred") or article):
                break
            if word == "hundred":
                current = (current or 1) * 100
                previous = "hundred"
            elif word == "dozen":
                current = (current or 1) * 12
                previous = "unit"
            else:
                total += (current or 1) * SCALES[word]
                current = Fraction(0)
                previous = "scale"
            article = False
            scaled = True
            last = position
        else:
            break
        position += 1
    if last is None:
        return None
    value = total + current
    if half:
        value /= 2
    return value, not scaled and value <= SMALL_WORDS, last


def _adjacent(text: str, end: int, start: int) -> bool:
    """Words of one number: a space or a hyphen between them ("twenty-five" is one word already)."""
    return text[end:start] in (" ", "\u00a0", "-")


def _ranges(text: str, found: list[Figure]) -> list[Figure]:
    """A range's first number takes the scale and unit of its second ("2-3%", "$2 to 3 billion")."""
    result = list(found)
    for position in range(len(result) - 2, -1, -1):
        first, second = result[position], result[position + 1]
        if _RANGE.fullmatch(text, first.end, second.start) is None:
            continue
        if first.unit and second.unit and first.unit != second.unit:
            continue
        first_raw, second_raw = _raw_value(text, first), _raw_value(text, second)
        if first_raw is None or second_raw is None or first.value != first_raw or not second_raw:
            continue  # in words, or the first has its own scale ("3 million to 4 billion")
        scale = second.value / second_raw
        result[position] = Figure(first.value * scale, second.unit or first.unit, first.checked, first.start, first.end)
    return result


def _raw_value(text: str, figure: Figure) -> Fraction | None:
    """A digit figure's number without its scale (None for one in words)."""
    match = _DIGITS.match(text, figure.start)
    return _parse_digits(match.group()) if match is not None else None


OTHER_SCALES = {
    "tausend": 10**3, "mille": 10**3, "mil": 10**3, "mila": 10**3, "duizend": 10**3, "тысяча": 10**3,
    "тысячи": 10**3, "тысяч": 10**3, "тыс": 10**3, "k": 10**3,
    "mio": 10**6, "millionen": 10**6, "millions": 10**6, "million": 10**6, "millón": 10**6, "millon": 10**6,
    "millones": 10**6, "milione": 10**6, "milioni": 10**6, "milhão": 10**6, "milhões": 10**6, "miljoen": 10**6,
    "miljoenen": 10**6, "миллион": 10**6, "миллиона": 10**6, "миллионов": 10**6, "млн": 10**6,
    "mrd": 10**9, "milliarde": 10**9, "milliarden": 10**9, "milliard": 10**9, "milliards": 10**9,
    "mil millones": 10**9, "mil milhões": 10**9, "miliardo": 10**9, "miliardi": 10**9, "bilhão": 10**9,
    "bilhões": 10**9, "miljard": 10**9, "miljarden": 10**9, "миллиард": 10**9, "миллиарда": 10**9,
    "миллиардов": 10**9, "млрд": 10**9,
    "billion": 10**12, "billionen": 10**12, "billón": 10**12, "billones": 10**12,
}
"""Scale words of other languages (and "k"), as :func:`stated_figures` reads them after a number: German,
French, Spanish, Italian, Portuguese, Dutch and Russian, whose texts SmolLM2 summarises in English. "billion"
is also 10^12 there, as "Billion" and "billion" are in German and French."""
_OTHER_SCALE_AFTER = re.compile(
    r"[ \u00a0]?(" + "|".join(re.escape(word) for word in sorted(OTHER_SCALES, key=len, reverse=True)) + r")(?!\w)",
    re.IGNORECASE,
)
CJK_SCALES = {"百": 100, "千": 10**3, "万": 10**4, "萬": 10**4, "億": 10**8, "亿": 10**8, "兆": 10**12}
"""Chinese and Japanese scale characters, written right after the digits ("1400万人": 14 million)."""
_CJK_SCALE_AFTER = re.compile("[" + "".join(CJK_SCALES) + "]")
_SPACED = re.compile(r"(?<![\d.,])\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?![\d.,]\d)")
"""Digits grouped in threes by spaces, as French and others write thousands ("1 234 567")."""
_OTHER_PERCENT = re.compile(
    r"[ \u00a0]?(?:prozent|pour[ \u00a0]cent|por[ \u00a0]ciento|per[ \u00a0]cento|por[ \u00a0]cento|procent|процент\w*)(?!\w)",
    re.IGNORECASE,
)
"""Other languages' words for per cent ("3 Prozent" is "3%")."""


def _other_readings(text: str) -> list[Figure]:
    """The figures of ``text`` in the readings :func:`figures` does not make (:func:`stated_figures`)."""
    found = []
    numbers = [(m, _readings(m.group())) for m in _DIGITS.finditer(text)]
    numbers += [(m, [Fraction(re.sub(r"\D", "", m.group()))]) for m in _SPACED.finditer(text)]
    for match, values in numbers:
        end = match.end()
        scales = [(Fraction(1), end)]
        english = _SCALE_AFTER.match(text, end)
        if english is not None:
            scales.append((Fraction(SCALES[english.group(1).lower()]), english.end()))
        other = _OTHER_SCALE_AFTER.match(text, end)
        if other is not None:
            scales.append((Fraction(OTHER_SCALES[other.group(1).lower()]), other.end()))
        cjk = _CJK_SCALE_AFTER.match(text, end)
        if cjk is not None:
            scales.append((Fraction(CJK_SCALES[cjk.group()]), cjk.end()))
        currency = _currency_before(text, match.start())
        for value in values:
            for scale, scale_end in scales:
                unit, unit_end = _unit_after(text, scale_end, currency)
                percent = None if unit else _OTHER_PERCENT.match(text, scale_end)
                if percent is not None:
                    unit, unit_end = PERCENT, percent.end()
                found.append(Figure(value * scale, unit, True, match.start(), unit_end))
    return found
