"""From a reply written under a schema to a value: the checks every front end applies the same way.

A constrained decoder makes a complete reply valid by construction, but two
things still need saying out loud: a reply cut at ``max_tokens`` is a prefix,
never a document (it is refused even when the prefix happens to parse), and a
backend that cannot constrain (``Capabilities.constrained`` false: some
servers) only gets its reply *validated*, which the user is told once.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .schema import validate

CUT_AT_MAX_TOKENS = (
    "the reply stopped at max_tokens before the JSON document was complete; raise it with -o max_tokens=N"
)


def check_reply(text: str, finish_reason: str, schema: dict[str, Any] | None) -> tuple[Any, str | None]:
    """(value, None) when ``text`` is exactly one JSON document matching ``schema``, else (None, why).

    Stricter than a template's answer extraction: what a constrained decoder
    wrote must be the document itself, with nothing but whitespace around it.
    """
    if finish_reason == "length":
        return None, CUT_AT_MAX_TOKENS
    if finish_reason == "cancelled":
        return None, "the reply was cancelled before the JSON document was complete"
    try:
        value = json.loads(text, **JSON_READ_HOOKS)
    except json.JSONDecodeError as exc:
        return None, f"the reply is not one JSON document: {exc.msg} at position {exc.pos}"
    except NotJsonConstant as exc:
        return None, f"the reply is not one JSON document: {exc} is not JSON"
    except NumberOutOfRange as exc:
        return None, f"the reply's JSON cannot be read: {exc}"
    except RecursionError:
        return None, "the reply is not one JSON document: it nests too deeply to read"
    problems = validate(value, schema) if schema is not None else []
    if problems:
        return None, "the reply does not match the schema: " + "; ".join(problems[:5])
    return value, None


def printable_document(text: str) -> str:
    """A checked reply's JSON document, safe to print and still exactly that document.

    ``prompt --schema S | jq`` reads what is printed as JSON. A JSON string may hold
    DEL, C1 controls, bidi and invisible format characters raw; shown through the
    terminal guard (:func:`~assistant.terminal_text.visible_text`) they became ``␡``
    (another value) or ``\\x9b`` and ``\\U000e0041`` (no JSON at all). Here each becomes
    the ``\\uXXXX`` escape JSON spells it with (:func:`~assistant.terminal_text.json_escaped`,
    what ``--json`` output gets), so the value, and the model's layout, are kept; a run
    of zero-width joiners in a string shows as escapes, as in every other output. Outside
    strings a valid document holds no such character but a CR of its whitespace, which
    becomes a line end (a lone CR would move the cursor back).
    """
    from ..terminal_text import LINE_END, json_escaped

    return json_escaped(LINE_END.sub("\n", text).replace("\r", "\n"))


class NotJsonConstant(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity`` in a reply read as JSON (see :func:`refuse_constant`)."""


def refuse_constant(name: str) -> Any:
    """Python's reader takes ``NaN`` and ``Infinity``; JSON has neither, and ``--json`` would print them
    back as invalid JSON, so a reply holding one is refused (``parse_constant=`` of every reply reader)."""
    raise NotJsonConstant(name)


class NumberOutOfRange(ValueError):
    """A JSON number no Python number holds as written (see :func:`finite_float`, :func:`bounded_int`)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        shown = self.text if len(self.text) <= 24 else f"{self.text[:20]}... ({len(self.text):,} characters)"
        return f"the number {shown} is too large to read"


def finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent, as a float; :class:`NumberOutOfRange` past the float range.

    Python reads ``1e999`` as infinity: a reply held to ``type: number`` (no ``maximum``) that wrote it
    was taken as ``inf`` and ``--json`` printed it back as ``Infinity``, which is no JSON.
    """
    value = float(text)
    if not math.isfinite(value):
        raise NumberOutOfRange(text)
    return value


def bounded_int(text: str) -> int:
    """A JSON integer; :class:`NumberOutOfRange` past Python's limit on reading digits (4,300 by default),
    where ``int()`` raised a bare ValueError that no reader caught: a traceback, not an error line."""
    try:
        return int(text)
    except ValueError:
        raise NumberOutOfRange(text) from None


JSON_READ_HOOKS: dict[str, Any] = {
    "parse_constant": refuse_constant,
    "parse_float": finite_float,
    "parse_int": bounded_int,
}
"""``json.loads`` keywords for untrusted JSON (replies, schemas): no ``NaN``/``Infinity``
(:class:`NotJsonConstant`), no number Python would read as infinity or cannot read (:class:`NumberOutOfRange`)."""


def unconstrained_note(backend_name: str, reason: str = "") -> str:
    """The one line a front end prints when a schema is checked after generation instead of enforced."""
    why = reason or f"the {backend_name} backend cannot constrain decoding to a JSON schema here"
    return f"note: {why}; the reply is validated against the schema, not constrained"


SCHEMA_INSTRUCTION = "Reply with one JSON document that matches this JSON Schema:\n"
"""How :func:`schema_instruction` introduces the schema (the JSON follows on the next line)."""


def schema_instruction(system: str | None, schema: dict[str, Any]) -> str:
    """``system`` followed by the schema, so the model reads what the decoder will hold it to.

    A constrained decoder forces the keys and types, but only the prompt can
    tell the model what each field is for (the concise syntax's descriptions).
    The instruction belongs to the replies held to the schema: it is added to
    their prompt (:class:`~assistant.structured.session.SchemaSession`), never
    stored as the conversation's system prompt, so a later turn without a
    schema is not told to write JSON that nothing then holds it to.
    """
    told = SCHEMA_INSTRUCTION + json.dumps(schema, ensure_ascii=False)
    return f"{system.rstrip()}\n\n{told}" if system and system.strip() else told


def without_schema_instruction(system: str | None) -> str | None:
    """``system`` without a trailing :func:`schema_instruction` (None when nothing else is left).

    Conversations recorded by earlier versions stored the instruction as their
    system prompt; continuing one without ``--schema`` must not inherit it.
    Only an exact instruction is removed: the introduction line, then one JSON
    object to the end, after a blank line or at the start.
    """
    if not system:
        return system
    at = system.rfind(SCHEMA_INSTRUCTION)
    if at < 0:
        return system
    head = system[:at]
    if head and not head.endswith("\n\n"):
        return system
    try:
        schema = json.loads(system[at + len(SCHEMA_INSTRUCTION) :])
    except (json.JSONDecodeError, RecursionError):
        return system
    if not isinstance(schema, dict):
        return system
    return head[:-2] if head else None
