"""The tool registry, filled by the ``register_tools`` hook, and the failure boundary around tools.

:func:`available_tools` asks every plugin to register its tools; a plugin whose
hook raises (or registers something that is not a tool) is recorded as a
plugin failure — named — and every other plugin's tools stay available.
:class:`RegisteredTool` wraps a tool with the name of the plugin that provided
it: it resolves parameters, passes ``progress`` only to tools that take it,
and turns an unexpected exception inside ``run`` into a :class:`ToolError`
naming the plugin, so a buggy third-party tool cannot take the CLI down with a
bare traceback or be mistaken for an assistant bug.
"""

from __future__ import annotations

import inspect
import json
import re
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import AssistantError, ConfigError, ToolError, exception_text
from .base import Parameter, ParameterSet, Progress, needs_model
from .results import TextResult, ToolResult

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..plugins import PluginFailure

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


def _check_tool(tool: Any) -> None:
    """Reject objects that do not honour the contract, at registration time (naming what is wrong).

    Checked here rather than when the tool runs: by then the default model has been
    loaded (seconds), and the error would be a bare ``TypeError`` from inside the call.
    """
    if isinstance(tool, type):  # register(Shout): backends register classes, tools register instances
        raise ConfigError(
            f"tool {getattr(tool, 'name', tool.__name__)!r}: register an instance ({tool.__name__}()), not the class"
        )
    if not hasattr(tool, "name"):
        raise ConfigError(
            f"register() takes a tool (name, description, run), got a {type(tool).__name__!r} object with no tool name"
        )
    name = tool.name
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"tool name must be lower-case letters, digits, '-' or '_', got {name!r}")
    if not isinstance(getattr(tool, "description", None), str):
        raise ConfigError(f"tool {name!r} needs a one-line string description")
    if not callable(getattr(tool, "run", None)):
        raise ConfigError(f"tool {name!r} has no run(text, params, backend) method")
    _check_run_signature(name, tool.run)
    early = getattr(tool, "answer_without_model", None)
    if early is not None:
        if not callable(early):
            raise ConfigError(f"tool {name!r}: answer_without_model must be a method (text, params), got {early!r}")
        _check_run_signature(name, early, "answer_without_model", ("text", "params"))
    parameters = _sequence_of(name, "parameters", getattr(tool, "parameters", ()) or (), "(Parameter(...),)")
    if not all(isinstance(p, Parameter) for p in parameters):
        raise ConfigError(f"tool {name!r}: parameters must be assistant.tools.Parameter objects")
    templates = _sequence_of(name, "templates", getattr(tool, "templates", ()) or (), "('my-prompt',)")
    if not all(isinstance(t, str) for t in templates):
        raise ConfigError(f"tool {name!r}: templates must be template names (strings)")
    for parameter in parameters:  # a default the tool cannot use fails every run that leaves it out: named now
        try:
            parameter.default_value()
        except ConfigError as exc:
            raise ConfigError(f"tool {name!r} declares a default it refuses: {exc}") from None
    names = [n for p in parameters for n in p.names]
    if len(names) != len(set(names)):
        raise ConfigError(f"tool {name!r} declares a parameter name twice")
    declared = needs_model(tool)
    if not isinstance(declared, bool):  # "no", 0, a method: guessing would load a model needlessly, or break run
        raise ConfigError(f"tool {name!r}: needs_model must be True or False, got {declared!r}")


def _sequence_of(tool: str, attribute: str, value: Any, one: str) -> tuple[Any, ...]:
    """``value`` as a tuple, refusing the lone item that a missing comma makes of ``(item)``.

    Iterating a string would make each letter a template name, and iterating a
    lone ``Parameter`` fails with a ``TypeError`` that does not say which attribute.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ConfigError(
            f"tool {tool!r}: {attribute} must be a tuple or list, got {type(value).__name__}; for one, write {one}"
        )
    return tuple(value)


_GOOD_RUN_FUNCTIONS: weakref.WeakSet[Any] = weakref.WeakSet()
_GOOD_FUNCTIONS: dict[str, weakref.WeakSet[Any]] = {"run": _GOOD_RUN_FUNCTIONS}
"""Per method name, the functions whose signature passed."""


def _check_run_signature(
    name: str, run: Any, method: str = "run", arguments: tuple[str, ...] = ("text", "params", "backend")
) -> None:
    """``run`` must accept ``(text, params, backend)``: a wrong signature is the plugin's bug, named now.

    (And ``answer_without_model``, ``(text, params)``, when the tool has one.)

    A method whose function passed once is not inspected again: a plugin that registers 5,000
    instances of one class spent half a second in ``inspect.signature`` on every command.
    """
    good = _GOOD_FUNCTIONS.setdefault(method, weakref.WeakSet())
    function = getattr(run, "__func__", None)  # a bound method's function, shared by every instance
    if function is not None and function in good:
        return
    try:
        signature = inspect.signature(run)
    except (TypeError, ValueError):
        return  # a builtin or C callable: nothing to check
    try:
        signature.bind(*("", {}, None)[: len(arguments)])
    except TypeError as exc:
        raise ConfigError(f"tool {name!r}: {method} must accept ({', '.join(arguments)}): {exc}") from None
    if function is not None:
        try:
            good.add(function)
        except TypeError:  # not weakly referable (a C function): checked each time, as before
            pass


class RegisteredTool:
    """A tool plus the plugin that registered it: what :func:`get_tool` returns."""

    def __init__(self, tool: Any, plugin: str) -> None:
        self.tool = tool
        self.plugin = plugin
        self._default_backend: Backend | None = None

    # ---- description ----------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.tool.name)

    @property
    def description(self) -> str:
        return str(self.tool.description).strip().splitlines()[0] if self.tool.description.strip() else ""

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        return tuple(getattr(self.tool, "parameters", ()) or ())

    @property
    def templates(self) -> tuple[str, ...]:
        return tuple(getattr(self.tool, "templates", ()) or ())

    @property
    def needs_model(self) -> bool:
        """Whether ``run`` uses the model: False means no front end loads one for this tool."""
        return needs_model(self.tool)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "plugin": self.plugin,
            "needs_model": self.needs_model,
            "templates": list(self.templates),
            "parameters": [p.to_dict() for p in self.parameters],
        }

    def __repr__(self) -> str:
        return f"<tool {self.name!r} from plugin {self.plugin!r}>"

    # ---- running --------------------------------------------------------------
    def resolve_params(self, params: Mapping[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """Merge ``params`` and keyword arguments, then type-check them against the declaration."""
        merged: dict[str, Any] = dict(params or {})
        for key, value in kwargs.items():
            name = key.rstrip("_")  # from_=... for the Python keyword
            if name in merged:  # run(params={"to": "fr"}, to="de") would silently pick one
                raise ConfigError(f"tool {self.name!r}: parameter {name!r} given twice (in params= and as a keyword)")
            merged[name] = value
        return ParameterSet(self.name, self.parameters).resolve(merged)

    def _accepts_progress(self) -> bool:
        try:
            signature = inspect.signature(self.tool.run)
        except (TypeError, ValueError):
            return False
        return "progress" in signature.parameters or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()
        )

    def default_backend(self) -> Backend:
        """The configured default model, loaded once per RegisteredTool (API convenience)."""
        if self._default_backend is None:
            from ..backends import default_model_for
            from ..config import default_backend
            from ..session import open_backend

            self._default_backend = open_backend(default_model_for(default_backend()), default_backend())
        return self._default_backend

    def run(
        self,
        text: str,
        backend: Backend | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
        **kwargs: Any,
    ) -> ToolResult:
        """Run the tool on ``text``. Parameters come as ``params={...}`` and/or keywords.

        Without ``backend`` the default model is loaded (once per object), unless
        the tool declares ``needs_model = False``: it is then always run with
        ``backend=None``, as its declaration promises, whatever the caller passed.
        An input the tool settles without a model (:meth:`answer_without_model`)
        loads none and does not call the one given.
        """
        if not isinstance(text, str):
            raise ConfigError(f"tool {self.name!r} needs text (a str), got {type(text).__name__}")
        self._check_backend(backend)
        resolved = self.resolve_params(params, **kwargs)
        early = self.answer_without_model(text, resolved)
        if early is not None:  # settled without a model: none is loaded, the one given is not used
            return early
        if not self.needs_model:
            engine = None
        else:
            engine = backend if backend is not None else self.default_backend()
        extra: dict[str, Any] = {"progress": progress} if progress is not None and self._accepts_progress() else {}
        return self._checked(self._call(self.tool.run, text, resolved, engine, **extra))

    def _check_backend(self, backend: Any) -> None:
        """A model's name (or other plain data) where a loaded backend belongs is refused, as ChatSession does.

        ``get_tool("ner").run(text, "smollm2")`` failed inside the tool as "tool 'ner' (plugin 'ner')
        failed: AttributeError: 'str' object has no attribute 'count_tokens'", blaming the plugin.
        """
        from ..session import PLAIN_DATA, shown_argument

        if isinstance(backend, PLAIN_DATA):
            raise ConfigError(
                f"tool {self.name!r} needs a loaded backend (load_backend(NAME, MODEL)) or None, not {shown_argument(backend)}"
            )

    def answer_without_model(self, text: str, params: Mapping[str, Any]) -> ToolResult | None:
        """The tool's result for ``text`` when it settles it without a model (see :class:`~.base.Tool`), else None.

        The one place every front end asks, with the resolved ``params``, before it loads a
        model: :meth:`run` (the Python API, a batch row, the chat app), and the CLI, which then
        loads none. Before, ``assistant summarize "x y z"`` loaded the model (seconds) for an
        input that is its own summary. The tool may raise ToolError for an input it refuses.
        """
        method = getattr(self.tool, "answer_without_model", None)
        if method is None:
            return None
        result = self._call(method, text, params)
        return None if result is None else self._checked(result)

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        """``method(*args, **kwargs)`` of the tool: an unexpected exception is the plugin's bug, named."""
        try:
            return method(*args, **kwargs)
        except AssistantError:
            raise
        except (Exception, SystemExit) as exc:  # a bug in the plugin (sys.exit() too): name it, keep the cause
            raise ToolError(
                f"tool {self.name!r} (plugin {self.plugin!r}) failed: {type(exc).__name__}: {exception_text(exc)}"
            ) from exc

    def _checked(self, result: Any) -> ToolResult:
        if isinstance(result, str):
            return TextResult(result)
        if callable(getattr(result, "to_dict", None)) and callable(getattr(result, "to_text", None)):
            try:
                text = result.to_text()
            except Exception as exc:  # noqa: BLE001 - the plugin's result, named
                raise ToolError(
                    f"tool {self.name!r} (plugin {self.plugin!r}): its result's to_text() failed: "
                    f"{type(exc).__name__}: {exception_text(exc)}"
                ) from exc
            if not isinstance(text, str):  # found here, not as "message content must be text" later
                raise ToolError(
                    f"tool {self.name!r} (plugin {self.plugin!r}): its result's to_text() gave "
                    f"{type(text).__name__}, not text"
                )
            self._check_data(result)
            return result  # type: ignore[no-any-return]
        raise ToolError(
            f"tool {self.name!r} (plugin {self.plugin!r}) returned {type(result).__name__}, "
            "not a result with to_dict() and to_text()"
        )


    def _check_data(self, result: Any) -> None:
        """The result's ``to_dict()`` is a JSON object, or the plugin is named for it here.

        It is what ``--json``, a batch's line and the history store: a ``to_dict()`` that raised was a
        traceback from every front end, and one holding NaN printed ``{"v": NaN}``, which no JSON
        reader accepts (a list, or bytes, failed later as a history error naming no plugin).
        """
        owner = f"tool {self.name!r} (plugin {self.plugin!r}): its result's to_dict()"
        try:
            data = result.to_dict()
        except Exception as exc:  # noqa: BLE001 - the plugin's result, named
            raise ToolError(f"{owner} failed: {type(exc).__name__}: {exception_text(exc)}") from exc
        if not isinstance(data, dict):
            raise ToolError(f"{owner} gave {type(data).__name__}, not a dict")
        try:
            json.dumps(data, allow_nan=False)
        except (TypeError, ValueError) as exc:  # bytes, a set, NaN or infinity, a dict that holds itself
            raise ToolError(f"{owner} is not JSON: {exception_text(exc)}") from exc


def available_tools() -> dict[str, RegisteredTool]:
    """Every registered tool by name; when two plugins register one name, the later-loaded plugin wins.

    (pluggy calls plugins in reverse load order, so a user's or pip-installed
    plugin can replace a first-party tool by registering the same name.)
    """
    from ..plugins import call_registration_hook, current_plugin_name

    found: dict[str, RegisteredTool] = {}

    def register(tool: Any) -> None:
        _check_tool(tool)
        if tool.name not in found:
            found[tool.name] = RegisteredTool(tool, current_plugin_name())

    call_registration_hook("register_tools", register)
    return dict(sorted(found.items()))


def get_tool(name: str) -> RegisteredTool:
    """The tool registered under ``name``; :class:`ToolError` lists the known ones when it is missing."""
    if not isinstance(name, str):
        raise TypeError(f"a tool name must be text, not {type(name).__name__}")
    tools = available_tools()
    if name not in tools:
        failed = [f.name for f in tool_failures()]
        hint = f"; plugins that failed to load: {', '.join(failed)}" if failed else ""
        known = ", ".join(tools) or "none"
        raise ToolError(f"unknown tool {name!r} (available: {known}{hint})")
    return tools[name]


def tool_failures() -> list[PluginFailure]:
    """Plugins that failed to import or to register their tools."""
    from ..plugins import plugin_failures

    return [f for f in plugin_failures() if f.stage in ("import", "register_tools")]
