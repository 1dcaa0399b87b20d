"""What a template file may declare, and the checks that turn a front matter into a template.

A template is a Jinja body (the user message) under a YAML front matter. Every
key is validated when the file is loaded, not when it is first rendered, so a
typo (``exmaples:``) or a contradictory setting is reported once, naming the file
and the key, instead of surfacing later as a puzzling prompt.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError, TemplateError
from ..types import GenerationParams

Strategy = Literal["chat", "zero-shot", "few-shot", "chain-of-thought"]
STRATEGIES: tuple[str, ...] = ("chat", "zero-shot", "few-shot", "chain-of-thought")
OutputType = Literal["text", "json", "choice"]
OUTPUT_TYPES: tuple[str, ...] = ("text", "json", "choice")
EXAMPLE_MODES: tuple[str, ...] = ("turns", "inline")

FRONT_MATTER_KEYS = (
    "name",
    "description",
    "strategy",
    "variables",
    "examples",
    "examples_as",
    "example_template",
    "system",
    "params",
    "output",
    "tests",
)
VARIABLE_KEYS = ("name", "description", "default", "required", "choices", "check")
OUTPUT_KEYS = ("type", "schema", "labels", "answer_prefix", "scoring", "constrain")
SCORING_MODES: tuple[str, ...] = ("text", "chat")
TEST_KEYS = ("name", "vars", "input", "expect")
EXPECT_KEYS = ("equals", "contains", "regex", "one_of", "case_sensitive")

# Names the renderer puts into every template's context; a variable may not shadow them.
RESERVED_NAMES = frozenset({"examples", "prompt", "output", "loop", "self", "super", "varargs", "kwargs"})
DEFAULT_ANSWER_PREFIX = "Answer:"
DEFAULT_EXAMPLE_TEMPLATE = "{{ prompt }} {{ output }}"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CHECK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.[A-Za-z_][A-Za-z0-9_-]*$")
"""A variable's ``check``: ``TOOL.PARAMETER`` (the tool's name may hold dots; the parameter's may not)."""


def unknown_key_error(where: str, key: str, known: tuple[str, ...]) -> TemplateError:
    """One message for every "unknown key" case, with a did-you-mean when one is close."""
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
    return TemplateError(f"{where}: unknown key {key!r}{hint}")


def check_keys(where: str, mapping: dict[str, Any], known: tuple[str, ...]) -> None:
    for key in mapping:
        if key not in known:
            raise unknown_key_error(where, key, known)


@dataclass(frozen=True)
class Variable:
    """A declared template variable. Without a default it is required."""

    name: str
    description: str = ""
    default: Any = None
    required: bool = True
    choices: tuple[str, ...] = ()
    """The values it may take (matched ignoring case, given back as written here); () for any."""
    check: str = ""
    """``TOOL.PARAMETER``: a given value is refused as that tool refuses the parameter's value
    (``translate.to`` refuses ``Klingonese`` as ``tool translate --to Klingonese`` does); "" for none.
    See :mod:`.value_checks`."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "required": self.required}
        if self.description:
            data["description"] = self.description
        if not self.required:
            data["default"] = self.default
        if self.choices:
            data["choices"] = list(self.choices)
        if self.check:
            data["check"] = self.check
        return data


@dataclass(frozen=True)
class OutputSpec:
    """How the model's reply becomes an answer: free text, JSON (optionally schema-checked),
    or one of a fixed set of labels (picked by log-likelihood, see :mod:`.strategies`).

    ``scoring`` (choice only): ``text`` scores each label as the continuation of the
    prompt's plain text with the examples inline, as completion-style few-shot
    does; ``chat`` scores it as the assistant's reply under the model's chat template.

    ``constrain`` (json with a schema): decode under the schema where the backend
    can (``Capabilities.constrained``), so the answer is valid by construction;
    ``false`` lets the model write freely and only validates (docs/structured.md).
    """

    type: OutputType = "text"
    schema: dict[str, Any] | None = None
    labels: tuple[str, ...] = ()
    answer_prefix: str | None = None
    scoring: str = "text"
    constrain: bool = True

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type}
        if self.schema is not None:
            data["schema"] = self.schema
            data["constrain"] = self.constrain
        if self.labels:
            data["labels"] = list(self.labels)
        if self.answer_prefix:
            data["answer_prefix"] = self.answer_prefix
        if self.type == "choice":
            data["scoring"] = self.scoring
        return data


@dataclass(frozen=True)
class Expectation:
    """What a test case's answer must satisfy; every given check must hold."""

    equals: Any = None
    """A string, or (for JSON output) a mapping/list/number given in YAML or as JSON text: compared by value."""
    contains: tuple[str, ...] = ()
    regex: str | None = None
    one_of: tuple[str, ...] = ()
    case_sensitive: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.equals is not None:
            data["equals"] = self.equals
        if self.contains:
            data["contains"] = list(self.contains)
        if self.regex is not None:
            data["regex"] = self.regex
        if self.one_of:
            data["one_of"] = list(self.one_of)
        if self.case_sensitive:
            data["case_sensitive"] = True
        return data


@dataclass(frozen=True)
class TestCase:
    name: str
    vars: dict[str, Any]
    input: str | None
    expect: Expectation

    __test__ = False  # not a pytest class


@dataclass
class PromptTemplate:
    """A parsed, validated template. Render it with :func:`assistant.templates.render_template`."""

    name: str
    path: Path
    body: str
    description: str = ""
    strategy: Strategy = "zero-shot"
    variables: list[Variable] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)
    examples_as: str = "turns"
    example_template: str = DEFAULT_EXAMPLE_TEMPLATE
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    output: OutputSpec = field(default_factory=OutputSpec)
    tests: list[TestCase] = field(default_factory=list)
    source: str = "file"  # "user", "builtin", "plugin:NAME" or "file"
    front_matter_text: str = ""
    body_line: int = 1  # file line where the body starts
    dependencies: tuple[Path, ...] = ()  # other files read while loading (examples)
    compiled: Any = field(default=None, repr=False, compare=False)  # loader.Compiled

    @property
    def variable_names(self) -> list[str]:
        return [v.name for v in self.variables]

    def variable(self, name: str) -> Variable | None:
        for var in self.variables:
            if var.name == name:
                return var
        return None

    @property
    def scores_text(self) -> bool:
        """Labels are scored against the plain prompt text (examples inline), not chat turns."""
        return self.output.type == "choice" and self.output.scoring == "text"

    @property
    def answer_prefix(self) -> str | None:
        """The marker of the final answer line, for chain-of-thought (or when set explicitly)."""
        if self.output.answer_prefix:
            return self.output.answer_prefix
        return DEFAULT_ANSWER_PREFIX if self.strategy == "chain-of-thought" else None

    def generation_params(self, overrides: dict[str, Any] | None = None) -> GenerationParams:
        """Defaults < config ``[params]`` < the template's ``params`` < ``overrides``."""
        from ..options import build_params

        return build_params({**self.params, **(overrides or {})})

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "source": self.source,
            "description": self.description,
            "strategy": self.strategy,
            "variables": [v.to_dict() for v in self.variables],
            "examples": len(self.examples),
            "examples_as": self.examples_as,
            "system": self.system,
            "params": self.params,
            "output": self.output.to_dict(),
            "tests": len(self.tests),
        }


# ---- building a template from its parsed front matter -------------------------------


def parse_variables(where: str, raw: Any) -> list[Variable]:
    if not isinstance(raw, list):
        raise TemplateError(f"{where}: 'variables' must be a list")
    variables: list[Variable] = []
    seen: set[str] = set()
    for index, item in enumerate(raw, 1):
        item_where = f"{where}: variable #{index}"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            raise TemplateError(f"{item_where} must be a name or a mapping with 'name'")
        check_keys(item_where, item, VARIABLE_KEYS)
        name = item.get("name")
        if not isinstance(name, str) or not _IDENTIFIER.match(name):
            raise TemplateError(f"{item_where}: name must be an identifier, got {name!r}")
        if name in RESERVED_NAMES:
            raise TemplateError(f"{where}: variable name {name!r} is reserved")
        if name in seen:
            raise TemplateError(f"{where}: variable {name!r} is declared twice")
        seen.add(name)
        has_default = "default" in item
        required = item.get("required", not has_default)
        if not isinstance(required, bool):
            raise TemplateError(f"{where}: variable {name!r}: 'required' must be true or false")
        if required and has_default:
            raise TemplateError(f"{where}: variable {name!r} has a default, so it cannot be required")
        default = item.get("default")
        if isinstance(default, float) and not math.isfinite(default):
            # `default: .nan` went to the model as "nan", while `-v ratio=nan` (and a test's or a batch
            # row's NaN) is refused as no number a prompt means
            raise TemplateError(f"{where}: variable {name!r}: its default {default!r} is not a finite number")
        choices = _choices(where, name, item)
        check = item.get("check")
        if check is not None and (not isinstance(check, str) or not _CHECK.match(check)):
            raise TemplateError(
                f"{where}: variable {name!r}: 'check' names a tool's parameter as TOOL.PARAMETER "
                f"(check: translate.to), not {check!r}"
            )
        variables.append(
            Variable(
                name, str(item.get("description", "") or ""), item.get("default"), required, choices, check or ""
            )
        )
    return variables


def _choices(where: str, name: str, item: dict[str, Any]) -> tuple[str, ...]:
    """A variable's ``choices``, checked: texts (a YAML number is the text it reads as), unique
    ignoring case (they are matched so), and holding the default when there is one."""
    raw = item.get("choices")
    if raw is None:
        return ()
    usable = isinstance(raw, list) and raw and all(
        isinstance(x, (str, int, float)) and not isinstance(x, bool) and str(x).strip() for x in raw
    )
    if not usable:
        raise TemplateError(
            f"{where}: variable {name!r}: 'choices' must be a list of non-empty texts "
            "(quote true, false, yes and no: YAML reads some of them as booleans)"
        )
    choices = tuple(str(x) for x in raw)
    folded = [c.casefold() for c in choices]
    if len(set(folded)) != len(folded):
        raise TemplateError(f"{where}: variable {name!r}: 'choices' are matched ignoring case, so must differ in more")
    default = item.get("default")
    if default not in (None, "") and str(default).casefold() not in folded:
        raise TemplateError(f"{where}: variable {name!r}: its default {default!r} is not one of its choices")
    return choices


def parse_params(where: str, raw: Any) -> dict[str, Any]:
    """Sampling parameters given as data (a template's ``params``, a batch row's ``params``), checked.

    Each value is checked against its field's type, as the config's ``[params]``
    are: YAML and JSON are typed, and a ``stop: [1, 2]`` or ``max_tokens: 5.5``
    that got through would fail only inside the engine, as its "bug".
    """
    from ..options import check_param_type  # the one typed check of a params value (config [params] too)

    if not isinstance(raw, dict):
        raise TemplateError(f"{where}: 'params' must be a mapping")
    known = tuple(name for name in GenerationParams.field_names() if name != "json_schema")
    if "json_schema" in raw:
        raise TemplateError(f"{where}: params: json_schema is set by 'output: {{type: json, schema: ...}}'")
    check_keys(f"{where}: params", raw, known)
    for key, value in raw.items():
        try:
            check_param_type(key, value, "params")
        except ConfigError as exc:  # "max_tokens in params must be a whole number, not 5.5"
            raise TemplateError(f"{where}: {exc}") from None
    try:
        GenerationParams(**raw)
    except (ConfigError, TypeError) as exc:
        raise TemplateError(f"{where}: params: {exc}") from exc
    return dict(raw)


def parse_output(where: str, raw: Any, strategy: str) -> OutputSpec:
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict):
        raise TemplateError(f"{where}: 'output' must be text, json, choice or a mapping with 'type'")
    check_keys(f"{where}: output", raw, OUTPUT_KEYS)
    kind = raw.get("type", "text")
    if kind not in OUTPUT_TYPES:
        raise TemplateError(f"{where}: output type must be one of {', '.join(OUTPUT_TYPES)}, not {kind!r}")
    schema = raw.get("schema")
    if schema is not None:
        if kind != "json":
            raise TemplateError(f"{where}: output 'schema' only applies to type json")
        from ..structured.schema import check_schema

        check_schema(where, schema)
    labels = raw.get("labels")
    if kind == "choice":
        if isinstance(labels, list) and len(labels) >= 2 and any(isinstance(x, bool) for x in labels):
            # yes/no are text (YAML 1.2, .yaml_data), but true/false are still booleans
            raise TemplateError(
                f"{where}: output labels must be strings; YAML reads true and false as booleans, "
                "so quote them (labels: ['true', 'false'])"
            )
        if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) and x for x in labels):
            raise TemplateError(f"{where}: output type choice needs 'labels': a list of at least two strings")
        if len(set(labels)) != len(labels):
            raise TemplateError(f"{where}: output labels must be unique")
        if strategy == "chain-of-thought":
            raise TemplateError(f"{where}: chain-of-thought cannot use output type choice (use text)")
    elif labels is not None:
        raise TemplateError(f"{where}: output 'labels' only applies to type choice")
    prefix = raw.get("answer_prefix")
    if prefix is not None and (not isinstance(prefix, str) or not prefix.strip()):
        raise TemplateError(f"{where}: output 'answer_prefix' must be a non-empty string")
    if prefix is not None and kind == "choice":
        raise TemplateError(f"{where}: output 'answer_prefix' does not apply to type choice")
    scoring = raw.get("scoring", "text")
    if "scoring" in raw and kind != "choice":
        raise TemplateError(f"{where}: output 'scoring' only applies to type choice")
    if scoring not in SCORING_MODES:
        raise TemplateError(f"{where}: output scoring must be one of {', '.join(SCORING_MODES)}, not {scoring!r}")
    constrain = raw.get("constrain", True)
    if "constrain" in raw and schema is None:
        raise TemplateError(f"{where}: output 'constrain' only applies to type json with a 'schema'")
    if not isinstance(constrain, bool):
        raise TemplateError(f"{where}: output 'constrain' must be true or false")
    return OutputSpec(kind, schema, tuple(labels or ()), prefix, scoring, constrain)


def _string_list(where: str, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(x, (str, int, float)) for x in value):
        return tuple(str(x) for x in value)
    raise TemplateError(f"{where}: '{key}' must be a string or a list of strings")


def _expected_value(value: Any) -> Any:
    """Mappings and lists stay JSON values (compared by value); scalars become the text they read as."""
    if value is None or isinstance(value, (dict, list)):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_expectation(where: str, raw: Any) -> Expectation:
    if not isinstance(raw, dict) or not raw:
        raise TemplateError(f"{where}: 'expect' must be a mapping with equals, contains, regex or one_of")
    check_keys(f"{where}: expect", raw, EXPECT_KEYS)
    if not any(key in raw for key in EXPECT_KEYS[:4]):
        raise TemplateError(f"{where}: 'expect' needs at least one of equals, contains, regex, one_of")
    empty = [key for key in EXPECT_KEYS[:4] if key in raw and raw[key] is None]
    if empty:  # `equals:` left empty checked nothing: a test that could not fail
        raise TemplateError(f"{where}: expect '{empty[0]}' has no value (write equals: '' for an empty answer)")
    regex = raw.get("regex")
    if regex is not None and not isinstance(regex, (str, int, float)) or isinstance(regex, bool):
        raise TemplateError(f"{where}: expect 'regex' must be a text, not {type(regex).__name__}")
    if regex is not None:
        try:
            re.compile(str(regex))
        except (re.error, OverflowError, RecursionError) as exc:  # a{4294967295}, 5000 nested groups
            raise TemplateError(f"{where}: invalid regex {str(regex)[:80]!r}: {exc}") from exc
    if regex is not None and not str(regex):
        raise TemplateError(f"{where}: expect 'regex' is empty, which every answer matches")
    case_sensitive = raw.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        raise TemplateError(f"{where}: 'case_sensitive' must be true or false")
    contains = _string_list(where, "contains", raw["contains"]) if "contains" in raw else ()
    if any(not needle for needle in contains):  # "" is in every answer
        raise TemplateError(f"{where}: expect 'contains' holds an empty text, which every answer contains")
    return Expectation(
        equals=_expected_value(raw.get("equals")),
        contains=contains,
        regex=None if regex is None else str(regex),
        one_of=_string_list(where, "one_of", raw["one_of"]) if "one_of" in raw else (),
        case_sensitive=case_sensitive,
    )


def parse_tests(where: str, raw: Any, variables: list[Variable]) -> list[TestCase]:
    if not isinstance(raw, list):
        raise TemplateError(f"{where}: 'tests' must be a list")
    declared = {v.name for v in variables}
    cases: list[TestCase] = []
    for index, item in enumerate(raw, 1):
        case_where = f"{where}: test #{index}"
        if not isinstance(item, dict):
            raise TemplateError(f"{case_where} must be a mapping with 'vars' or 'input', and 'expect'")
        check_keys(case_where, item, TEST_KEYS)
        values = item.get("vars", {}) or {}
        if not isinstance(values, dict):
            raise TemplateError(f"{case_where}: 'vars' must be a mapping")
        for name in values:
            if name not in declared:
                raise TemplateError(f"{case_where}: unknown variable {name!r}")
        text = item.get("input")
        if text is not None and "input" not in declared:
            raise TemplateError(f"{case_where}: 'input' given but the template has no 'input' variable")
        cases.append(
            TestCase(
                name=str(item.get("name") or f"test {index}"),
                vars=dict(values),
                input=None if text is None else str(text),
                expect=parse_expectation(case_where, item.get("expect")),
            )
        )
    return cases


def check_examples(
    where: str, examples: list[Any], variables: list[Variable], lines: list[int] | None = None
) -> list[dict[str, Any]]:
    """Each example is a mapping of declared variables plus the expected ``output``.

    ``lines`` (a JSON Lines file's) gives each example's line, named in errors.
    """
    declared = {v.name: v for v in variables}
    checked: list[dict[str, Any]] = []
    for index, example in enumerate(examples, 1):
        ex_where = f"{where}: example #{index}" + (f" (line {lines[index - 1]})" if lines else "")
        if not isinstance(example, dict):
            raise TemplateError(f"{ex_where} must be a mapping of variables plus 'output'")
        if example.get("output") is None:  # null is "not given", as for a variable: no text to show
            raise TemplateError(f"{ex_where} has no 'output'")
        for key in example:
            if key != "output" and key not in declared:
                raise TemplateError(f"{ex_where}: unknown variable {key!r}")
        missing = [v.name for v in variables if v.required and example.get(v.name) is None]
        if missing:
            raise TemplateError(f"{ex_where} lacks required variable(s): {', '.join(missing)}")
        checked.append(dict(example))
    return checked
