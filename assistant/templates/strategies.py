"""From the model's reply to an answer: chain-of-thought answer lines, JSON, and labels.

``output: choice`` does not ask the model to *write* a label. It scores each label
as the continuation of the prompt (``backend.score``: summed token
log-likelihood) and picks the most likely one, so the answer is always one of the
labels. With ``scoring: text`` (the default) the prompt is the messages' plain
text, examples inline — a completion-style few-shot document ending in
``Sentiment:``, continued by `` positive`` or `` negative``. With ``scoring: chat``
it is the model's chat template with the label as the assistant's reply.

Measured on SmolLM2-135M (12 short reviews, 4 examples): text scoring 12/12,
chat scoring 6/12 (it said "positive" every time: the first token of an
assistant reply leans towards one label). Base models without a chat template
need text scoring anyway.
Backends that cannot score (``NotSupportedError``) fall back to generating and
matching the first label the reply mentions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Sequence

from ..backends.base import Prompt
from ..errors import TemplateError
from ..structured.schema import validate
from ..types import Message
from .spec import PromptTemplate

_DECORATION = "*_#>`- \t"


@dataclass
class Extraction:
    """The answer taken from a reply; ``error`` says why there is none."""

    answer: Any = None
    reasoning: str | None = None
    error: str | None = None


def split_answer_line(text: str, prefix: str) -> tuple[str, str | None]:
    """(reasoning, answer) from a reply whose last ``prefix`` line holds the answer.

    Tolerates Markdown decoration (``**Answer:** 42``), any letter case, and the
    answer on the line after a bare ``Answer:``. Returns ``(text, None)`` when no
    answer line exists: the caller reports that rather than guessing.
    """
    found = _answer_line(text, prefix)
    if found is None:
        return text.strip(), None
    lines, index, rest = found
    if not rest:
        rest = next(line.strip() for line in lines[index + 1 :] if line.strip()).strip("*_`").strip()
    return "\n".join(lines[:index]).strip(), rest


def _answer_line(text: str, prefix: str) -> tuple[list[str], int, str] | None:
    """The reply's lines, the index of its last ``prefix`` line with an answer, and the text after the prefix.

    A bare ``prefix`` line counts only when a non-blank line follows it.
    """
    lines = text.splitlines()
    wanted = prefix.strip().lower()
    for index in range(len(lines) - 1, -1, -1):
        stripped = lines[index].strip().lstrip(_DECORATION)
        if not stripped.lower().startswith(wanted):
            continue
        rest = stripped[len(wanted) :].strip().strip("*_`").strip()
        if rest or any(line.strip() for line in lines[index + 1 :]):
            return lines, index, rest
    return None


def answer_runs_to_end(text: str, prefix: str) -> bool:
    """Whether the answer read after ``prefix`` is the reply's last line, with no line end after it.

    Such an answer in a reply cut at ``max_tokens`` may itself be cut ("Answer: 1" of "Answer: 111");
    one followed by a line end or by further lines was written whole.
    """
    found = _answer_line(text, prefix)
    if found is None or text.endswith(("\n", "\r")):
        return False
    lines, index, rest = found
    if not rest:  # a bare prefix line: the answer is the next line that is not blank
        index = next(i for i in range(index + 1, len(lines)) if lines[i].strip())
    return index == len(lines) - 1


def _answer_tail(text: str, prefix: str) -> str:
    """Everything after the answer line's prefix, to the end of the reply.

    A JSON answer is often pretty-printed or fenced over several lines
    (``Answer:`` then a ```` ```json ```` block), so it is read from here, not
    from the answer line alone.
    """
    found = _answer_line(text, prefix)
    if found is None:
        return ""
    lines, index, rest = found
    return "\n".join([rest, *lines[index + 1 :]])


_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)


def parse_json_answer(text: str, schema: dict[str, Any] | None) -> Extraction:
    """The first JSON value in the reply (a fenced block wins), checked against ``schema``."""
    fenced = _FENCE.search(text)
    candidate = fenced.group(1) if fenced else text
    from ..structured.output import JSON_READ_HOOKS, NotJsonConstant, NumberOutOfRange

    value: Any = None
    try:
        value = json.loads(candidate, **JSON_READ_HOOKS)
    except NotJsonConstant as exc:  # NaN: --json would print it back as invalid JSON
        return Extraction(error=f"the reply is not valid JSON: {exc} is not JSON")
    except NumberOutOfRange as exc:  # 1e999 read as inf, or an integer past Python's digit limit
        return Extraction(error=f"the reply's JSON cannot be read: {exc}")
    except RecursionError:
        return Extraction(error="the reply is not valid JSON: it nests too deeply to read")
    except json.JSONDecodeError:
        found = _first_json_value(candidate)
        if isinstance(found, str):
            return Extraction(error=found)
        value = found[0]
    if schema is not None:
        problems = validate(value, schema)
        if problems:
            return Extraction(answer=None, error="JSON does not match the schema: " + "; ".join(problems[:5]))
    return Extraction(answer=value)


MAX_JSON_STARTS = 200
"""Brackets tried as the start of the reply's first JSON value before giving up (each try may read to the end)."""


def _first_json_value(text: str) -> tuple[Any] | str:
    """``(value,)`` for the first ``{`` or ``[`` that starts a JSON value, else why there is none.

    Every bracket is tried in turn, not only the first: prose before the JSON
    often holds one (``Use {name} for the name: {"name": "Ada"}``), and giving up
    there reported a reply holding valid JSON as "not valid JSON".
    """
    from ..structured.output import JSON_READ_HOOKS, NotJsonConstant, NumberOutOfRange

    decoder = json.JSONDecoder(**JSON_READ_HOOKS)
    first_error: json.JSONDecodeError | None = None
    starts = (match.start() for match in re.finditer(r"[\[{]", text))
    for tries, start in enumerate(starts):
        if tries == MAX_JSON_STARTS:
            break
        try:
            return (decoder.raw_decode(text, start)[0],)
        except json.JSONDecodeError as exc:
            first_error = first_error or exc
        except NotJsonConstant as exc:
            return f"the reply is not valid JSON: {exc} is not JSON"
        except NumberOutOfRange as exc:
            return f"the reply's JSON cannot be read: {exc}"
        except RecursionError:
            return "the reply is not valid JSON: it nests too deeply to read"
    if first_error is None:
        return "the reply contains no JSON"
    return f"the reply is not valid JSON: {first_error.msg} at position {first_error.pos}"


def match_label(text: str, labels: Sequence[str]) -> str | None:
    """The label a free-form reply mentions first (whole words, any case)."""
    best: tuple[int, str] | None = None
    for label in labels:
        match = re.search(rf"(?<!\w){re.escape(label)}(?!\w)", text, re.IGNORECASE)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), label)
    return best[1] if best else None


def extract_answer(template: PromptTemplate, text: str) -> Extraction:
    """Apply the template's output spec to a generated reply (``choice`` is handled by scoring)."""
    reasoning: str | None = None
    body = text
    prefix = template.answer_prefix
    if prefix:
        reasoning, answer_text = split_answer_line(text, prefix)
        if answer_text is None:
            return Extraction(reasoning=reasoning, error=f"the reply has no final line starting with {prefix!r}")
        body = answer_text
    kind = template.output.type
    if kind == "json":
        extraction = parse_json_answer(_answer_tail(text, prefix) if prefix else body, template.output.schema)
        extraction.reasoning = reasoning
        return extraction
    if kind == "choice":
        label = match_label(body, template.output.labels)
        if label is None:
            return Extraction(reasoning=reasoning, error=f"the reply names none of the labels {list(template.output.labels)}")
        return Extraction(answer=label, reasoning=reasoning)
    return Extraction(answer=body.strip(), reasoning=reasoning)


def text_scoring_needs_inline(template: PromptTemplate) -> TemplateError:
    """The refusal of a ``scoring: text`` template whose examples are laid out as chat turns:
    a plain text has no turns to put them in (raised on scoring, or before the load where the
    backend is known to score: :func:`~assistant.templates.run.refuse_before_load`)."""
    return TemplateError(
        f"template {template.name!r} scores labels as plain text, which needs the examples inline "
        "(examples_as: inline, or --examples-as inline)"
    )


def scoring_prompt(template: PromptTemplate, messages: Sequence[Message]) -> tuple[Prompt, list[str]]:
    """The prompt ``backend.score`` gets for a choice template, and the candidates.

    Chat messages (the backend renders them, their contents stay data), or for
    ``scoring: text`` one plain text, all of it data.
    """
    labels = list(template.output.labels)
    if not template.scores_text:
        return list(messages), labels
    if any(m.role == "assistant" for m in messages):
        raise text_scoring_needs_inline(template)
    text = "\n\n".join(m.content for m in messages)
    separator = "" if text[-1:].isspace() else " "
    return text, [separator + label for label in labels]
