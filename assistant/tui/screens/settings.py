"""F2: the settings panel — model, backend, template and sampling parameters.

Returns a :class:`SettingsChoice` (or None on cancel); the chat screen applies
it: parameters and template at once, a model or backend change by loading the
new engine in a worker while the conversation stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ...errors import AssistantError, ConfigError
from ...types import GenerationParams
from ..pickers import SettingsOptions
from ..templating import format_variables, load_chat_template, parse_variables

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


def _with_current(options: list[tuple[str, str]], current: str) -> list[tuple[str, str]]:
    if current and all(value != current for _, value in options):
        return [(current, current), *options]
    return options


def parse_params(values: dict[str, str], base: GenerationParams) -> GenerationParams:
    """Typed, validated parameters from the panel's text fields (errors name the field)."""
    changes: dict[str, object] = {}
    for name, cast in (("temperature", float), ("top_p", float), ("top_k", int), ("max_tokens", int)):
        raw = values[name].strip()
        try:
            changes[name] = cast(raw)
        except ValueError:
            raise ConfigError(f"{name.replace('_', ' ')} must be a number, not {raw!r}") from None
    raw_seed = values["seed"].strip()
    if raw_seed.lower() in ("", "none", "random"):
        changes["seed"] = None
    else:
        try:
            changes["seed"] = int(raw_seed)
        except ValueError:
            raise ConfigError(f"seed must be a whole number or empty, not {raw_seed!r}") from None
    return base.replace(**changes)


class SettingsScreen(ModalScreen[SettingsChoice | None]):
    AUTO_FOCUS = "#model"
    """The first field, not the form around it: F2, then Enter opens the model list (Tab: the next field)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "apply", "Apply"),
    ]

    DEFAULT_CSS = """
    SettingsScreen { align: center middle; }
    SettingsScreen > VerticalScroll {
        width: 90%; max-width: 90; height: auto; max-height: 95%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    SettingsScreen Grid {
        grid-size: 2; grid-columns: 16 1fr; grid-rows: 1; height: auto; grid-gutter: 1 1; margin-top: 1;
    }
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
    ) -> None:
        super().__init__()
        from ..pickers import picker_name

        self.mode = mode
        self.shown_model = picker_name(model)
        """The model list's name for ``model`` (``smollm2`` is listed as ``smollm2-135m-instruct``)."""
        self.variables = dict(variables or {})
        self.options = options
        self.current_model = model
        self.current_backend = backend
        self.current_template = template
        self.params = params
        self.system = system

    def compose(self) -> ComposeResult:
        params = self.params
        with VerticalScroll() as box:
            box.border_title = "Settings — Ctrl+S apply, Esc cancel"
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
                yield Label("…or reference")
                yield Input(
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
                yield Input(
                    format_variables(self.variables),
                    placeholder="name=value; other=value (the message you type is `input`)",
                    id="variables",
                    compact=True,
                )
                yield Label("System prompt")
                yield Input(
                    self.system or "", placeholder="(none: the model's default)", id="system", compact=True
                )
                yield Label("Temperature")
                yield Input(f"{params.temperature:g}", id="temperature", compact=True)
                yield Label("Top-k")
                yield Input(str(params.top_k), id="top_k", compact=True)
                yield Label("Top-p")
                yield Input(f"{params.top_p:g}", id="top_p", compact=True)
                yield Label("Max new tokens")
                yield Input(str(params.max_tokens), id="max_tokens", compact=True)
                yield Label("Seed")
                yield Input(
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

    def _value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value

    def choice(self) -> SettingsChoice:
        """The panel's values, validated; raises ConfigError naming the bad field."""
        params = parse_params(
            {name: self._value(name) for name in ("temperature", "top_k", "top_p", "max_tokens", "seed")},
            self.params,
        )
        path = self._value("model_path").strip()
        picked = str(self.query_one("#model", Select).value)
        if picked == PULL_CHOICE and not path:
            raise ConfigError(
                "type the model to pull in the field below the list (hf:ORG/REPO, a URL, a path)"
            )
        if path:
            from ...models.refs import parse

            parse(path)  # a reference -m would refuse is reported here, with the panel open
        model = path or (self.current_model if picked == self.shown_model else picked)
        mode = str(self.query_one("#mode", Select).value)
        template = str(self.query_one("#template", Select).value)
        if template:
            load_chat_template(template)  # a broken template is reported here, with the panel open
        system = self._value("system")
        return SettingsChoice(
            model=model,
            backend=str(self.query_one("#backend", Select).value),
            template=template or None,
            params=params,
            system=system if system.strip() else None,
            variables=parse_variables(self._value("variables")),
            mode=mode or None,
        )

    @on(Button.Pressed, "#apply")
    @on(Input.Submitted)
    def action_apply(self) -> None:
        try:
            choice = self.choice()
        except AssistantError as exc:
            self.query_one("#error", Static).update(Text(str(exc)))
            return
        self.dismiss(choice)

    @on(Select.Changed, "#model")
    def _pull_picked(self, event: Select.Changed) -> None:
        if event.value == PULL_CHOICE:
            self.query_one("#model_path", Input).focus()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
