"""Options and helpers shared by the commands: model options, stdin, and the output boundary.

Output boundary: every line the CLI prints that carries text it did not write
itself (model replies, stored history, tool results, plugin and server messages,
file contents) goes through :func:`echo_untrusted` or :func:`echo_json`, so a
reply containing ``ESC ] 0 ; … BEL`` cannot retitle or clear the user's terminal
— on a terminal and in a pipe alike. The database keeps the raw text.
"""

from __future__ import annotations

import io
import signal
import sys
import threading
from typing import Any, Callable

import click

from ..config import default_backend
from ..files import names_a_directory
from ..input_files import MAX_INPUT_BYTES, read_input_file, read_limited  # noqa: F401 (the commands import them from here)
from ..terminal_text import json_text, visible_text

F = Callable[..., Any]


SAMPLING_OPTION_HELP = (
    "Sampling parameter (max_tokens, temperature, top_k, top_p, seed, stop, "
    "repeat_penalty, logprobs) or backend option (n_ctx, n_threads, device, ...)."
)
ENGINE_OPTION_HELP = "Backend option (n_ctx, n_threads, device, ...); the tool sets its own sampling."


def model_options(func: F | None = None, *, sampling: bool = True) -> Any:
    """``-m``, ``-b``, ``-o key=value`` and ``--verbose``: choose and tune the model.

    ``sampling=False`` for commands that refuse sampling parameters (the tools
    choose their own): their ``-o`` help must not offer what they refuse.
    """
    if func is None:
        return lambda undecorated: model_options(undecorated, sampling=sampling)
    decorators = [
        click.option(
            "-m", "--model", type=NAME, default=None,
            help="Catalog name, .gguf file or path, hf:ORG/REPO[/FILE.gguf] or URL (docs/models.md; default: ASSISTANT_MODEL, else config default_model, else smollm2).",
        ),  # fmt: skip
        click.option(
            "-b", "--backend", type=NAME, default=None, help="Backend name (see `assistant backends`)."
        ),
        click.option(
            "-o",
            "--option",
            "options",
            multiple=True,
            metavar="KEY=VALUE",
            help=SAMPLING_OPTION_HELP if sampling else ENGINE_OPTION_HELP,
        ),
        click.option("--verbose", is_flag=True, help="Show the engine's own logs."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def resolve_model_and_backend(
    model: str | None, backend: str | None, resumed_backend: str | None = None
) -> tuple[str, str]:
    """``-m``/``-b`` as given, else the defaults; the default model depends on the backend.

    A remote backend gets ``""`` when no model is configured, meaning the server's own model
    (see :func:`assistant.backends.default_model_for`). Without ``-b``, a model that names a
    ``[remotes.NAME]`` table (given, or the configured default) is on the server backend.

    ``resumed_backend`` is the backend of the conversation continued (``-c``, or the chat app's
    last settings): it stands in for ``-b``, but after a remote that ``-m`` names. As a plain ``-b``
    it made ``prompt -c -m lab``, after a local conversation, "unknown model 'lab' …; add -b openai",
    where ``prompt -m lab`` alone runs on the remote.
    """
    if model:
        return model, backend or remote_backend(model) or resumed_backend or _known_default_backend()
    backend = backend or resumed_backend
    backend_name = backend or _known_default_backend()
    from ..backends import default_model_for

    chosen = default_model_for(backend_name)
    return chosen, (backend or (remote_backend(chosen) if chosen else None) or backend_name)


def resumed_choice_hint(exc: Exception, history: Any, model: str | None, backend: str | None) -> Exception:
    """``exc`` (a model or backend not found), saying so when the resumed conversation chose it, not -m/-b.

    ``prompt -c`` after the conversation's backend (a plugin's) was removed said "unknown
    backend 'fake'", and after its model file was deleted "unknown model 'm'": names the user
    never typed, with no word of ``-b``/``-m``, which continue it on another.
    """
    from ..errors import BackendNotFoundError, ModelNotFoundError

    conversation = getattr(history, "conversation", None)
    if conversation is None:
        return exc
    number = conversation.id
    if isinstance(exc, BackendNotFoundError) and backend is None:
        return BackendNotFoundError(f"{exc}; conversation {number} ran on it: continue it on another with -b")
    if isinstance(exc, ModelNotFoundError) and model is None:
        return ModelNotFoundError(f"{exc}; conversation {number} used it: continue it with another with -m")
    return exc


def _known_default_backend() -> str:
    """The default backend, refused by where it was set when no backend has that name.

    ``ASSISTANT_BACKEND=lama-cpp`` in a shell profile was "unknown backend 'lama-cpp'"
    for a command with no ``-b`` at all, which left the user looking for a typo they never typed.
    """
    from ..backends import available_backends
    from ..config import default_backend_source
    from ..errors import BackendNotFoundError

    name = default_backend()
    source = default_backend_source()
    if source is not None and name not in (found := available_backends()):
        known = ", ".join(sorted(found)) or "none"
        raise BackendNotFoundError(f"unknown backend {name!r}, set by {source} (available: {known})")
    return name


def remote_backend(model: str) -> str | None:
    """The server backend when ``-m NAME`` or ``-m NAME/MODEL`` names a ``[remotes.NAME]`` table (no ``-b``).

    ``-m lab/llama3`` can only mean the remote: asking for ``-b openai`` as well
    would only restate it. A local file of that path still wins, as ``-m`` takes paths.
    ``models default`` asks too: what ``-m`` runs on a remote is a default it writes as given.
    """
    from pathlib import Path

    from ..config import check_remote_reference, remote_table_names, remotes
    from ..errors import AssistantError

    prefix = model.partition("/")[0]
    try:
        if not prefix or Path(model).expanduser().exists():
            return None
    except OSError:  # a name no file system takes (too long): not a file, then
        pass
    try:
        named = remotes()
    except AssistantError:  # a malformed [remotes] table: reported here when -m names a remote, used or not
        if prefix in remote_table_names():  # (else `-m loc` read as a model: "unknown model 'loc'")
            raise
        return None
    if prefix not in named:
        check_remote_reference(model)  # -m a/b for a [remotes."a/b"] table: the name, not "unknown model"
        return None
    from ..backends.openai.settings import BACKEND_NAME

    return BACKEND_NAME


CHAT_SYSTEM_HELP = (
    "With --chat: the system message (default: config `default_system`; '' sends none, "
    "and the model's chat template may then add its own, as SmolLM2's does)."
)
"""``-s`` of the inspection commands. ``''`` sends no system message, exactly as
``assistant prompt -s ''`` does; what the model then sees is up to its chat
template, and the shown prompt must not be called empty when the template adds a
default of its own."""


mode_option = click.option(
    "--mode",
    type=click.Choice(["chat", "completion"]),
    default=None,
    help="chat: turns in the model's template; completion: TEXT continued as is (default: for base models).",
)
"""``--mode``: how TEXT is put to the model, for every command that sends it (models/mode.py decides the default)."""


def message_prompt(text: str, system: str | None, mode: str) -> Any:
    """TEXT as a command sends it in ``mode``: one turn (:func:`one_turn`), or the text itself for a base model.

    An explicit ``-s`` in completion mode is refused rather than dropped: a base
    model continues TEXT as is, and there is no system message to put it in.
    """
    if mode == "completion":
        if system:
            raise click.UsageError("-s/--system needs chat mode: in completion mode TEXT is continued as is (--mode chat)")
        return text
    return one_turn(text, system)


def one_turn(text: str, system: str | None) -> list[Any]:
    """TEXT as ``assistant prompt`` sends it: the system prompt (``-s``, else the configured one), then TEXT.

    ``-s ''`` gives no system message (the model's chat template may still add
    its own default). The inspection commands show the exact prompt a message
    gets, so they build it here too.
    """
    from ..config import default_system_prompt
    from ..types import Message

    system = default_system_prompt() if system is None else system
    return [*([Message("system", system)] if system else []), Message("user", text)]


def read_stdin_text() -> str | None:
    """Piped stdin as text (invalid UTF-8 becomes U+FFFD), or None for a terminal.

    A stdin that cannot be read is one line naming stdin: opened for writing only
    (``0>file``) it was "error: Bad file descriptor", which did not say what was bad.
    (Stdin redirected from a directory never gets here: Python itself stops at
    start-up with "Fatal Python error: init_sys_streams".)
    """
    stream = sys.stdin
    if stream is None or stream.isatty():
        return None
    if hasattr(stream, "buffer"):
        try:
            return read_limited(stream.buffer, "the input on stdin")
        except OSError as exc:
            from ..errors import ConfigError

            raise ConfigError(f"cannot read the input on stdin: {exc.strerror or exc}") from None
    text = stream.read(MAX_INPUT_BYTES + 1)  # a text stream (tests): the same limit, in characters
    return read_limited(io.BytesIO(text.encode("utf-8", errors="replace")), "the input on stdin")


class CtrlC:
    """Ctrl-C from the model's load to the reply's end, made to stop the command every time.

    llama.cpp calls back into Python while it loads (its log callback) and decodes
    (its abort callback); a KeyboardInterrupt raised in a callback is dropped by
    ctypes ("Exception ignored on calling ctypes callback function"): the reply went
    on to max_tokens and the command exited 0. So each press is noted; once the engine
    is loaded a press cancels it (the stream ends cleanly and the turn is recorded as
    interrupted) instead of raising, and :meth:`check` raises for a press that was lost.
    A second press raises at once, for a backend that does not stop.

    ``at_once=True`` (the inspection commands, which record nothing) raises at the
    first press too, after cancelling the engine: llama.cpp reading a long prompt for
    ``assistant next`` does not look at the cancel, and stopping only at a second press
    made a Ctrl-C wait minutes. Where the raise is dropped (inside a callback) the
    cancel still stops the engine, and :meth:`check` raises afterwards.
    """

    def __init__(self, *, at_once: bool = False) -> None:
        self.pressed = threading.Event()
        self.engine: Any = None
        self.at_once = at_once
        self._previous: Any = None
        self._previous_hook: Any = sys.unraisablehook
        self._installed = False

    def install(self) -> "CtrlC":
        try:
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            self._installed = True
        except ValueError:  # not the main thread (an embedding program): Python's own handling stays
            return self
        self._previous_hook = sys.unraisablehook
        sys.unraisablehook = self._unraisable
        return self

    def restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            sys.unraisablehook = self._previous_hook
            self._installed = False

    def _unraisable(self, info: Any) -> None:
        """A press raised inside an engine's C callback is not printed: it was noted, and the engine cancelled.

        ctypes drops an exception raised in a callback and prints "Exception ignored on
        calling ctypes callback function" with a traceback: Ctrl-C on ``assistant next``
        while llama.cpp read the prompt (its abort callback runs Python between two graph
        nodes) printed six lines of traceback above "interrupted".
        """
        if isinstance(info.exc_value, KeyboardInterrupt) and self.pressed.is_set():
            return
        self._previous_hook(info)

    def attach(self, engine: Any) -> None:
        """The engine is loaded: a press now cancels it; one dropped during the load stops here (unloaded)."""
        self.engine = engine
        try:
            self.check()
        except KeyboardInterrupt:
            engine.unload()
            raise

    def renew(self) -> None:
        """Cancel the engine again for a press it has forgotten; called for each streamed piece.

        An engine clears its cancel as a reply starts (``Backend.stream``), so a press
        after the load but before that (while the prompt was counted and fitted, the
        user's message stored: seconds for a long piped text) was lost, and the reply
        went on to max_tokens before the command stopped as "interrupted".
        """
        if self.pressed.is_set() and self.engine is not None:
            self.engine.cancel()

    def check(self) -> None:
        """Raise KeyboardInterrupt for a press that has not stopped the command yet."""
        if self.pressed.is_set():
            raise KeyboardInterrupt

    def detach(self) -> None:
        """The engine was unloaded: a press now raises at once, instead of cancelling an engine that is gone.

        For a command that loads one engine after another (``assistant compare``): a press
        between the two would only have been noticed once the second one had loaded.
        """
        self.engine = None

    def __enter__(self) -> "CtrlC":
        """``with CtrlC(at_once=True) as ctrl_c:`` around a command's engine work (the inspection commands).

        Leaving the block restores the previous handler. A press the engine answered by
        cancelling (``next`` ends in "the next-token computation was cancelled", ``compare``'s
        reply in ``cancelled``) or by finishing anyway leaves as :class:`KeyboardInterrupt`: the
        command's one ``interrupted`` line and status 130, never an error or a full report.
        """
        return self.install()

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        self.restore()
        if self.pressed.is_set() and not isinstance(error, KeyboardInterrupt):
            raise KeyboardInterrupt from error

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self.pressed.is_set() or self.engine is None:
            self.pressed.set()
            raise KeyboardInterrupt
        self.pressed.set()
        self.engine.cancel()
        if self.at_once:
            raise KeyboardInterrupt


def progress_to_stderr(message: str) -> None:
    """Engine progress lines; they can quote a model file's own metadata or name, so shown made visible and
    on one line each (:func:`~assistant.terminal_text.message_line`): a file named ``a\\nconverting b`` printed
    a second, made-up progress line."""
    from ..terminal_text import message_line

    click.echo(message_line(message), err=True)


def colour_on(stream: Any) -> bool:
    """Whether ``stream`` may get ANSI colours: a terminal, without ``NO_COLOR`` (no-color.org) or ``TERM=dumb``.

    ``assistant prompt --probs`` printed its SGR backgrounds to a dumb terminal,
    which shows them as ``^[[30;46m`` around every token, and ignored ``NO_COLOR``,
    which the chat app (Textual) and the attention heatmap (Rich) honour.
    """
    import os

    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():
        return False
    return not os.environ.get("NO_COLOR") and os.environ.get("TERM", "") != "dumb"


def echo_untrusted(text: str, *, nl: bool = True, err: bool = False) -> None:
    """Print text that came from a model, the history, a tool, a plugin or a file.

    Control characters are made visible (:func:`~assistant.terminal_text.visible_text`);
    ``click.echo`` flushes, so streamed pieces appear as they arrive. A CRLF line end
    (a translated Windows file, a server's reply) is a line end, not ``␍`` before each
    newline: on a terminal an LF, and into a file or pipe the CRLF itself (``translate --file
    windows.txt > out.txt`` kept its line ends only in ``--json`` before); a lone CR, which would
    overwrite the line on a terminal, still shows as ``␍``.
    """
    stream = sys.stderr if err else sys.stdout
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream: as on a terminal
        terminal = True
    line_end = "\n" if terminal else "\r\n"
    parts = text.split("\r\n")
    last = len(parts) - 1
    shown = []
    for i, part in enumerate(parts):
        # Made visible with its line ends beside it, as in the whole text: alone, a part's start counted
        # as the text's, where one joiner is kept, so a joiner after a CRLF passed unseen.
        before, after = ("\n" if i else ""), ("\n" if i < last else "")
        visible = visible_text(before + part + after)
        shown.append(visible[len(before) : len(visible) - len(after)])
    click.echo(line_end.join(shown), nl=nl, err=err)


def echo_json(data: Any, *, indent: int | None = 2, err: bool = False) -> None:
    """Print ``data`` as JSON: the text is kept exactly, escaped where a terminal would act on it."""
    click.echo(json_text(data, indent=indent), err=err)


class UnicodeText(click.ParamType):
    """A text argument that must be valid Unicode.

    Python turns argv bytes that are not UTF-8 into lone surrogates
    (``$'caf\\xe9'`` -> ``'caf\\udce9'``), which no tokenizer, database or
    terminal can take. Refused here, where they enter, with the position.
    Raises :class:`~assistant.errors.ConfigError` (one line, exit 1), not a usage error.
    """

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        from ..errors import ConfigError
        from ..text_checks import invalid_unicode

        problem = invalid_unicode(value)
        if problem:
            raise ConfigError(f"{_param_label(param)} is not valid UTF-8 ({problem}); check the terminal's encoding")
        return value


def _param_label(param: click.Parameter | None) -> str:
    """How an error from a shared option type names the option: every spelling, as declared.

    Why: the first spelling alone named ``-n`` to a user who had typed ``--limit 0``
    (``-n must be a whole number …``), an option they never wrote; click does not say
    which spelling was typed, so all of them are named (``-n/--limit``, as ``-m/--model``).
    """
    if param is None:
        return "an argument"
    if isinstance(param, click.Argument):
        return param.human_readable_name.upper()
    return "/".join(param.opts)


TEXT = UnicodeText()


class NameText(UnicodeText):
    """A name an option picks (``-m``, ``-b``, ``--quant``): valid Unicode, and not empty.

    ``-m "$MODEL"`` with ``MODEL`` unset passes ``""``, which reads as "not given": the
    default model ran, and the reply looked like the one asked for. Refused here instead,
    naming the option (``-m/--model: empty value``); leave the option out for the default.
    """

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        value = super().convert(value, param, ctx)
        if isinstance(value, str) and not value.strip():
            from ..errors import ConfigError

            raise ConfigError(f"{_param_label(param)}: empty value (leave the option out for the default)")
        return value


NAME = NameText()


class FilePath(click.Path):
    """:class:`click.Path` that refuses an empty name.

    ``--out "$OUT"`` with ``OUT`` unset passes ``""``: click made it ``.``
    (``--out . is a directory``), and ``--file ""`` read stdin instead, ending in
    "stdin holds no text". Nor a name ending in a separator (``--out results/``),
    which click would turn into a file named ``results``. The option is named
    instead, with what was wrong.
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("needs a file name, not an empty string", param, ctx)
        if isinstance(value, str) and value != "-" and names_a_directory(value):
            self.fail(f"{value} names a directory (it ends in a separator); give a file name", param, ctx)
        return super().convert(value, param, ctx)


SQLITE_MAX_INT = 2**63 - 1  # ids and counts past this cannot reach SQLite (OverflowError)


class WholeNumber(click.ParamType):
    """A whole number in ``[minimum, SQLITE_MAX_INT]``: conversation ids, ``-n`` counts.

    Out-of-range or malformed values are a :class:`~assistant.errors.ConfigError`
    (one line, exit 1) naming the option, instead of an OverflowError from SQLite
    or a silently clamped ``-n -5``.
    """

    name = "integer"

    def __init__(self, minimum: int = 1) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from ..errors import ConfigError

        if isinstance(value, int) and not isinstance(value, bool):
            number: int | None = value
        else:
            # ASCII digits only: int() would also take "９" (full width), "1_0" and "+5", so a
            # typo could open another conversation than the one the user read.
            text = str(value).strip()
            number = int(text) if text.isascii() and text.isdigit() else None
        if number is None or not self.minimum <= number <= SQLITE_MAX_INT:
            shown = visible_text(str(value))  # already escaped: quoted, not repr'd (which doubled each backslash)
            raise ConfigError(
                f"{_param_label(param)} must be a whole number from {self.minimum} to {SQLITE_MAX_INT}, not '{shown}'"
            )
        return number


ROW_ID = WholeNumber(1)
COUNT = WholeNumber(1)
