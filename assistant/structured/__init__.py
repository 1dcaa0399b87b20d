"""Structured output: JSON Schema checking, validation and constrained decoding.

``schema`` defines the supported JSON Schema subset once (checked when a schema
is given, validated after generation); backends constrain their decoders to it.
``concise`` turns what a user types (``--schema``: llm's concise syntax, inline
JSON, a file, ``t:NAME``) into a checked schema; ``output`` checks a reply
written under one the same way for every front end (docs/structured.md);
``session`` holds a chat reply to a schema without making the schema part of the
conversation (``prompt --schema``, ``prompt -c --schema``).
"""
