"""Every prompt the first-party tools send, in one place.

``render(name, variables)`` returns the chat messages for a named prompt — the
same shape as the templates API — so the wording lives here and not inside the
tools. Scoring prompts (sentiment, NER) are *completion* prompts: a few-shot
text that the model continues with a label, fed raw (no chat template) because
SmolLM2 classifies far better that way (measured: 100 % vs 50 % sentiment
accuracy on the dev set with a chat-turn few-shot prompt). They render to a single user message whose content
is that raw text; :func:`raw_text` takes it out.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ..errors import TemplateError
from ..types import Message

SYSTEM = "You are a helpful assistant."

LENGTH_INSTRUCTIONS = {
    "sentence": "in one sentence",
    "short": "in a short paragraph of two to four sentences",
    "bullets": "as three to five bullet points, one per line, each starting with \"- \"",
}

SENTIMENT_EXAMPLES: list[tuple[str, str]] = [
    ("The staff were friendly and the food was excellent.", "positive"),
    ("The screen cracked on the first day and support never replied.", "negative"),
    ("The box is twenty centimetres wide.", "neutral"),
    ("Easy to install, works exactly as described.", "positive"),
    ("Slow, noisy and overpriced.", "negative"),
    ("The shop is on the corner of the square.", "neutral"),
]

NER_EXAMPLES: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Yesterday Barack Obama met Siemens managers in Berlin.",
        [("Barack Obama", "PERSON"), ("Siemens", "ORGANIZATION"), ("Berlin", "LOCATION")],
    ),
    (
        "Doctors at the Mayo Clinic in Minnesota treated Maria Lopez on Friday.",
        [("Doctors", ""), ("Mayo Clinic", "ORGANIZATION"), ("Minnesota", "LOCATION"), ("Maria Lopez", "PERSON"),
         ("Friday", "DATE")],
    ),
    (
        "Students from Kyoto University climbed Mount Fuji in 2019.",
        [("Students", ""), ("Kyoto University", "ORGANIZATION"), ("Mount Fuji", "LOCATION"), ("2019", "DATE")],
    ),
    (
        "Oxfam and Nestle sent food to Sudan.",
        [("Oxfam", "ORGANIZATION"), ("Nestle", "ORGANIZATION"), ("Sudan", "LOCATION")],
    ),
]
"""NER few-shot sentences; "" marks a capitalised word that is not an entity."""

DATE_KINDS = {"DATE", "TIME"}


def _or_list(words: Sequence[str]) -> str:
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _summarize(text: str, length: str) -> list[Message]:
    how = LENGTH_INSTRUCTIONS[length]
    return [Message("system", SYSTEM), Message("user", f"Summarize the following text {how}.\n\n{text}")]


def _summarize_combine(summaries: Sequence[str], length: str) -> list[Message]:
    how = LENGTH_INSTRUCTIONS[length]
    joined = "\n\n".join(summaries)
    return [
        Message("system", SYSTEM),
        Message(
            "user",
            "These are summaries of consecutive parts of one document. "
            f"Combine them into one summary of the whole document, {how}.\n\n{joined}",
        ),
    ]


def _translate(text: str, target: str, source: str | None) -> list[Message]:
    origin = f" from {source}" if source else ""
    return [
        Message("system", SYSTEM),
        Message("user", f"Translate the following text{origin} to {target}. Reply with the translation only.\n\n{text}"),
    ]


def _sentiment(text: str, labels: Sequence[str]) -> list[Message]:
    # "review" matters: with "text" or "sentence" SmolLM2 leans positive and gets 6-8 of the 92
    # positive/negative dev+eval texts wrong; framed as reviews it gets none wrong (docs/tools.md).
    spelling = {label.lower(): label for label in labels}
    lines = [f"Classify the sentiment of each review as {_or_list(labels)}.", ""]
    for example, label in SENTIMENT_EXAMPLES:
        if label in spelling:
            lines += [f"Review: {example}", f"Sentiment: {spelling[label]}", ""]
    lines += [f"Review: {_one_line(text)}", "Sentiment:"]
    return [Message("user", "\n".join(lines))]


def _sentiment_question(text: str, labels: Sequence[str]) -> list[Message]:
    return [
        Message("system", SYSTEM),
        Message(
            "user",
            f"Is the sentiment of this text {_or_list(labels)}? Answer with one word.\n\nText: {_one_line(text)}",
        ),
    ]


def _ner(sentence: str, type_words: dict[str, str], none_word: str) -> list[Message]:
    """The shared prefix for typing the spans of one sentence; each span query is appended to it."""
    words = [*type_words.values(), none_word]
    lines = [f"Label each name in the sentence as {_or_list(words)}.", ""]
    for example, spans in NER_EXAMPLES:
        # Date lines only when dates are asked for: otherwise date spans are never candidates,
        # and "Friday: none" lines cost SmolLM2 0.12 F1 on the other types.
        shown = [
            (span, type_words.get(kind, none_word))
            for span, kind in spans
            if kind not in DATE_KINDS or kind in type_words
        ]
        lines.append(f"Sentence: {example}")
        lines += [f"{span}: {word}" for span, word in shown]
        lines.append("")
    lines.append(f"Sentence: {_one_line(sentence)}")
    return [Message("user", "\n".join(lines) + "\n")]


def _ner_question(sentence: str, span: str, words: Sequence[str]) -> list[Message]:
    return [
        Message("system", SYSTEM),
        Message(
            "user",
            f"Sentence: {_one_line(sentence)}\n\nIn this sentence, is \"{span}\" a {_or_list(words)}? "
            "Answer with one word.",
        ),
    ]


_PROMPTS: dict[str, Callable[..., list[Message]]] = {
    "summarize": _summarize,
    "summarize-combine": _summarize_combine,
    "translate": _translate,
    "sentiment": _sentiment,
    "sentiment-question": _sentiment_question,
    "ner": _ner,
    "ner-question": _ner_question,
}


def render(name: str, variables: dict[str, Any]) -> list[Message]:
    """The messages of prompt ``name`` filled with ``variables``."""
    builder = _PROMPTS.get(name)
    if builder is None:
        raise TemplateError(f"unknown prompt {name!r} (known: {', '.join(_PROMPTS)})")
    try:
        return builder(**variables)
    except TypeError as exc:
        raise TemplateError(f"prompt {name!r}: {exc}") from exc


def raw_text(messages: Sequence[Message]) -> str:
    """The text of a completion prompt (one message, fed to the model as is)."""
    if len(messages) != 1:
        raise TemplateError("a completion prompt must render to exactly one message")
    return messages[0].content
