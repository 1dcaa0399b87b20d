"""F2: the settings panel — model, backend, template and sampling parameters.

Returns a :class:`SettingsChoice` (or None on cancel); the chat screen applies
it: parameters and template at once, a model or backend change by loading the
new engine in a worker while the conversation stays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Select, Static

from ...errors import AssistantError, ConfigError, TemplateError
from ...option_values import float_from_text, int_from_text
from ...types import GenerationParams
from ..pickers import SettingsOptions
from ..templating import (
    VARIABLES_FIELD,
    check_variables,
    format_variables,
    load_chat_template,
    parse_variables,
)
from ..text import visible_line, visible_text
from ..widgets.border_text import longest_fitting
from ..widgets.key_order import LineInput
from .help import HELP_BINDING, ViewHelp

CHAT_TEMPLATE = ""
"""Select value meaning "no template: plain chat"."""
PULL_CHOICE = "\x00pull"
"""The model list's "pull…" entry: the reference is typed in the field below and pulled when loading."""
MODEL_DEFAULT_MODE = ""
"""Mode select value meaning "whatever the model is": completion for base models, else chat."""
MODE_CHOICES = [
    ("the model's default (completion for base models)", MODEL_DEFAULT_MODE),
    ("chat: turns in the model's template", "chat"),
    ("completion: the text continued as is", "completion"),
]


@dataclass(frozen=True)
class SettingsChoice:
    model: str
    backend: str
    template: str | None
    params: GenerationParams
    system: str | None
    variables: dict[str, str] = field(default_factory=dict)
    mode: str | None = None
    """``chat`` or ``completion``; None: the model's default (:mod:`assistant.models.mode`)."""


REFERENCE_FIELD = "…or reference"
"""The field under the model list for a path, ``hf:`` reference or URL: its errors name it."""

SERVERS_OWN_MODEL = "the server's own model"
"""How the model list shows ``""``: no model named, a server (``-b openai``) uses the one it serves."""


def _with_current(options: list[tuple[str, str]], current: str) -> list[tuple[Text, str]]:
    """``options`` with the current value first when it is not among them (a list must hold its value).

    Labels as ``Text``: a Select reads a string as markup, and these are file names, references
    and plugins' descriptions (``m[Q4_K_M].gguf`` lost its bracket; a ``[/b]`` in one closed the app).
    """
    if all(value != current for _, value in options):
        options = [(current or SERVERS_OWN_MODEL, current), *options]
    return [(Text(visible_line(label)), value) for label, value in options]


FIELD_LABELS = {
    "temperature": "Temperature",
    "top_k": "Top-k",
    "top_p": "Top-p",
    "max_tokens": "Max new tokens",
    "seed": "Seed",
}
"""Each sampling field's label in the panel: an error names the field as the panel shows it."""


class FieldError(ConfigError):
    """A bad value in one field of the panel (``field``: its widget id, focused so it can be fixed)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _named(field: str, message: str) -> FieldError:
    """``message`` about option ``field`` (``top_k must be >= 0``), starting with the field's label instead."""
    label = FIELD_LABELS.get(field, field)
    if message.startswith(field):
        message = label + message[len(field) :]
    elif not message.startswith(label):
        message = f"{label}: {message}"
    return FieldError(field, message)


def _shown(value: float) -> str:
    """``value`` as the panel shows it: short (``0.7``, ``1``) yet exact: an unchanged panel changes nothing.

    ``:g`` keeps six digits: ``-o temperature=0.123456789`` came back from an untouched
    panel as 0.123457, a setting the user never chose (and a cached prompt's params changed).
    """
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def parse_params(values: dict[str, str], base: GenerationParams) -> GenerationParams:
    """Typed, validated parameters from the panel's text fields (errors name the field, as labelled).

    Ranges are :meth:`GenerationParams.validate`'s, checked one field at a
    time so the error can say which field holds the bad value.
    """
    params = base
    for name, cast, kind in (
        ("temperature", float_from_text, "a number"),
        ("top_k", int_from_text, "a whole number"),
        ("top_p", float_from_text, "a number"),
        ("max_tokens", int_from_text, "a whole number"),
    ):
        raw = values[name].strip()
        try:
            value = cast(raw)
        except ValueError:
            raise _named(name, f"{name} must be {kind}, not {raw!r}") from None
        if isinstance(value, float) and math.isinf(value) and "inf" not in raw.lower():
            # 1e999 is a float too large (inf): "not inf" named a value the user never typed
            raise _named(name, f"{name} must be a finite number, not {raw!r} (too large)")
        try:
            params = params.replace(**{name: value})
        except ConfigError as exc:
            raise _named(name, str(exc)) from None
    raw_seed = values["seed"].strip()
    if raw_seed.lower() in ("", "none", "random"):
        seed = None
    else:
        try:
            seed = int_from_text(raw_seed)
        except ValueError:
            raise _named("seed", f"seed must be a whole number or empty, not {raw_seed!r}") from None
    try:
        return params.replace(seed=seed)
    except ConfigError as exc:
        raise _named("seed", str(exc)) from None


SHORT_HEIGHT = 40
"""Rows under which the fields go without a blank line between them: with it, on a 30-row screen the
buttons and the sampling fields were out of sight (80x24: everything under top-k) until scrolled to."""


LINE_BREAK = "⏎"
"""How a field of the panel (one line) shows a line break of its value: the system prompt's, a paste's."""


class FieldInput(LineInput):
    """A field of the panel: what is pasted into it comes with its control characters made visible.

    A text field draws its value as is: terminal output pasted into one (``\\x1b[31m0.7``)
    restyled the terminal. The paste is :func:`visible_text`'s (``␛[31m0.7``), which the
    field's checks then name, as they name any other character a value cannot hold. Its line
    breaks are :data:`LINE_BREAK` (:meth:`shown`): the field kept a paste's first line only.
    """

    @staticmethod
    def shown(text: str) -> str:
        """``text`` as a field shows it: one line, controls visible, each line break :data:`LINE_BREAK`.

        A field is one line: a system prompt of two lines (``-s``, a stored conversation's) was drawn
        with its second line over the panel's border and the screen beside it, and a paste of several
        lines lost all but the first (a system prompt, ``Template vars`` one per line).
        """
        return LINE_BREAK.join(visible_text(text).splitlines())

    @property
    def typed(self) -> str:
        """The field's text with its :data:`LINE_BREAK` marks as the line breaks they show."""
        return self.value.replace(LINE_BREAK, "\n")

    def _on_paste(self, event: events.Paste) -> None:
        event.prevent_default()  # Input's own handler, run after this one, would insert the text as is
        event.stop()
        super()._on_paste(events.Paste(self.shown(event.text)))


TITLES = ("Settings — Ctrl+S apply, Esc cancel", "Settings — Ctrl+S apply", "Settings")
"""The box's title, the longest that fits: at 40 columns the first was cropped to "Esc …"."""


class SettingsScreen(ViewHelp, ModalScreen[SettingsChoice | None]):
    AUTO_FOCUS = "#model"
    """The first field, not the form around it: F2, then Enter opens the model list (Tab: the next field)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "apply", "Apply"),
        HELP_BINDING,
    ]

    HELP_SECTION = "Settings"

    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (SHORT_HEIGHT, "-tall")]
    """Under :data:`SHORT_HEIGHT` rows the fields lose the blank line between them (see the CSS)."""

    DEFAULT_CSS = """
    SettingsScreen { align: center middle; }
    SettingsScreen > VerticalScroll {
        width: 90%; max-width: 90; height: auto; max-height: 95%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    SettingsScreen Grid {
        grid-size: 2; grid-columns: 16 1fr; grid-rows: 1; height: auto; grid-gutter: 1 1; margin-top: 1;
    }
    SettingsScreen.-short Grid { grid-gutter: 0 1; }
    SettingsScreen Label { color: $text-muted; }
    SettingsScreen .error { color: $error; height: auto; }
    SettingsScreen .hint { color: $text-muted; height: auto; margin-top: 1; }
    SettingsScreen #buttons { height: auto; align-horizontal: right; margin-top: 1; }
    SettingsScreen #buttons Button { margin-left: 1; }
    """

    def __init__(
        self,
        options: SettingsOptions,
        model: str,
        backend: str,
        template: str | None,
        params: GenerationParams,
        system: str | None,
        variables: dict[str, str] | None = None,
        mode: str | None = None,
        note: str = "",
    ) -> None:
        super().__init__()
        from ..pickers import picker_name

        self.mode = mode
        self.note = note
        """A line above the fields: a model switch under way (``model`` is the one being switched to)."""
        self.shown_model = picker_name(model)
        """The model list's name for ``model`` (``smollm2`` is listed as ``smollm2-135m-instruct``)."""
        self.variables = dict(variables or {})
        self.options = options
        self.current_model = model
        self.current_backend = backend
        self.current_template = template
        self.params = params
        self.system = system

    def on_resize(self) -> None:
        box = self.query_one(VerticalScroll)
        self.call_after_refresh(
            lambda: setattr(box, "border_title", longest_fitting(TITLES, box.outer_size.width, TITLES[-1]))
        )

    def compose(self) -> ComposeResult:
        params = self.params
        with VerticalScroll() as box:
            box.border_title = TITLES[0]  # fitted to the box's width once laid out (on_resize)
            note = Static(Text(self.note), classes="hint note", id="note", markup=False)
            note.display = bool(self.note)
            yield note
            with Grid():
                yield Label("Model")
                yield Select(
                    [
                        *_with_current(self.options.models, self.shown_model),
                        ("pull… (type hf:ORG/REPO, a URL or a path below)", PULL_CHOICE),
                    ],
                    value=self.shown_model,
                    allow_blank=False,
                    compact=True,
                    id="model",
                )
                yield Label(REFERENCE_FIELD)
                yield FieldInput(
                    placeholder="hf:ORG/REPO[/FILE.gguf], https://…/x.gguf or a path (pulled on load)",
                    id="model_path",
                    compact=True,
                )
                yield Label("Backend")
                yield Select(
                    _with_current(self.options.backends, self.current_backend),
                    value=self.current_backend,
                    allow_blank=False,
                    compact=True,
                    id="backend",
                )
                yield Label("Mode")
                yield Select(
                    MODE_CHOICES,
                    value=self.mode or MODEL_DEFAULT_MODE,
                    allow_blank=False,
                    compact=True,
                    id="mode",
                )
                yield Label("Template")
                yield Select(
                    _with_current(self.options.templates, self.current_template or CHAT_TEMPLATE),
                    value=self.current_template or CHAT_TEMPLATE,
                    allow_blank=False,
                    compact=True,
                    id="template",
                )
                yield Label("Template vars")
                yield FieldInput(
                    self._shown_variables,
                    placeholder="name=value; other=value (the message you type is `input`)",
                    id="variables",
                    compact=True,
                )
                yield Label("System prompt")
                yield FieldInput(
                    self._shown_system, placeholder="(none: the model's default)", id="system", compact=True
                )
                yield Label("Temperature")
                yield FieldInput(_shown(params.temperature), id="temperature", compact=True)
                yield Label("Top-k")
                yield FieldInput(str(params.top_k), id="top_k", compact=True)
                yield Label("Top-p")
                yield FieldInput(_shown(params.top_p), id="top_p", compact=True)
                yield Label("Max new tokens")
                yield FieldInput(str(params.max_tokens), id="max_tokens", compact=True)
                yield Label("Seed")
                yield FieldInput(
                    "" if params.seed is None else str(params.seed),
                    placeholder="random",
                    id="seed",
                    compact=True,
                )
            yield Static(
                Text("Temperature 0 is greedy. Top-k 0 and top-p 1 switch those filters off."),
                classes="hint",
            )
            yield Static("", classes="error", id="error", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Apply", variant="primary", id="apply")
        # Its own keys: without it the chat's footer below offered the keys of the reply focused
        # before F2 (t Tokens, a Attention, r Regenerate), none of which works over the panel.
        yield Footer()

    def set_note(self, note: str) -> None:
        """Say ``note`` above the fields instead (empty: nothing): the switch it spoke of has ended."""
        self.note = note
        if self.is_mounted:
            widget = self.query_one("#note", Static)
            widget.update(Text(note))
            widget.display = bool(note)

    @property
    def _shown_system(self) -> str:
        """The system prompt as its field shows it: a text field draws an ESC as is (``-s`` from a
        script, a stored conversation's prompt restyled the terminal), so control characters show
        as ``␛`` and the like, its line breaks as :data:`LINE_BREAK` (:meth:`FieldInput.shown`)."""
        return FieldInput.shown(self.system or "")

    @property
    def _shown_variables(self) -> str:
        """The template variables as their field shows them (remembered from the last chat, so not typed
        here: control characters shown as ``␛`` and the like, as :attr:`_shown_system`)."""
        return FieldInput.shown(format_variables(self.variables))

    def _value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value

    def _edited(self, widget_id: str, shown: str) -> str | None:
        """A text field's value, its line breaks as typed (:attr:`FieldInput.typed`); None when untouched
        (still ``shown``): then the value is as it was, not as the field shows it."""
        field = self.query_one(f"#{widget_id}", FieldInput)
        return None if field.value == shown else field.typed

    def choice(self) -> SettingsChoice:
        """The panel's values, validated; raises ConfigError naming the bad field."""
        params = parse_params(
            {name: self._value(name) for name in ("temperature", "top_k", "top_p", "max_tokens", "seed")},
            self.params,
        )
        path = self._value("model_path").strip()
        picked = str(self.query_one("#model", Select).value)
        if picked == PULL_CHOICE and not path:
            raise FieldError(
                "model_path",
                f"{REFERENCE_FIELD}: type the model to pull here (hf:ORG/REPO, a URL, a path)",
            )
        if path:
            from ...models.refs import parse

            try:  # a reference -m would refuse is reported here, with the panel open and the field focused
                parse(path)
            except AssistantError as exc:
                raise FieldError("model_path", f"{REFERENCE_FIELD}: {exc}") from None
        model = path or (self.current_model if picked == self.shown_model else picked)
        mode = str(self.query_one("#mode", Select).value)
        template = str(self.query_one("#template", Select).value)
        try:
            edited = self._edited("variables", self._shown_variables)
            variables = dict(self.variables) if edited is None else parse_variables(edited)
        except TemplateError as exc:
            raise FieldError("variables", f"{VARIABLES_FIELD}: {exc}") from None
        if template:
            loaded = load_chat_template(template)  # a broken template is reported here, with the panel open
            try:  # every turn is rendered with these: a leftover of another template would fail each one
                check_variables(loaded, variables)
            except TemplateError as exc:
                raise FieldError("variables", str(exc)) from None
        edited = self._edited("system", self._shown_system)
        system = (self.system or "") if edited is None else edited
        return SettingsChoice(
            model=model,
            backend=str(self.query_one("#backend", Select).value),
            template=template or None,
            params=params,
            system=system if system.strip() else None,
            variables=variables,
            mode=mode or None,
        )

    @on(Button.Pressed, "#apply")
    @on(Input.Submitted)
    def action_apply(self) -> None:
        try:
            choice = self.choice()
        except AssistantError as exc:
            error = self.query_one("#error", Static)
            error.update(Text(visible_text(str(exc))))  # it may quote a typed value or a template file
            if isinstance(exc, FieldError):
                self.query_one(f"#{exc.field}", Input).focus()
            # In a short terminal the panel scrolls, and the error under the fields was out of
            # sight: Ctrl+S seemed to do nothing. Once drawn, it is scrolled into view.
            self.call_after_refresh(error.scroll_visible, animate=False)
            return
        self.dismiss(choice)

    @on(Select.Changed, "#model")
    def _pull_picked(self, event: Select.Changed) -> None:
        if event.value == PULL_CHOICE:
            self.query_one("#model_path", Input).focus()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
