"""The tool contract: what a plugin registers through ``register_tools``.

A tool is any object with a ``name``, a one-line ``description``, typed
``parameters``, the ``templates`` it renders, and a ``run(text, params, backend)``
method returning a :class:`~assistant.tools.results.ToolResult`. It may
subclass :class:`BaseTool` for the defaults, but duck typing is enough — the
first-party tools in ``plugins/`` are registered exactly like a third party's.

What a tool needs from the assistant is declared, not guessed: ``needs_model``
(a bool, default True, as simonw/llm's models declare ``can_stream`` or
``needs_key``) says whether ``run`` uses the model. A tool that declares
``needs_model = False`` is run with ``backend=None``, and no front end loads a
model for it — loading one costs seconds, and fails where none is installed.

Parameters are declared rather than parsed by each tool so that the CLI can
turn them into options (``--length``, ``--to``), the Python API can check
keyword arguments, and ``assistant tools --json`` can describe them — all from
one definition. By the time ``run`` is called its ``params`` mapping holds
every declared parameter, coerced to its type, defaults filled in.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

from ..errors import ConfigError
from ..option_values import float_from_text, int_from_text

if TYPE_CHECKING:
    from ..backends.base import Backend
    from .results import ToolResult

PARAM_TYPES = ("str", "int", "float", "bool", "choice", "list")

Progress = Callable[[int, int, str], None]
"""``progress(done, total, message)``: how a long-running tool reports how far it got."""

Spelling = Callable[["Parameter"], str]
"""How a front end shows a parameter as its user types it (``--to / --target`` on the command line,
``to=…`` in the chat app), for :func:`missing_parameter`; "" when the name says it all."""

_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}
_OPTION_NAME = re.compile(r"[^\W\d][\w-]*")
"""What a parameter's name (or alias) may be: a word that ``-p NAME=VALUE`` and an option can carry."""


@dataclass(frozen=True)
class Parameter:
    """One typed tool parameter.

    ``type`` is one of ``str``, ``int``, ``float``, ``bool``, ``choice`` (one of
    ``choices``) or ``list`` (of strings; a string value is split on commas, so
    ``-p types=PERSON,DATE`` works). ``aliases`` are extra accepted names, e.g.
    ``from`` for translate's ``source``, which is a keyword in Python.
    """

    name: str
    type: str = "str"
    help: str = ""
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    minimum: float | None = None
    """For ``int`` and ``float``: the smallest value accepted (``-p chunk_tokens=-5`` is refused, not ignored)."""
    check: Callable[[Any], Any] | None = field(default=None, compare=False)
    """Called with the coerced value; raises :class:`ConfigError` for a value the tool cannot use
    (translate's unknown language code). Applied with the types, so every front end refuses the
    value before a model is loaded or run, not from inside ``run``. A check may return the value's
    canonical spelling (translate: "French" for "fr"), which then replaces it everywhere the value
    goes — the tool's prompt and a template variable that declares ``check: TOOL.PARAMETER`` alike;
    None keeps the value as given."""

    def __post_init__(self) -> None:
        # Checked when the plugin builds the Parameter (its import fails, named), not as a TypeError
        # traceback from every command that shows the tool: `help=None` broke `assistant NAME` and
        # its --help; `aliases="target"` made six one-letter names of the word.
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"a parameter's name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.help, str):
            raise ConfigError(f"parameter {self.name!r}: help must be a string, got {type(self.help).__name__}")
        for attribute in ("choices", "aliases"):
            value = getattr(self, attribute)
            if isinstance(value, str) or not all(isinstance(item, str) for item in value):
                raise ConfigError(
                    f"parameter {self.name!r}: {attribute} must be a tuple of strings, got {value!r}"
                    + (f"; for one, write ({value!r},)" if isinstance(value, str) else "")
                )
        for name in self.names:  # `Parameter("p\x1b[1m")` ended `assistant tool NAME` in click's TypeError
            if not _OPTION_NAME.fullmatch(name):
                raise ConfigError(
                    f"parameter name {name!r} must be letters, digits, '_' or '-', not starting with a digit"
                    " (it is written as -p NAME=VALUE)"
                )
        if self.type not in PARAM_TYPES:
            raise ConfigError(f"parameter {self.name!r}: type must be one of {', '.join(PARAM_TYPES)}")
        if self.type == "choice" and not self.choices:
            raise ConfigError(f"parameter {self.name!r}: a choice parameter needs choices")

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def coerce(self, value: Any) -> Any:
        """``value`` (a string from the command line, or a Python value) as this parameter's type, checked."""
        coerced = self._coerce(value)
        if coerced is not None and self.check is not None:
            try:
                canonical = self.check(coerced)
            except ConfigError:
                raise
            except (ValueError, TypeError) as exc:
                # A plugin's check that raises the everyday Python errors still refuses the value in
                # one line naming the parameter, instead of a traceback from every front end.
                from ..terminal_text import one_line

                detail = one_line(str(exc)) or type(exc).__name__
                raise ConfigError(f"parameter {self.name!r}: {detail}") from exc
            if canonical is not None:  # the check's own spelling: "fr" reaches tool and template as "French"
                coerced = canonical
        return coerced

    def _coerce(self, value: Any) -> Any:
        if value is None:
            return None
        kind = self.type
        try:
            if kind == "str":
                if self.required and not str(value).strip():
                    # `-p need=` passed the check for a missing value, and the tool ran on "".
                    raise ConfigError(f"parameter {self.name!r} is required and cannot be empty")
                return str(value)
            if kind == "int":
                if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                    raise ValueError(value)  # chunk_tokens=1.5 was taken as 1, and refused as "not 1"
                return self._at_least(int_from_text(value))
            if kind == "float":
                number = float_from_text(value)
                if not math.isfinite(number):
                    raise ValueError(value)
                return self._at_least(number)
            if kind == "bool":
                if isinstance(value, bool):
                    return value
                lowered = str(value).strip().lower()
                if lowered in _TRUE:
                    return True
                if lowered in _FALSE:
                    return False
                raise ValueError(value)
            if kind == "choice":
                text = str(value).strip()
                for choice in self.choices:
                    if choice.lower() == text.lower():
                        return choice
                raise ConfigError(
                    f"parameter {self.name!r} must be one of {', '.join(self.choices)}, not {text!r}"
                )
            # list
            items = value.split(",") if isinstance(value, str) else list(value)
            cleaned = [str(item).strip() for item in items]
            if not any(cleaned):
                raise ConfigError(f"parameter {self.name!r} needs at least one value")
            if "" in cleaned:
                # `--labels a,,b` (or a shell variable that expanded to nothing) silently lost an item:
                # sentiment ran with two labels where three were meant.
                from ..terminal_text import one_line

                where = cleaned.index("") + 1
                shown = one_line(value if isinstance(value, str) else ",".join(cleaned), 60)
                raise ConfigError(
                    f"parameter {self.name!r} has an empty item (item {where} of {len(cleaned)} in {shown!r}): "
                    "remove the extra comma or fill it in"
                )
            return cleaned
        except (TypeError, ValueError):
            wanted = {"int": "a whole number", "float": "a number", "bool": "true or false"}.get(kind, f"a {kind}")
            raise ConfigError(f"parameter {self.name!r} needs {wanted}, got {value!r}") from None

    def _at_least(self, number: int | float) -> int | float:
        if self.minimum is not None and number < self.minimum:
            raise ConfigError(f"parameter {self.name!r} must be at least {self.minimum:g}, not {number!r}")
        return number

    def default_value(self) -> Any:
        """The default as ``run`` receives it (coerced: ``Path('/tmp')`` → ``'/tmp'``, a tuple → a list).

        What ``tools --json`` shows, so a plugin's default of any type is listed as the value the
        tool gets, and is JSON: a ``Path`` default made the whole listing a traceback.
        """
        return None if self.default is None else self.coerce(self.default)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "help": self.help,
            "default": self.default_value(),
            "required": self.required,
            "choices": list(self.choices),
            "aliases": list(self.aliases),
            "minimum": self.minimum,
        }


def other_names(parameter: Parameter) -> str:
    """The default :data:`Spelling` (the Python API, a batch row's ``params``): the parameter's other names.

    A key there is the parameter's name or an alias, so the name alone says how to give it; an
    alias is added as ``or 'target'``, never glued to the name ("'to/target'" read as one name).
    """
    return ", ".join(f"or {alias!r}" for alias in parameter.aliases)


def missing_parameter(tool_name: str, parameter: Parameter, spelling: Spelling | None = None) -> str:
    """``tool 'translate' needs the parameter 'to' (--to / --target)``: the one wording of a missing parameter.

    Every front end says it alike and only ``spelling`` differs: how its user types the
    parameter (:func:`other_names` by default).
    """
    how = (spelling or other_names)(parameter)
    return f"tool {tool_name!r} needs the parameter {parameter.name!r}" + (f" ({how})" if how else "")


NEEDS_MODEL_DEFAULT = True
"""A tool that does not say otherwise is given a model: what every tool got before the flag existed."""


def needs_model(tool: Any) -> bool:
    """The tool's ``needs_model`` declaration (:data:`NEEDS_MODEL_DEFAULT` when it makes none).

    The one place the flag is read, so the registry's check, the CLI and the
    Python API agree on what an undeclared tool means.
    """
    return getattr(tool, "needs_model", NEEDS_MODEL_DEFAULT)  # type: ignore[no-any-return]


@runtime_checkable
class Tool(Protocol):
    """What ``register(tool)`` accepts.

    Optionally also ``needs_model: bool`` (default True): False declares that
    ``run`` never uses the model, so it is called with ``backend=None`` and no
    model is loaded for it (``assistant tool NAME``, ``--batch``,
    ``get_tool(NAME).run(text)``). It is not a Protocol member, so tools written
    before it existed still satisfy ``isinstance(obj, Tool)``.

    Optionally also ``answer_without_model(text, params)``: the result for an
    input the tool can settle without a model (summarize's input too short to
    summarize), else None; it may raise :class:`~assistant.errors.ToolError` for
    an input it refuses outright. Every front end asks it first, with the
    resolved ``params``, and loads no model when it answers
    (:meth:`~assistant.tools.registry.RegisteredTool.answer_without_model`): a
    model load costs seconds that such an input does not need.

    ``run`` may also accept a keyword argument ``progress`` (a :data:`Progress`
    callable); the assistant passes it only to tools whose ``run`` declares it.
    Raise :class:`~assistant.errors.ToolError` when the model's output cannot be
    turned into a valid result; any other exception is reported as a bug in the
    plugin, with the plugin's name.
    """

    name: str
    description: str
    parameters: Sequence[Parameter]
    templates: Sequence[str]

    def run(self, text: str, params: Mapping[str, Any], backend: Backend | None) -> ToolResult: ...


class BaseTool:
    """Optional base class: empty parameters and templates, a model (``needs_model``), a readable repr."""

    name: str = ""
    description: str = ""
    parameters: Sequence[Parameter] = ()
    templates: Sequence[str] = ()
    needs_model: bool = NEEDS_MODEL_DEFAULT
    """False: ``run`` never uses the model; it gets ``backend=None`` and none is loaded for it."""

    def run(self, text: str, params: Mapping[str, Any], backend: Backend | None) -> ToolResult:
        raise NotImplementedError(f"tool {self.name!r} does not implement run()")

    def answer_without_model(self, text: str, params: Mapping[str, Any]) -> ToolResult | None:
        """The result for an input settled without a model, or None (the default: every input needs one).

        See :class:`Tool`; ``run`` should ask it too, so a direct call gives the same result.
        """
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} tool {self.name!r}>"


@dataclass
class ParameterSet:
    """Resolves user-supplied values against a tool's declared parameters."""

    tool_name: str
    parameters: Sequence[Parameter] = field(default_factory=tuple)
    spelling: Spelling | None = None
    """How the front end resolving these values spells a parameter, for :func:`missing_parameter`."""

    def lookup(self, key: str) -> Parameter | None:
        wanted = key.replace("-", "_")
        for parameter in self.parameters:
            if wanted in parameter.names or key in parameter.names:
                return parameter
        return None

    def resolve(self, values: Mapping[str, Any], require: bool = True) -> dict[str, Any]:
        """Every declared parameter, typed, defaults filled; unknown or missing ones are errors.

        With ``require=False`` a missing required parameter is left out instead: a batch's
        shared parameters are checked before the model loads, while each row may still
        supply the required one (``{"params": {"to": "fr"}}``) and is checked with it.
        """
        resolved: dict[str, Any] = {}
        for key, value in values.items():
            parameter = self.lookup(key)
            if parameter is None:
                known = ", ".join(p.name for p in self.parameters) or "none"
                raise ConfigError(f"tool {self.tool_name!r} has no parameter {key!r} (parameters: {known})")
            if value is None:
                continue
            if parameter.name in resolved:
                raise ConfigError(f"tool {self.tool_name!r}: parameter {parameter.name!r} given twice")
            resolved[parameter.name] = parameter.coerce(value)
        for parameter in self.parameters:
            if parameter.name in resolved:
                continue
            if parameter.required and not require:
                continue
            if parameter.required:
                raise ConfigError(missing_parameter(self.tool_name, parameter, self.spelling))
            default = parameter.default
            resolved[parameter.name] = parameter.coerce(default) if default is not None else None
        return resolved
