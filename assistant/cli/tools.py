"""``assistant tools``, ``assistant tool NAME`` and a shortcut command for every registered tool.

The shortcuts (``assistant summarize``, ``assistant sentiment``, a plugin's
``assistant mytool``) are made from the tool registry (:func:`tool_command`),
not written here: a third-party tool gets one, and a disabled plugin's
disappears. A command's options come from its tool's declared parameters
(``--length``, ``--to``/``--from``, ``--types``, ``--labels``), looked up only
when the command is used, so a plugin that replaces a tool also replaces its
options. Every parameter can also be given as ``-p key=value``; ``assistant
tool NAME`` takes the same options once NAME is known (``tool NAME --help``
lists them).

Input is TEXT, ``-`` or piped stdin, or ``--file PATH``; ``--batch FILE``
runs the tool over every row of a JSONL/CSV file with the shared batch runner
(:mod:`assistant.batch`: the same flags and row format as template batches),
writing one JSON line per row as it goes (a failed row becomes an ``error``
line, the others still run), each row a turn of the batch's one conversation
(:mod:`assistant.batch.history`: ``--resume`` continues it).

A tool that declares ``needs_model = False`` (:mod:`assistant.tools.base`) runs
without a model: none is loaded, and the options that would choose one are
refused rather than ignored.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import click

from ..terminal_text import one_line, visible_text
from . import debug_option
from .batch_options import BATCH_FLAGS, batch_options, check_batch_flags, finish_batch
from .common import (
    TEXT,
    CtrlC,
    FilePath,
    echo_json,
    echo_untrusted,
    model_options,
    progress_to_stderr,
    read_input_file,
    read_stdin_text,
    resolve_model_and_backend,
)
from .history_options import history_options
from .tool_batch import report_tool_result, run_batch, tool_turn_meta

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..batch import Row
    from ..tools import Parameter, RegisteredTool


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON, with each tool's parameters.")
def tools(as_json: bool) -> None:
    """List the available tools and the plugin providing each.

    A plugin that failed to import or register its tools is warned about on
    stderr once, as for every command (``assistant plugins`` lists them all);
    ``--json`` also carries them under ``failures``.
    """
    from ..tools import available_tools, tool_failures

    found = available_tools()
    if as_json:
        failures = tool_failures()
        echo_json({"tools": [t.to_dict() for t in found.values()], "failures": [f.to_dict() for f in failures]})
        return
    width = max((len(name) for name in found), default=0)
    for name, tool in found.items():
        echo_untrusted(f"{name:<{width}}  {tool.description}  [plugin: {tool.plugin}]")
    if not found:
        click.echo("(no tools: are plugins disabled with ASSISTANT_PLUGINS?)")


# ---- running a tool ------------------------------------------------------------------
RESERVED_FLAGS = {
    "model", "backend", "option", "verbose", "param", "json", "file", "batch", "output", "out", "resume", "force",
    "input_field", "parallel", "debug", "help", "db", "no_log",
}  # fmt: skip


def _flags(parameter: Parameter) -> list[str]:
    """The options a tool parameter gets (``--to``, ``--target``): each of its names that no common option takes.

    The one rule for the options, for the "given twice" message and for how a missing
    parameter is named, so none of them names a flag that is really ``--input-field``'s.
    """
    taken = _common_flags()
    flags = [f"--{n.replace('_', '-')}" for n in parameter.names]
    return [flag for flag in flags if flag not in taken and flag[2:].replace("-", "_") not in RESERVED_FLAGS]


@functools.cache
def _common_flags() -> frozenset[str]:
    """The flags the common options take (and ``--help``): made once, not for each parameter of each tool."""
    return frozenset({opt for p in _common_params() for opt in getattr(p, "opts", ())} | {"--help"})


def _common_params() -> list[click.Parameter]:
    """TEXT, the input/output options and -m/-b/-o: shared by ``tool NAME`` and the shortcuts."""

    def collect(func: Callable[..., Any]) -> list[click.Parameter]:
        return list(getattr(func, "__click_params__", []))

    @click.argument("text", type=TEXT, required=False)
    @click.option("-f", "--file", "file", type=FilePath(dir_okay=False, allow_dash=True), help="Read the input from PATH.")
    @batch_options
    @click.option("-p", "--param", "param_items", multiple=True, metavar="KEY=VALUE", help="A tool parameter.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    @debug_option
    @model_options(sampling=False)
    @history_options
    def holder(**kwargs: Any) -> None: ...

    return list(reversed(collect(holder)))


def _option_for(parameter: Parameter) -> click.Option | None:
    """A click option for a tool parameter (``--to``, ``--from``), or None when every flag is taken."""
    flags = _flags(parameter)
    if not flags:
        return None
    dest = f"tp_{parameter.name}"
    # A plugin's words: shown in --help, so made visible like everything else a plugin says.
    shown_default = f"  [default: {_show_default(parameter.default)}]" if parameter.default is not None else ""
    help_text = visible_text(parameter.help + shown_default)
    if parameter.required:
        help_text += "  [required]"
    if parameter.type == "bool":
        flags = [f"{flags[0]}/--no-{flags[0][2:]}", *flags[1:]]
        return click.Option([*flags, dest], default=None, help=help_text)
    kinds: dict[str, Any] = {"int": click.INT, "float": click.FLOAT}
    if parameter.type == "choice":
        kind: Any = click.Choice(list(parameter.choices), case_sensitive=False)
    else:
        kind = kinds.get(parameter.type, click.STRING)
    metavar = "A,B,..." if parameter.type == "list" else None
    if parameter.type == "choice":  # click's own "[a|b]" would print a plugin's choices raw
        metavar = f"[{'|'.join(visible_text(choice) for choice in parameter.choices)}]"
    return click.Option([*flags, dest], type=kind, default=None, help=help_text, metavar=metavar)


def _show_default(value: Any) -> str:
    return ",".join(value) if isinstance(value, (list, tuple)) else str(value)


def _key_values(items: tuple[str, ...]) -> dict[str, str]:
    from ..options import refuse_repeated_options, split_option

    pairs = [split_option(item, "parameter") for item in items]
    refuse_repeated_options((key for key, _ in pairs), "-p", "parameter")
    return dict(pairs)


def _given_params(tool: RegisteredTool, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The tool parameters given on the command line: its own options (``--to``), then ``-p key=value``.

    A parameter given both ways is refused: the two come from different options, whose order on
    the command line is lost, so neither can be said to come last (``--to de -p to=fr`` ran in
    French without a word). ``-p`` given twice with one key is refused, as ``-o`` is.
    """
    from ..tools.base import ParameterSet

    flagged = {key[3:]: value for key, value in kwargs.items() if key.startswith("tp_") and value is not None}
    declared = ParameterSet(tool.name, tool.parameters)
    given = dict(flagged)
    for key, value in _key_values(kwargs["param_items"]).items():
        parameter = declared.lookup(key)
        if parameter is not None and parameter.name in flagged:
            flag = _flags(parameter)[0]
            raise click.UsageError(
                f"tool {tool.name!r}: parameter {parameter.name!r} given twice ({flag} and -p {key}=...); give it once"
            )
        given[key] = value
    return given


def run_tool_command(tool_name: str, kwargs: dict[str, Any]) -> None:
    """What ``assistant tool NAME`` and every shortcut do once their options are parsed."""
    from ..errors import ConfigError
    from ..options import parse_options
    from ..tools import get_tool
    from ..tools.base import ParameterSet
    from . import invocation_tools

    # As the command's options were made: the registry is asked once per invocation. Not found
    # there, get_tool asks again, and says why (an unknown name, a plugin that failed to load).
    tool = invocation_tools().get(tool_name) or get_tool(tool_name)
    if not tool.needs_model:
        _refuse_model_options(tool.name, kwargs)
    given = _given_params(tool, kwargs)
    for parameter in tool.parameters:
        if parameter.required and not any(n in given for n in parameter.names) and not kwargs["batch"]:
            raise click.UsageError(_needs(tool, parameter.name))
    # Bad values fail here, before a model is loaded; a batch's rows may each give a required one.
    params = ParameterSet(tool.name, tool.parameters, cli_spelling).resolve(given, require=not kwargs["batch"])

    text, file, batch = kwargs["text"], kwargs["file"], kwargs["batch"]
    check_batch_flags(*(kwargs[name] for name in BATCH_FLAGS))
    if batch and (text is not None or file):
        raise click.UsageError("--batch reads its inputs from the file; do not also give TEXT or --file")
    if batch:
        from ..batch import check_input_field, check_output, read_rows
        from ..batch.provenance import check_resume_inputs
        from ..tools.batch import check_resume, missing_everywhere

        check_output(kwargs["out"], kwargs["resume"], kwargs["force"], source=batch)  # before the model loads
        rows = read_rows(batch)
        check_input_field(rows, kwargs["input_field"], batch, required=True)  # every tool row needs its text
        if (missing := missing_everywhere(tool, rows, given)) is not None:
            where = (
                "the rows of a CSV file cannot give parameters"
                if Path(batch).suffix.lower() == ".csv"
                else f'no row of {batch} gives it in its "params"'
            )
            raise click.UsageError(f"{_needs(tool, missing)}; {where}")
        check_resume(tool, rows, kwargs["out"], kwargs["resume"], params)
        # rows changed since their lines ran: refused before the model loads, and before a resume that
        # finds every row done says so (it took the changed rows' old results for theirs)
        check_resume_inputs(rows, kwargs["out"], kwargs["resume"], kwargs["input_field"])
    input_text = None if batch else read_input(text, file)

    param_overrides, backend_opts = parse_options(kwargs["options"])
    if param_overrides:
        raise ConfigError(
            f"-o {next(iter(param_overrides))}: tools choose their own sampling settings; "
            "tool parameters go in -p key=value"
        )
    if kwargs["verbose"]:
        backend_opts["verbose"] = True
    from ..history.session_link import link_history

    history = link_history(kwargs["db"], kwargs["no_log"])  # fails before the model loads
    click.get_current_context().call_on_close(history.close)
    if batch and _all_done(rows, kwargs["out"], kwargs["resume"], history):
        return  # nothing left to run: no model to load
    # Ctrl-C stops the command every time (see CtrlC): a press inside llama.cpp's callbacks was
    # dropped by ctypes, and a batch ran every remaining row to the end, exiting 0. A press cancels
    # the engine and raises; where the raise is lost, the batch stops after the row in flight (that
    # row unwritten) and a single run at its next progress report or at its end.
    from ..errors import AssistantError

    ctrl_c = CtrlC(at_once=True).install()
    try:
        early = _answer_without_model(tool, params, kwargs, rows if batch else [], input_text)
        engine = None if early else _open_engine(tool, kwargs, backend_opts)
        if engine is not None:
            ctrl_c.attach(engine)  # a press dropped while loading stops here
        _run_opened(tool, engine, params, kwargs, rows if batch else [], input_text, history, ctrl_c)
    except AssistantError:
        if ctrl_c.pressed.is_set():  # "… was cancelled": the user's press, not the tool's failure
            raise KeyboardInterrupt from None
        raise
    finally:
        ctrl_c.restore()


def _run_opened(
    tool: RegisteredTool, engine: Backend | None, params: dict[str, Any], kwargs: dict[str, Any],
    rows: list[Any], input_text: str | None, history: Any, ctrl_c: CtrlC,
) -> None:
    """The tool on its loaded engine: the batch, or the one input; the engine unloaded after."""
    from ..history.exchange import ExchangeRecorder

    batch = kwargs["batch"]
    if batch:
        from ..batch.history import BatchRecorder

        recorder: Any = BatchRecorder(
            history, title=f"{tool.name}: batch over {Path(batch).name}", out=kwargs["out"], resume=kwargs["resume"]
        )
    else:
        recorder = ExchangeRecorder(history, kind="tool")
    try:
        if batch:
            run_batch(tool, rows, engine, params, kwargs, recorder, ctrl_c.check)
        else:
            assert input_text is not None
            show = _print_progress(tool.name)

            def progress(done: int, total: int, message: str) -> None:
                ctrl_c.check()  # a press the engine swallowed stops a long run between its parts
                show(done, total, message)

            with recorder.turn(input_text, tool_turn_meta(engine, params)) as turn:
                started = time.perf_counter()
                result = tool.run(input_text, engine, params=params, progress=progress)
                ctrl_c.check()  # the run ended because its engine was cancelled: not a result
                report_tool_result(turn, tool.name, result.to_text(), result.to_dict(), engine, started)
            if kwargs["as_json"]:
                echo_json(result.to_dict(), indent=None)
            else:
                shown = result.to_text()  # a text that ends its own line gets no blank line after it
                echo_untrusted(shown, nl=not shown.endswith("\n"))
    except KeyboardInterrupt:
        if engine is not None:
            engine.cancel()
        raise
    finally:
        if engine is not None:
            engine.unload()


def cli_spelling(parameter: Parameter) -> str:
    """A parameter as it is typed on the command line: ``--to / --target``, or ``-p name=VALUE`` without a flag.

    ``assistant tool NAME`` takes the tool's options as its shortcut does (``tool NAME --help``).
    """
    return " / ".join(_flags(parameter)) or f"-p {parameter.name}=VALUE"


def _needs(tool: RegisteredTool, name: str) -> str:
    """``tool 'translate' needs the parameter 'to' (--to / --target)``: how to give a required parameter."""
    from ..tools.base import missing_parameter

    parameter = next(p for p in tool.parameters if p.name == name)
    return missing_parameter(tool.name, parameter, cli_spelling)


def _all_done(rows: list[Row], out: Path | None, resume: bool, history: Any) -> bool:
    """A ``--resume`` that finds every row done ends here, before any model loads."""
    from ..batch.history import finished_already

    finished = finished_already(rows, out, resume, history)
    if finished is None:
        return False
    assert out is not None
    finish_batch(finished, out)
    return True


MODEL_FLAGS = (("model", "-m"), ("backend", "-b"), ("options", "-o"), ("verbose", "--verbose"))
"""The options that choose and tune a model: refused for a tool that declares it uses none."""
MODEL_OPTION_NAMES = frozenset(name for name, _ in MODEL_FLAGS)


def _refuse_model_options(tool_name: str, kwargs: dict[str, Any]) -> None:
    """``-m``/``-b``/``-o``/``--verbose`` with a tool that uses no model would silently do nothing: refused."""
    given = [flag for name, flag in MODEL_FLAGS if kwargs.get(name)]
    if given:
        raise click.UsageError(
            f"tool {tool_name!r} uses no model (it declares needs_model = False); drop {', '.join(given)}"
        )


def _open_engine(tool: RegisteredTool, kwargs: dict[str, Any], backend_opts: dict[str, Any]) -> Backend | None:
    """The model the tool runs on, or None for a tool that declares it needs none (nothing is loaded)."""
    if not tool.needs_model:
        return None
    from ..session import open_backend

    model_name, backend_name = resolve_model_and_backend(kwargs["model"], kwargs["backend"])
    return open_backend(model_name, backend_name, backend_opts, progress=progress_to_stderr)


def _answer_without_model(
    tool: RegisteredTool, params: dict[str, Any], kwargs: dict[str, Any], rows: list[Row], input_text: str | None
) -> bool:
    """Whether the tool settles the input (every row of a batch) without a model, so none is loaded.

    The tool decides (:meth:`~assistant.tools.registry.RegisteredTool.answer_without_model`):
    ``assistant summarize "x y z"`` loaded the model for seconds before giving its input back as
    too short. The run then asks it again, for each input: that answer is what is printed.
    """
    from ..errors import AssistantError
    from ..tools.batch import settled_without_model

    if not tool.needs_model:
        return False  # no model either way
    if kwargs["batch"]:
        return all(settled_without_model(tool, row, params, kwargs["input_field"]) for row in rows)
    assert input_text is not None
    try:
        return tool.answer_without_model(input_text, params) is not None
    except AssistantError:
        return True  # refused outright: the run says why, and no model is needed to say it


NO_INPUT = "no input: pass TEXT, '-' with text on stdin, --file PATH or --batch FILE.jsonl"


def read_input(text: str | None, file: str | None) -> str:
    """The tool's input from TEXT, ``-``/piped stdin, or --file (exactly one of them).

    Input with no text in it (``""``, an empty file, blank stdin) is a usage error
    here, before a model loads: every way of giving it is refused alike, instead
    of a blank TEXT or file costing a model load, then failing inside the tool and
    leaving an empty turn in the history.
    """
    if text is not None and file:
        raise click.UsageError("give TEXT or --file, not both")
    if file == "-" or (not file and text in ("-", None)):
        data, source = read_stdin_text(), "stdin"
        if data is None:
            raise click.UsageError(NO_INPUT)
    elif file:
        data, source = read_input_file(file, "--file"), f"--file {file}"
    else:
        data, source = text, "TEXT"
    if data is None or not data.strip():
        raise click.UsageError(f"{NO_INPUT} ({visible_text(source)} holds no text)")
    return data


def _print_progress(tool_name: str) -> Callable[[int, int, str], None]:
    def show(done: int, total: int, message: str) -> None:
        echo_untrusted(f"{tool_name}: [{done}/{total}] {message}", err=True)

    return show


# ---- commands ----------------------------------------------------------------------------
class ToolCommand(click.Command):
    """A command running one tool, with options made from the tool's parameters on first use.

    The generic ``tool`` command has no tool of its own: each invocation's NAME
    (its first argument) picks the tool whose options it gets.
    """

    def __init__(self, tool_name: str | None, help: str, short_help: str | None) -> None:
        self.tool_name = tool_name
        self._base: list[click.Parameter] | None = None
        self._base_help = help
        self._options_for: str | None = None
        """The tool whose options ``params`` holds now (None: only the common ones)."""
        super().__init__(name=tool_name or "tool", callback=self._run, help=help, short_help=short_help)
        self._params: list[click.Parameter] | None = None

    # Every registered tool gets a command, and ``assistant --help`` (or a shell completing
    # ``assistant t``) makes each one for its line of help: with the options made here, 5,000
    # tools took seconds (25 click options each). They are made when first asked for instead:
    # by the one command that runs, or shows its own help.
    @property
    def _base_params(self) -> list[click.Parameter]:
        if self._base is None:
            self._base = _common_params()
            if self.tool_name is None:
                self._base.insert(0, click.Argument(["name"]))
        return self._base

    @property  # type: ignore[override]
    def params(self) -> list[click.Parameter]:
        if self._params is None:
            self._params = list(self._base_params)
        return self._params

    @params.setter
    def params(self, value: list[click.Parameter]) -> None:
        self._params = value

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        if self.tool_name is not None:
            self._use_tool_options(self.tool_name, ctx)
        return super().get_params(ctx)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """``tool NAME ...``: once NAME is known, its parameters are options too (and in ``--help``)."""
        if self.tool_name is None:
            self._use_tool_options(self._named_tool(args), ctx)
        return super().parse_args(ctx, args)

    def _named_tool(self, args: list[str]) -> str | None:
        """NAME among ``tool``'s arguments: the first that is neither an option nor an option's value.

        Not simply the first argument: ``tool --json sentiment --labels a,b TEXT`` (common options
        before NAME) refused ``--labels`` as "No such option", its tool's options never added.
        """
        takes_value = {
            opt for p in self._base_params if isinstance(p, click.Option) and not p.is_flag for opt in p.opts
        }
        index = 0
        while index < len(args):
            arg = args[index]
            if arg == "--":
                return args[index + 1] if index + 1 < len(args) else None
            if arg.startswith("-") and arg != "-":
                index += 2 if arg in takes_value else 1  # "-m NAME"; a flag, "--model=NAME" or "-mNAME"
                continue
            return arg
        return None

    def _use_tool_options(self, name: str | None, ctx: click.Context) -> None:
        if name == self._options_for and (name is None or len(self.params) > len(self._base_params)):
            return
        from . import invocation_tools

        self._options_for = name
        self.params, self.help = list(self._base_params), self._base_help
        tool = invocation_tools(ctx).get(name) if name else None
        for param in self.params:  # a tool that uses no model: --help offers no model options (they are refused)
            if param.name in MODEL_OPTION_NAMES:
                param.hidden = tool is not None and not tool.needs_model
        if tool is None:
            return  # the callback reports the missing tool
        taken = {opt for p in self.params for opt in getattr(p, "opts", [])}
        position = 1 if self.tool_name is not None else 2  # after [NAME] TEXT: the tool's own options first
        for parameter in tool.parameters:
            option = _option_for(parameter)
            if option is not None and not taken & set(option.opts):
                self.params.insert(position, option)
                position += 1
        if tool.plugin not in ("", tool.name):
            self.help = f"{self.help}\n\nProvided by plugin {visible_text(repr(tool.plugin))}: {visible_text(tool.description)}"

    def _run(self, **kwargs: Any) -> None:
        # ``tool "" TEXT``: an empty NAME is an unknown tool like any other (an AssertionError once).
        name = kwargs.pop("name") if self.tool_name is None else self.tool_name
        run_tool_command(name, kwargs)


tool = ToolCommand(
    None,
    help="Run tool NAME on TEXT ('-' or piped stdin, --file, or --batch FILE.jsonl).\n\n"
    "Tool parameters are options (`assistant tool NAME --help` lists them) or -p key=value.",
    short_help="Run any tool by name.",
)


def tool_command(registered: RegisteredTool) -> ToolCommand:
    """The shortcut command of a registered tool (``assistant NAME``), built-in or from a plugin."""
    description = visible_text(one_line(registered.description)) or f"Run the {registered.name} tool."
    return ToolCommand(
        registered.name,
        help=f"{description}\n\nInput: TEXT, '-' or piped stdin, --file PATH, or --batch FILE.jsonl.",
        short_help=None,
    )
