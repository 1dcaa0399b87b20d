"""The ``assistant`` command line.

Start-up must stay fast (``assistant --help`` < 0.25 s): subcommands live in their
own modules and are imported only when invoked or listed; engines (torch,
llama_cpp, textual) are imported only inside the commands that use them.

Errors derived from :class:`~assistant.errors.AssistantError` become one line on
stderr and exit status 1; ``--debug`` shows the traceback instead.

Usage errors (an unknown option, a missing argument, a bad ``--choice``: click's
``UsageError``) keep click's convention, exit status 2: the command's usage line, the
``Try '… --help'`` hint, then one ``Error: …`` line. The usage line is what makes such an
error quick to fix, so it stays; the ``Error:`` line follows the rule every error line
does (one line, controls made visible: :func:`_visible_usage_error`), and click writes
no colour or other escape sequence into it.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from typing import Any

import click

from .. import __version__

# name -> "module:attribute"; each module holds one command or group.
LAZY_COMMANDS: dict[str, str] = {
    "prompt": "assistant.cli.prompt:prompt",
    "chat": "assistant.cli.chat:chat",
    "models": "assistant.cli.models:models",
    "backends": "assistant.cli.info:backends",
    "plugins": "assistant.cli.info:plugins",
    "config": "assistant.cli.info:config",
    "history": "assistant.cli.history:history",
    "templates": "assistant.cli.templates:templates",
    "tools": "assistant.cli.tools:tools",
    "tool": "assistant.cli.tools:tool",
    "compare": "assistant.cli.compare:compare",
    "attention": "assistant.cli.attention:attention",
    "tokenize": "assistant.cli.inspect_tokens:tokenize",
    "next": "assistant.cli.inspect_tokens:next_command",
}

LISTS_PLUGIN_FAILURES = frozenset({"plugins"})
"""Commands whose own output lists every plugin failure: start-up does not also warn about
them on stderr, so each failure is shown once."""


_DEBUG_META = "assistant.debug"
"""Where ``--debug`` given to any command of the invocation is noted (``Context.meta`` is shared by all of them)."""


def _note_debug(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[_DEBUG_META] = True
    return value


debug_option = click.option(
    "--debug", is_flag=True, callback=_note_debug, help="Show tracebacks instead of one-line errors."
)
"""``--debug`` on the group and on a command alike. Noted in the shared meta because the error
reaches :class:`AssistantGroup` after the command's own context is closed: its params are gone,
and ``assistant prompt --debug …`` printed one line instead of the traceback."""


def debug_enabled() -> bool:
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get(_DEBUG_META):
        return True
    from ..errors import ConfigError
    from ..option_values import env_switch

    try:
        return env_switch("ASSISTANT_DEBUG")  # `ASSISTANT_DEBUG=false` was on: anything but 0 was
    except ConfigError:  # a value that is no switch: refused as the command starts (AssistantGroup.main)
        return True


def _check_debug_variable() -> None:
    """``ASSISTANT_DEBUG=maybe`` refused in one line before any command runs (the error path reads it too,
    and must not fail itself): it was taken as on, as ``ASSISTANT_DEBUG=false`` was."""
    if os.environ.get("ASSISTANT_DEBUG", "").strip():
        from ..errors import ConfigError
        from ..option_values import env_switch

        try:
            env_switch("ASSISTANT_DEBUG")
        except ConfigError as exc:
            fail(str(exc))


def fail(message: str, code: int = 1) -> None:
    """Print one line on stderr and exit: the CLI's single error style.

    Messages can quote a server, a plugin or a file, so control characters are
    made visible and line breaks flattened: one line, whatever the message holds.
    """
    from ..terminal_text import message_line

    try:
        click.echo(f"error: {message_line(message)}", err=True)
    except BrokenPipeError:  # stderr's reader is gone (`2>&1 | head`): the error ends as the pipe did, quietly
        _leave_if_reader_gone()
        raise
    sys.exit(code)


def _visible_usage_error(exc: click.ClickException) -> None:
    """Make the controls in a click error visible, on one line, before click prints it.

    Click quotes the user's own arguments in some messages (``Got unexpected
    extra argument (…)``) raw, and a plugin command's ``ClickException`` may quote
    anything; click prints them on the terminal, where an ESC would be executed.
    The whole formatted line is made so, as ``fail`` makes its own (a quoted argument
    holding a line break split the ``Error:`` line in two), not ``exc.message`` alone:
    click's ``Missing argument 'NAME'.`` has an empty message, which came out as
    ``Missing argument 'NAME'. (no message)``. The help click shows for a group run
    without a command is a usage error too (``NoArgsIsHelpError``), whose message is
    the help: it is left as click lays it out, not flattened to one line.
    """
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        return
    from ..terminal_text import message_line

    format_message = exc.format_message
    exc.format_message = lambda: message_line(format_message())  # type: ignore[method-assign]


def _show_tracebacks_safely() -> None:
    """Print an uncaught exception's traceback with its controls made visible.

    Tracebacks are shown under ``--debug`` (and for a core command's own bug); their
    messages can quote a server's body, a GGUF's name or a user's file, and an
    ESC in them would retitle or clear the terminal of the one person reading it.
    """
    import traceback

    def show(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
        from ..terminal_text import visible_text

        text = "".join(traceback.format_exception(kind, exc, tb))
        try:
            sys.stderr.write(visible_text(text))
            sys.stderr.flush()
        except (OSError, ValueError):  # stderr gone or closed: nowhere left to say it
            pass

    sys.excepthook = show


def _visible_help(command: click.Command) -> None:
    """Make the controls in a plugin command's help (and its subcommands' and options') visible.

    Click prints a command's ``help``, ``short_help``, ``epilog``, option help and
    the names shown for values (metavars) as they are; a plugin's words are data,
    as a plugin tool's description is.
    Idempotent: visible text maps to itself.
    """
    from ..terminal_text import visible_text

    for attr in ("help", "short_help", "epilog"):
        value = getattr(command, attr, None)
        if isinstance(value, str):
            setattr(command, attr, visible_text(value))
    context = click.Context(command)
    for param in command.params:
        value = getattr(param, "help", None)
        if isinstance(value, str):
            param.help = visible_text(value)  # type: ignore[attr-defined]
        # The name shown for its value (``metavar="THING"``, a Choice's ``[a|b]``), in the usage line of
        # the help and of every usage error: it reached the terminal as the plugin wrote it.
        try:
            shown = param.make_metavar(context)
        except Exception:  # noqa: BLE001, S112 - a plugin's own ParamType.get_metavar: click says so when it shows it
            continue
        if isinstance(shown, str) and visible_text(shown) != shown:
            param.metavar = visible_text(shown)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _visible_help(sub)


def _tolerate_narrow_encodings() -> None:
    """Let stdout and stderr replace what their encoding cannot hold, instead of raising.

    Model output is any Unicode; under a Latin-1 locale or ``PYTHONIOENCODING=ascii``
    the first emoji of a reply raised ``UnicodeEncodeError`` mid-stream, a traceback
    instead of the rest of the answer. Such characters print as ``?`` there; UTF-8
    streams are left exactly as they are.
    """
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("_", "-")
        reconfigure = getattr(stream, "reconfigure", None)
        if encoding in ("utf-8", "utf8") or reconfigure is None or getattr(stream, "errors", "") != "strict":
            continue
        try:
            reconfigure(errors="replace")
        except (ValueError, OSError):  # a detached or closed stream: nothing to print to anyway
            pass


_STD_STREAMS = ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w"))


def _fill_closed_std_streams() -> list[str]:
    """Put /dev/null where the shell closed stdin, stdout or stderr (``<&-``, ``>&-``, ``2>&-``); their names.

    Python leaves ``sys.stdin`` & co. ``None`` then, and every ``sys.stdin.isatty()``
    or ``sys.stderr.flush()`` raised AttributeError: ``assistant chat <&-`` was a
    traceback, ``assistant prompt hi 2>&-`` a "backend failed to load" error (the
    llama.cpp import silences stderr). Worse, the closed descriptor is the lowest free
    one, so the next file opened (the history database, a model) would take it and get
    whatever C code writes to "stderr". Closed stdin then reads as empty, as ``</dev/null``.
    """
    closed = []
    for fd, name, mode in _STD_STREAMS:
        if getattr(sys, name) is not None:
            continue
        closed.append(name)
        try:
            os.fstat(fd)
        except OSError:  # still free: fill it, so no later file lands there
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
        else:  # already taken by something else: leave that alone, and read or write /dev/null instead
            fd = os.open(os.devnull, os.O_RDWR)
        setattr(sys, name, open(fd, mode, encoding="utf-8", errors="replace", closefd=False))
    return closed


_TOOLS_META = "assistant.tools"
"""Where one invocation keeps the registered tools (``Context.meta`` is shared by its contexts)."""
_TOOL_NAMES_META = "assistant.tool_names"

_COMMAND_NAME = re.compile(r"[a-z][a-z0-9_-]*")
"""A plugin command's name: what a shell user types and ``--help`` lists on one line (as tool names)."""


class AssistantGroup(click.Group):
    """A click group with lazily imported commands and the error boundary."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if "stdout" in _fill_closed_std_streams():
            # As ``ls >&-`` does: whatever the command prints would be lost (a reply, an export).
            fail("stdout is closed (>&-): the output would be lost; redirect it to a file, or to /dev/null to drop it")
        _tolerate_narrow_encodings()
        _show_tracebacks_safely()
        _check_debug_variable()
        return super().main(*args, **kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.ClickException as exc:  # the top level's own usage errors
            _visible_usage_error(exc)
            raise
        except BrokenPipeError:  # `assistant --help | head -1`: the help is printed while parsing
            _leave_if_reader_gone()
            raise
        except OSError as exc:  # `assistant --help > /dev/full` (or --version) ended in a traceback
            _drop_unwritable_stdout()
            fail(f"cannot write to standard output: {exc.strerror or exc}")

    _plugins_loaded = False
    _plugins_registering = False
    plugin_commands: dict[str, str] = {}
    """Command name -> the plugin that added it, for naming the plugin when its command fails."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """A command; while plugins register theirs, one named like a core command is refused.

        A refusal is recorded as the registering plugin's failure (reported by name)
        and only that command is skipped: raised, it ended the plugin's hook, and the
        commands it added after the refused one went missing without a word.
        ``assistant models`` stays the core command. Of two plugins adding one name
        the later-loaded keeps it, as for backends and tools: pluggy calls it first, so
        a name already added during registration is left as it is; one plugin adding a
        name twice is reported, its first command kept.
        """
        if AssistantGroup._plugins_registering and not isinstance(cmd, click.Command):
            from ..plugins import refuse_registration

            # Else an AttributeError ('int' object has no attribute 'name') ended the plugin's hook,
            # and the commands it added after this one went missing.
            given = type(cmd).__name__
            refuse_registration(f"cli.add_command takes a click command (@click.command()), got {given}")
            return
        name = name or cmd.name
        if AssistantGroup._plugins_registering:
            from ..plugins import current_plugin_name, refuse_registration

            if not isinstance(name, str) or not _COMMAND_NAME.fullmatch(name):
                # An ESC in a name reached the terminal in `assistant --help`; a newline split its listing.
                shown = ascii(name) if isinstance(name, str) else type(name).__name__
                refuse_registration(f"command name must be lower-case letters, digits, '-' or '_', got {shown}")
                return
            if name in LAZY_COMMANDS:
                refuse_registration(f"command {name!r} is a core command; a plugin cannot replace it")
                return
            if name in AssistantGroup.plugin_commands:
                if AssistantGroup.plugin_commands[name] == current_plugin_name():
                    refuse_registration(f"registers command {name!r} twice: the first is kept, the second ignored")
                return
            AssistantGroup.plugin_commands[name] = current_plugin_name()
        super().add_command(cmd, name)

    def _load_plugin_commands(self, warn: bool = True) -> None:
        """Run ``register_commands``; with ``warn``, plugin failures (now and later) become stderr warnings."""
        if AssistantGroup._plugins_loaded:
            return
        AssistantGroup._plugins_loaded = True
        from ..errors import AssistantError
        from ..plugins import call_registration_hook, report_failures
        from .common import echo_untrusted

        try:
            AssistantGroup._plugins_registering = True
            try:
                call_registration_hook("register_commands", self, arg_name="cli")
            finally:
                AssistantGroup._plugins_registering = False
            if warn:
                report_failures(lambda line: echo_untrusted(line, err=True))
        except AssistantError as exc:  # ASSISTANT_STRICT_PLUGINS=1: a broken plugin stops every command
            if debug_enabled():
                raise
            fail(str(exc))

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS) | set(self._tool_names(ctx)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            module_name, attr = LAZY_COMMANDS[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module_name), attr), cmd_name)
        # Plugins load here so their commands resolve and their failures are
        # reported (once: on stderr, or in the output of a command that lists them) whatever command runs.
        self._load_plugin_commands(warn=cmd_name not in LISTS_PLUGIN_FAILURES)
        if cmd_name not in self.commands and cmd_name in self._tool_names(ctx):
            from .tools import tool_command

            self.add_command(tool_command(self._tools(ctx)[cmd_name]), cmd_name)
        command = super().get_command(ctx, cmd_name)
        if command is not None and cmd_name in AssistantGroup.plugin_commands:
            _visible_help(command)  # here, not in add_command: a plugin's group gets its subcommands later
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """click's, with its did-you-mean drawn from every command.

        click offers only the commands already in ``self.commands``, and the core
        commands are imported lazily, so ``assistant promt`` suggested nothing while
        ``assistant templates lst`` (an ordinary group) suggested ``list``.
        """
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:
            if exc.possibilities:
                raise
            raise click.exceptions.NoSuchCommand(
                exc.command_name, possibilities=self.list_commands(ctx), ctx=ctx
            ) from None

    def _tools(self, ctx: click.Context) -> dict[str, Any]:
        return invocation_tools(ctx)

    def _tool_names(self, ctx: click.Context) -> set[str]:
        """Every registered tool gets a shortcut command, unless a command of that name exists.

        Kept for the invocation with the tools: the plugins' commands are added before it
        is first asked, and only tool commands are added after.
        """
        names = ctx.meta.get(_TOOL_NAMES_META)
        if names is None:
            tool_command_type = _tool_command_type()
            names = {
                name
                for name in self._tools(ctx)
                if name not in LAZY_COMMANDS and name not in self.commands
                or isinstance(self.commands.get(name), tool_command_type)
            }
            ctx.meta[_TOOL_NAMES_META] = names
        return names  # type: ignore[no-any-return]

    def invoke(self, ctx: click.Context) -> Any:
        from ..config import config_warnings
        from ..errors import AssistantError
        from .common import echo_untrusted

        try:
            for line in config_warnings():  # inside: a stderr whose reader is gone stops quietly here too
                echo_untrusted(line, err=True)
            return super().invoke(ctx)
        except AssistantError as exc:
            if debug_enabled():
                raise
            fail(str(exc))
        except KeyboardInterrupt:
            if debug_enabled():
                raise
            click.echo("\ninterrupted", err=True)
            sys.exit(130)
        except OSError as exc:
            if debug_enabled():
                raise
            if isinstance(exc, BrokenPipeError):
                _leave_if_reader_gone()  # else another pipe broke (a plugin's, a socket): said as any error is
            _drop_unwritable_stdout()
            where = f"{exc.filename}: " if exc.filename else ""
            fail(f"{where}{exc.strerror or exc}")
        except click.exceptions.ClickException as exc:
            _visible_usage_error(exc)
            raise
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            # A plugin command's own bug is reported by name in one line, as a plugin tool's is;
            # a core command's is a bug here, and keeps its traceback.
            plugin = AssistantGroup.plugin_commands.get(ctx.invoked_subcommand or "")
            if plugin is None or debug_enabled():
                raise
            from ..terminal_text import one_line

            message = one_line(str(exc)) or "(no message)"
            fail(f"command {ctx.invoked_subcommand!r} (plugin {plugin!r}) failed: {type(exc).__name__}: {message}")


def invocation_tools(ctx: click.Context | None = None) -> dict[str, Any]:
    """The registered tools, asked of the plugins once per invocation (kept in ``ctx.meta``).

    Asked per command instead, ``assistant --help`` ran every ``register_tools`` hook
    once for each command it listed, and each run registers every tool again: with a
    plugin registering 300 tools it took 40 s, with 5,000 it never finished. A tool's
    own command asks here too (its options, then its run): each ``available_tools()``
    call checks every tool again, half a second with 5,000 of them.
    A broken plugin leaves ``{}`` (strict plugins) or its tools out: it is reported by
    name elsewhere, and the other commands still work.
    """
    from ..errors import AssistantError
    from ..tools import available_tools

    ctx = ctx or click.get_current_context(silent=True)
    tools = ctx.meta.get(_TOOLS_META) if ctx is not None else None
    if tools is None:
        try:
            tools = available_tools()
        except AssistantError:
            tools = {}
        if ctx is not None:
            ctx.meta[_TOOLS_META] = tools
    return tools  # type: ignore[no-any-return]


READER_GONE_STATUS = 128 + 13
"""The exit status when the reader of stdout or stderr stopped early (``assistant … | head``): 141,
as for a command killed by SIGPIPE (``cat``, ``grep``), which is what a shell reports for them. Not
0: the command did not finish (a batch's later rows never ran); not 1, which says something failed."""


def _reader_gone(stream: Any) -> bool:
    """Whether ``stream`` is a pipe (or socket) nobody reads any more: a write to it fails with EPIPE.

    Asked of the descriptor itself (``poll`` reports an error on a pipe without readers), so a
    broken pipe that is not stdout's or stderr's (a plugin's socket) is not taken for the user's ``| head``.
    """
    import select

    try:
        fd = stream.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        events = poller.poll(0)
    except (AttributeError, OSError, ValueError):  # no descriptor (a test's buffer), or one already closed
        return False
    return any(mask & (select.POLLERR | select.POLLHUP) for _, mask in events)


def _leave_if_reader_gone() -> None:
    """``assistant … | head``: stop quietly, with status 141, when stdout's or stderr's reader is gone.

    No traceback and no message (there is no one to read it). What the command writes to files
    is closed by the unwinding that brought the error here (a batch's ``--output`` holds every
    finished row; ``--resume`` runs the rest), a streamed reply is recorded as interrupted, and the
    engine is unloaded. Each gone stream is pointed at /dev/null, so the output still buffered for
    it is not written again at exit (Python's "Exception ignored … BrokenPipeError").
    """
    gone = [stream for stream in (sys.stdout, sys.stderr) if _reader_gone(stream)]
    if not gone:
        return
    with open(os.devnull, "w") as devnull:
        for stream in gone:
            try:
                os.dup2(devnull.fileno(), stream.fileno())
            except (OSError, ValueError):
                pass
    sys.exit(READER_GONE_STATUS)


def _drop_unwritable_stdout() -> None:
    """Point stdout at /dev/null when it refuses writes (a full disk), so exiting does not try its buffer again."""
    try:
        sys.stdout.flush()
    except OSError:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), sys.stdout.fileno())


def _tool_command_type() -> type:
    from .tools import ToolCommand

    return ToolCommand


@click.group(cls=AssistantGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="assistant")
@debug_option
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """A local-first terminal chat assistant with prompt tooling.

    Run with no command to open the chat.
    """
    if ctx.invoked_subcommand is None:
        chat = ctx.command.get_command(ctx, "chat")  # type: ignore[union-attr]
        assert chat is not None
        ctx.invoke(chat)
