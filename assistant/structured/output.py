"""From a reply written under a schema to a value: the checks every front end applies the same way.

A constrained decoder makes a complete reply valid by construction, but two
things still need saying out loud: a reply cut at ``max_tokens`` is a prefix,
never a document (it is refused even when the prefix happens to parse), and a
backend that cannot constrain (``Capabilities.constrained`` false: some
servers) only gets its reply *validated*, which the user is told once.
"""

from __future__ import annotations

import json
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
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"the reply is not one JSON document: {exc.msg} at position {exc.pos}"
    problems = validate(value, schema) if schema is not None else []
    if problems:
        return None, "the reply does not match the schema: " + "; ".join(problems[:5])
    return value, None


def unconstrained_note(backend_name: str, reason: str = "") -> str:
    """The one line a front end prints when a schema is checked after generation instead of enforced."""
    why = reason or f"the {backend_name} backend cannot constrain decoding to a JSON schema here"
    return f"note: {why}; the reply is validated against the schema, not constrained"


def schema_instruction(system: str | None, schema: dict[str, Any]) -> str:
    """``system`` followed by the schema, so the model reads what the decoder will hold it to.

    A constrained decoder forces the keys and types, but only the prompt can
    tell the model what each field is for (the concise syntax's descriptions).
    """
    told = "Reply with one JSON document that matches this JSON Schema:\n" + json.dumps(schema, ensure_ascii=False)
    return f"{system.rstrip()}\n\n{told}" if system and system.strip() else told
