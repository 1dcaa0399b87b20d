"""The two bottom lines: the settings in force, and the engine's live numbers."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from rich.cells import cell_len
from rich.text import Text
from textual.geometry import Size
from textual.reactive import reactive
from textual.widgets import Static

from ...types import GenerationParams
from ..text import format_ms, format_rate, visible_line


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
        """The line, fitted to the width: the model's name gives way first, then the state's detail.

        Cropped at its end, an 80-column terminal lost the context count (``ctx 641/8192``),
        the one live number of how full the window is, behind a long model name and device.
        """
        info = self.info
        state = info.state + (f": {info.detail}" if info.detail else "")
        head = Text()
        head.append("● ", style=_STATE_STYLE.get(info.state, "white"))
        head.append(visible_line(state), style="bold")
        model = Text()
        if info.model:
            model.append("  │  ")
            model.append(visible_line(info.model), style="bold")
            model.append(f" on {visible_line(info.backend)}")
            if info.device:
                model.append(f" ({visible_line(info.device)})")
        rate = Text("  │  " + format_rate(info.tokens_per_second))
        ttft = Text(f"  TTFT {format_ms(info.ttft_ms)}")
        ctx, short_ctx, bare_ctx = (_context_text(info, note) for note in ("full", "short", "none"))
        width = self.content_size.width
        # Narrower still (40 columns), the speed gives way, TTFT first: cropped at the end, the line
        # lost the context count, and cut to "● …" the state (idle, generating) went before the speed.
        # Then the note of messages left out says it in fewer words, then goes: in full, it cut the state
        # to "● …" and, on 30 columns, ran off the end with the count itself.
        tiers = (rate + ttft + ctx, rate + ctx, ctx, short_ctx)
        tail = next((tier for tier in tiers if not width or head.cell_len + tier.cell_len <= width), None)
        if tail is None:
            tail = short_ctx if ELLIPSIS_HEAD + short_ctx.cell_len <= width else bare_ctx
        return _fitted(head, model, tail, width)


def _context_text(info: StatusInfo, note: Literal["full", "short", "none"]) -> Text:
    """``  │  ctx 641/8192 (2 older msgs left out)``; the note of messages left out as ``(2 left out)``
    (``short``) or not at all (``none``)."""
    ctx = Text("  │  ctx ")
    used = "–" if info.context_used is None else f"{'≈' if info.approximate else ''}{info.context_used}"
    total = (
        "?" if info.context_length == 0 else "–" if info.context_length is None else str(info.context_length)
    )
    ctx.append(f"{used}/{total}")
    if info.dropped and note != "none":
        words = "" if note == "short" else f" older msg{'' if info.dropped == 1 else 's'}"
        ctx.append(f" ({info.dropped}{words} left out)", style="yellow")
    return ctx


def _tail(value: str, room: int) -> str:
    """``value`` in ``room`` cells: whole, or its end after ``…`` (of a path, the end is the file's name)."""
    if cell_len(value) <= room:
        return value
    kept, cells = len(value), 0
    while kept > 0 and cells + cell_len(value[kept - 1]) <= max(room, 2) - 1:  # one cell for the "…"
        kept -= 1
        cells += cell_len(value[kept])
    return "…" + value[kept:]


ELLIPSIS_HEAD = 3
"""The cells of the state cut to its least, ``● …`` (see :func:`_fitted`)."""
MIN_MODEL_CELLS = 12
"""Narrower than this the model's part is left out rather than cut to a stub (F2 names the model)."""


def _fitted(head: Text, model: Text, tail: Text, width: int) -> Text:
    """``head + model + tail`` in ``width`` cells: ``model`` is cut (with ``…``) or left out, then ``head``."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    if width <= 0 or head.cell_len + model.cell_len + tail.cell_len <= width:
        room = None
    else:
        room = width - head.cell_len - tail.cell_len
    if room is not None and room < model.cell_len:
        if room >= MIN_MODEL_CELLS:
            model = model.copy()
            model.truncate(room - 1)
            model.append("…")
        else:
            model = Text()
            spare = width - tail.cell_len
            if head.cell_len > spare:
                head = head.copy()
                head.truncate(max(spare - 1, 2))
                head.append("…")
    text.append_text(head)
    text.append_text(model)
    text.append_text(tail)
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
    SettingsBar { height: auto; background: $panel-darken-1; color: $text-muted; padding: 0 1; }
    """

    info: reactive[SettingsInfo | None] = reactive(None, layout=True)  # a second line may come or go

    def render(self) -> Text:
        return self._text(self.content_size.width)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """The lines at the width being laid out (``content_size`` still holds the previous one)."""
        return self._text(width).plain.count("\n") + 1

    def _text(self, width: int) -> Text:
        """The settings on one line; where they do not fit, "F2 to change" goes, then they take two lines.

        Cropped at its end, a 60-column terminal lost the maximum tokens and the seed: the values
        in force must always be in sight. A value wider than the line (``-t`` given a template's path)
        keeps its end, the file's name: wrapped, it took the bar's lines and pushed the others out.
        """
        if self.info is None:
            return Text()
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
        parts = []
        for name, value in fields:
            part = Text(f"{name} ")
            part.append(_tail(value, width - part.cell_len) if width else value, style="bold")
            parts.append(part)
        hint = Text("   F2 to change", style="italic")
        one_line = Text("  ").join(parts)
        if not width or one_line.cell_len + hint.cell_len <= width:
            return one_line + hint
        if one_line.cell_len <= width:
            return one_line
        text, line = Text(), 0
        for part in parts:  # a field is never broken: "top-k" stays beside its value
            if line and line + 2 + part.cell_len > width:
                text.append("\n")
                line = 0
            elif line:
                text.append("  ")
                line += 2
            text.append_text(part)
            line += part.cell_len
        return text

    @staticmethod
    def _template_label(info: SettingsInfo) -> str:
        """The template's name, or "chat"; a base model in completion mode has no chat turns, so it says so."""
        if info.mode == "completion":
            return f"{visible_line(info.template)} (completion)" if info.template else "completion"
        return visible_line(info.template or "chat")
