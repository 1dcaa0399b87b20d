"""Importing simonw/llm YAML templates (``prompt``, ``system``, ``defaults``, ``$var``).

llm substitutes variables with Python's :class:`string.Template`: ``$name`` or
``${name}``, and ``$$`` for a literal dollar. Each becomes ``{{ name }}``; literal
text that happens to contain Jinja delimiters is wrapped in ``{% raw %}`` so it
stays literal. As in llm, a template without ``prompt`` treats the input as the
whole user message, and a ``prompt`` that never mentions ``$input`` gets the
input appended. Keys with no equivalent here (``model``, ``extract``, tools,
fragments) are dropped with a warning rather than silently.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import TemplateError
from ..types import GenerationParams

_PLACEHOLDER = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)|\{(?P<braced>[_a-z][_a-z0-9]*)\}|(?P<invalid>))",
    re.IGNORECASE | re.ASCII,
)
_JINJA_DELIMITERS = ("{{", "}}", "{%", "%}", "{#", "#}")
_DROPPED = {
    "model": "choose the model with -m instead",
    "extract": "fenced-code extraction is not supported",
    "extract_last": "fenced-code extraction is not supported",
    "fragments": "fragments are not supported",
    "system_fragments": "fragments are not supported",
    "tools": "tools are not supported in templates",
    "functions": "tools are not supported in templates",
    "schema": "use schema_object",
}


def _literal(text: str) -> str:
    if not any(d in text for d in _JINJA_DELIMITERS):
        return text
    # '+' turns off trim_blocks/lstrip_blocks at these tags, so whitespace stays exact.
    return "{%+ raw %}" + text + "{%+ endraw +%}"


def convert_placeholders(text: str, where: str) -> tuple[str, list[str]]:
    """llm's ``$var`` text as Jinja, and the variable names it uses (in order)."""
    out: list[str] = []
    names: list[str] = []
    literal: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        literal.append(text[position : match.start()])
        position = match.end()
        if match.group("escaped"):
            literal.append("$")
            continue
        name = match.group("named") or match.group("braced")
        if name is None:
            line = text.count("\n", 0, match.start()) + 1
            raise TemplateError(f"{where}: invalid placeholder at line {line}: a '$' must start $name, ${{name}} or $$")
        out.append(_literal("".join(literal)))
        literal = []
        out.append("{{ " + name + " }}")
        if name not in names:
            names.append(name)
    literal.append(text[position:])
    out.append(_literal("".join(literal)))
    return "".join(out), names


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings as ``|`` blocks, so imported prompts stay readable."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not value.startswith(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_representer)


def convert_llm_template(data: Any, name: str, where: str = "llm template") -> tuple[str, list[str]]:
    """(our template file text, warnings) for a parsed llm YAML template."""
    if isinstance(data, str):
        data = {"prompt": data}  # llm also accepts a bare string: the prompt
    if not isinstance(data, dict):
        raise TemplateError(f"{where}: an llm template is a YAML mapping with 'prompt' and/or 'system'")
    warnings: list[str] = []
    prompt, system = data.get("prompt"), data.get("system")
    if prompt is None and system is None:
        raise TemplateError(f"{where}: the llm template has neither 'prompt' nor 'system'")
    for key in ("prompt", "system"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise TemplateError(f"{where}: '{key}' must be a string")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise TemplateError(f"{where}: 'defaults' must be a mapping")

    used: list[str] = []
    system_text = None
    if system is not None:
        system_text, system_names = convert_placeholders(system, f"{where} (system)")
        used += system_names
    if prompt is None:
        body, input_default = "{{ input }}", None
        used.append("input")
    else:
        body, prompt_names = convert_placeholders(prompt, f"{where} (prompt)")
        used += prompt_names
        input_default = None
        if "input" not in prompt_names:
            body = body.rstrip("\n") + "\n{{ input }}"
            used.append("input")
            input_default = ""  # llm appends input when given; without it the prompt stands alone

    variables: list[dict[str, Any]] = []
    for var in dict.fromkeys(used):
        entry: dict[str, Any] = {"name": var}
        if var in defaults:
            entry["default"] = str(defaults[var])
        elif var == "input" and input_default is not None:
            entry["default"] = input_default
        variables.append(entry)
    for var in defaults:
        if var not in used:
            warnings.append(f"default for {var!r} dropped: the template never uses ${var}")

    front: dict[str, Any] = {
        "name": name,
        "description": f"Imported from an llm template{(': ' + str(data['name'])) if data.get('name') else ''}",
        "strategy": "chat" if prompt is None else "zero-shot",
        "variables": variables,
    }
    if system_text is not None:
        front["system"] = system_text
    params = _params_from_options(data.get("options"), warnings)
    if params:
        front["params"] = params
    schema = data.get("schema_object")
    if schema is not None:
        front["output"] = _output_from_schema(schema, where, warnings)
    known = {"prompt", "system", "defaults", "options", "schema_object", "name"}
    for key in data:
        if key in known:
            continue
        reason = _DROPPED.get(key, "not understood")
        warnings.append(f"{key!r} dropped: {reason}")
    header = yaml.dump(front, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{header}---\n{body.rstrip()}\n", warnings


def _params_from_options(options: Any, warnings: list[str]) -> dict[str, Any]:
    if not options:
        return {}
    if not isinstance(options, dict):
        warnings.append("'options' dropped: not a mapping")
        return {}
    fields = set(GenerationParams.field_names())
    params: dict[str, Any] = {}
    for key, value in options.items():
        if key in fields:
            params[key] = value
        else:
            warnings.append(f"option {key!r} dropped: not a generation parameter here")
    return params


def _output_from_schema(schema: Any, where: str, warnings: list[str]) -> dict[str, Any]:
    from ..structured.schema import check_schema

    try:
        check_schema(where, schema)
    except TemplateError as exc:
        warnings.append(f"schema_object kept as plain JSON output: {exc}")
        return {"type": "json"}
    return {"type": "json", "schema": schema}


def import_llm_template(source: Path, name: str | None = None) -> tuple[str, str, list[str]]:
    """Read an llm YAML file: (template name, template text, warnings). Validates the result.

    The name (``--name``, else the file's stem) is checked first, by the same
    rule as ``templates new``, so a bad one is named as such, not reported as a
    mismatch inside the converted file. The file is read with the template
    files' bounds (a regular file, at most the size cap).
    """
    from .search import read_template_text, template_name
    from .yaml_data import load_yaml, yaml_problem

    # The file first: `templates import .` (or a missing file with a spaced name) said
    # "invalid template name ''" about a file it never read.
    source_text = read_template_text(source, "llm template")
    if name is not None:
        name = template_name(name)
    else:
        try:
            name = template_name(source.stem)
        except TemplateError as exc:
            raise TemplateError(f"{exc}; choose one with --name") from None
    try:
        data = load_yaml(source_text, str(source))
    except yaml.YAMLError as exc:
        line, problem = yaml_problem(exc)
        raise TemplateError(f"{source}{line}: invalid YAML: {problem}") from None
    text, warnings = convert_llm_template(data, name, str(source))
    _validate(text, name, source)
    return name, text, warnings


def _validate(text: str, name: str, source: Path) -> None:
    """Parse the converted text the way the loader will, so we never write a broken template.

    The error names ``source`` first: the problem came from it (``options: {temperature: hot}``),
    and the ``NAME.jinja`` it would have become does not exist to look at.
    """
    from .loader import parse_template_text
    from .sandbox import make_environment

    try:
        parse_template_text(text, Path(f"{name}.jinja"), "file", make_environment(None))
    except TemplateError as exc:
        raise TemplateError(f"{source}: converted, it would not load: {exc}") from None
