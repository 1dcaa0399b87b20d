"""The YAML a template holds, front matter and examples files alike, loaded as plain data.

Apart from :mod:`.loader` (finding, reading and compiling template files)
because YAML brings hazards of its own that every YAML input must be guarded
against the same way: aliases that expand a few lines into billions of values,
and types JSON has none for (dates, ``!!binary``) that a template can neither
put in a prompt nor print with ``--json``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import TemplateError
from .sandbox import MAX_RENDERED_CHARS, value_size

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_BOOL_TAG = "tag:yaml.org,2002:bool"


class _YamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader, with ``2024-01-01`` left the text it is rather than made a date.

    A template's values are text to put in a prompt or JSON to print
    (``templates show --json``); a date is neither, and JSON has no type for it.
    """


def _construct_mapping(loader: Any, node: yaml.MappingNode, deep: bool = False) -> Any:
    """A mapping, refusing a key given twice: YAML's loaders keep the last one without a word,
    so a second ``system:`` further down a long front matter silently replaced the first."""
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *base` merges; its keys may be overridden on purpose
        key = loader.construct_object(key_node, deep=True)
        # Told apart by where each key starts, not by its line: `params: {temperature: 0, temperature: 1}`
        # (and a .json examples file's `{"input": "a", "input": "c"}`) holds both on one line.
        try:
            first = seen.setdefault(key, key_node.start_mark.index)
        except TypeError:
            continue  # an unhashable key: the constructor below reports it
        if first != key_node.start_mark.index:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is given twice", key_node.start_mark
            )
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_YamlLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag not in (_TIMESTAMP_TAG, _BOOL_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# YAML 1.2's booleans, true and false only: YAML 1.1 (PyYAML's) also reads yes/no/on/off as
# booleans, so `labels: [yes, no]` became [True, False] and an example's `output: no` "False".
_YamlLoader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_YAML_LOADER: Any = _YamlLoader
_PLAIN_TYPES = (str, int, float, bool, type(None), list, dict)
"""What a template's YAML may hold: the types JSON has (explicit tags such as !!binary add others)."""
MAX_YAML_CHARS = 2 * MAX_RENDERED_CHARS
"""How large a front matter's or examples file's data may be with its aliases expanded
(the text itself is at most :data:`MAX_RENDERED_CHARS`; expanded, plain data stays about as large)."""


def load_yaml(text: str, where: str) -> Any:
    """The data of a YAML document, refused when its aliases expand it past :data:`MAX_YAML_CHARS`
    or when it holds a value JSON has no type for.

    ``&a [x, x, …]`` then ``&b [*a, *a, …]`` nine levels deep is a few lines
    meaning 9^9 strings. Loading shares them, so it is cheap, but anything that
    turns the value into text builds it all: a description made ``templates
    list`` hang, and so would a test's name or the ``repr`` in an error message.
    Measured with :func:`~.sandbox.value_size`, which stops at the limit.
    Raises :class:`yaml.YAMLError` for invalid YAML (the caller says where).
    """
    data = yaml.load(text, Loader=_YAML_LOADER)
    if value_size(data, MAX_YAML_CHARS) > MAX_YAML_CHARS:
        raise TemplateError(
            f"{where}: the YAML is larger than {MAX_YAML_CHARS:,} characters "
            "once its aliases (*name) are expanded"
        )
    stack = [data]  # bounded: the size check above passed
    while stack:
        item = stack.pop()
        if not isinstance(item, _PLAIN_TYPES):
            raise TemplateError(
                f"{where}: a YAML {type(item).__name__} value (an explicit tag such as !!binary, !!set or "
                "!!timestamp) is not supported; write it as text"
            )
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
    return data


def yaml_line(front_matter: str, key: str) -> int | None:
    """1-based line (within the front matter) where ``key``'s value text starts."""
    try:
        node = yaml.compose(front_matter, Loader=_YAML_LOADER)
    except yaml.YAMLError:
        return None
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if key_node.value == key:
            block = isinstance(value_node, yaml.ScalarNode) and value_node.style in ("|", ">")
            return value_node.start_mark.line + 1 + (1 if block else 0)
    return None


def yaml_problem(exc: yaml.YAMLError, first_line: int = 1) -> tuple[str, str]:
    """(``":LINE"`` or ``""``, what is wrong) of a YAML error, the line counted from ``first_line``.

    ``str(exc)`` ends in ``in "<unicode string>", line 3, column 3``: the name of
    nothing the user has, after a message that already named the file.
    """
    mark = getattr(exc, "problem_mark", None)
    line = f":{mark.line + first_line}" if mark is not None else ""
    return line, getattr(exc, "problem", None) or str(exc)


def parse_front_matter(front: str, path: Path) -> dict[str, Any]:
    if not front.strip():
        return {}
    try:
        data = load_yaml(front, str(path))
    except yaml.YAMLError as exc:
        line, problem = yaml_problem(exc, 2)  # the front matter starts on the file's line 2
        raise TemplateError(f"{path}{line}: invalid YAML front matter: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: the front matter must be a YAML mapping")
    return data
