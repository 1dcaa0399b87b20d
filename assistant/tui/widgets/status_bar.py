"""The two bottom lines: the settings in force, and the engine's live numbers."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from ...types import GenerationParams
from ..text import format_ms, format_rate, visible_text


@dataclass(frozen=True)
class StatusInfo:
    """Everything the status line shows; replaced whole so one update redraws once."""

    model: str = ""
    backend: str = ""
    device: str = ""
    state: str = "idle"  # idle | loading | generating | error | no model
    detail: str = ""
    tokens_per_second: float | None = None
    ttft_ms: float | None = None
    context_used: int | None = None
    context_length: int | None = None
    dropped: int = 0
    approximate: bool = False

    def with_changes(self, **changes: object) -> "StatusInfo":
        return replace(self, **changes)  # type: ignore[arg-type]


_STATE_STYLE = {
    "idle": "green",
    "loading": "yellow",
    "generating": "cyan",
    "running tool": "cyan",
    "error": "red",
    "no model": "red",
}


class StatusBar(Static):
    """Model · backend · device · tok/s · TTFT · context used / length."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    info: reactive[StatusInfo] = reactive(StatusInfo, layout=False)

    def render(self) -> Text:
        info = self.info
        text = Text(no_wrap=True, overflow="ellipsis")
        state = info.state + (f": {info.detail}" if info.detail else "")
        text.append("● ", style=_STATE_STYLE.get(info.state, "white"))
        text.append(visible_text(state), style="bold")
        if info.model:
            text.append("  │  ")
            text.append(visible_text(info.model), style="bold")
            text.append(f" on {visible_text(info.backend)}")
            if info.device:
                text.append(f" ({visible_text(info.device)})")
        text.append("  │  ")
        text.append(format_rate(info.tokens_per_second))
        text.append(f"  TTFT {format_ms(info.ttft_ms)}")
        text.append("  │  ctx ")
        used = (
            "–" if info.context_used is None else f"{'≈' if info.approximate else ''}{info.context_used}"
        )
        total = (
            "?"
            if info.context_length == 0
            else "–"
            if info.context_length is None
            else str(info.context_length)
        )
        text.append(f"{used}/{total}")
        if info.dropped:
            text.append(f" ({info.dropped} older msgs left out)", style="yellow")
        return text


@dataclass(frozen=True)
class SettingsInfo:
    template: str | None
    params: GenerationParams
    mode: str = "chat"
    """``completion`` for a base model continuing text (:mod:`assistant.models.mode`): no chat turns."""
    lacking: frozenset[str] = frozenset()
    """Settings the loaded backend cannot apply (``top_k``, ``seed`` on some servers): shown as not applied."""


class SettingsBar(Static):
    """The template and sampling parameters in force, always on screen."""

    DEFAULT_CSS = """
    SettingsBar { height: 1; background: $panel-darken-1; color: $text-muted; padding: 0 1; }
    """

    info: reactive[SettingsInfo | None] = reactive(None, layout=False)

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.info is None:
            return text
        params = self.info.params
        lacking = self.info.lacking
        seed = "random" if params.seed is None else str(params.seed)
        if "seed" in lacking and params.seed is not None:
            seed = "none here"  # the server ignores it: a reply is not reproducible
        temperature = "0 (greedy)" if params.greedy else f"{params.temperature:g}"
        fields = [
            ("template", self._template_label(self.info)),
            ("temp", temperature),
            ("top-k", "none here" if "top_k" in lacking else str(params.top_k)),
            ("top-p", f"{params.top_p:g}"),
            ("max", str(params.max_tokens)),
            ("seed", seed),
        ]
        for index, (name, value) in enumerate(fields):
            if index:
                text.append("  ")
            text.append(f"{name} ")
            text.append(value, style="bold")
        text.append("   F2 to change", style="italic")
        return text

    @staticmethod
    def _template_label(info: SettingsInfo) -> str:
        """The template's name, or "chat"; a base model in completion mode has no chat turns, so it says so."""
        if info.mode == "completion":
            return f"{visible_text(info.template)} (completion)" if info.template else "completion"
        return visible_text(info.template or "chat")
