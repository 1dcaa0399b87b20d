"""The attention view of one reply: what each token of prompt + reply looked at, layer by layer.

The maps come from a transformers backend on the model that wrote the reply
(the chat's own when it is one, else one loaded for this view: see
:meth:`~assistant.tui.controller.ChatController.attention_backend`), computed
over exactly the reply's tokens without generating again, in a worker thread
while the view shows progress. Esc cancels a computation (it stops between two
layers) and closes the view. ``e`` writes the picture ``assistant attention
--out`` would, from the same maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Collection

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, LoadingIndicator, Static
from textual.worker import get_current_worker

from ...errors import AssistantError
from ...inspect.attention import DEFAULT_WINDOW, AttentionViewState, summary_line
from ...terminal_text import message_line
from ..text import visible_line
from ..widgets.border_text import longest_fitting
from .help import HELP_BINDING, ViewHelp

if TYPE_CHECKING:
    from ...inspect.token_view import ReplyTokens
    from ...types import AttentionMaps
    from ..app import ChatApp
    from ..controller import ChatController
    from ..widgets.attention_map import AttentionMap

HINTS = (
    "l/L layer · h/H head · m head mean · arrows move · e export PNG · Esc close",
    "l/L layer · h/H head · m mean · e PNG · F1 keys",
    "F1 keys",
)
"""The keys on the box's lower border, the longest that fits (at 80 columns the first was cut to "Esc c…")."""
SHORT_HEIGHT = 24
"""Rows under which the view takes the whole screen, the summary over the map is one line (cut with ``…``)
and the colour legend goes (the detail line gives the weight in words; F1 the keys): at 40x12 the
summary, the detail and the legend took every row but three, the weight under the cursor off the screen."""
TINY_HEIGHT = 16
"""Rows under which the detail line is one line a token too, its weight first (cut with ``…``)."""


def hints_for(width: int) -> str:
    """The longest of :data:`HINTS` that fits a border ``width`` cells wide (none on a tiny one)."""
    return longest_fitting(HINTS, width)


@dataclass
class AttentionProgress(Message):
    text: str


@dataclass
class AttentionReady(Message):
    maps: AttentionMaps
    model: str


@dataclass
class AttentionFailed(Message):
    error: str


@dataclass
class PictureWritten(Message):
    path: Path
    error: str | None = None
    """None when the picture was written."""


def export_path(
    model: str, layer: int, head: int | None, directory: Path | None = None, taken: Collection[Path] = ()
) -> Path:
    """``attention-MODEL-layerN-mean.png`` in ``directory`` (default: the working one), never overwriting.

    ``taken``: paths of pictures still being drawn, which do not exist yet but are not free either.
    """
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(model).name) or "model"
    stem = f"attention-{safe}-layer{layer}-{'mean' if head is None else f'head{head}'}"
    folder = directory or Path.cwd()
    path, number = folder / f"{stem}.png", 1
    while path.exists() or path in taken:
        number += 1
        path = folder / f"{stem}-{number}.png"
    return path


class AttentionScreen(ViewHelp, ModalScreen[None]):
    """Heatmap over prompt + reply tokens, with layer and head selectors and a cursor."""

    BINDINGS = [
        HELP_BINDING,  # first: on a narrow screen the footer crops its end, and F1 explains every key
        Binding("escape", "close", "Close"),
        Binding("l", "layer(1)", "layer", key_display="l/L"),
        Binding("L", "layer(-1)", "Previous layer", show=False),
        Binding("h", "head(1)", "head", key_display="h/H"),
        Binding("H", "head(-1)", "Previous head", show=False),
        Binding("m", "mean", "Head mean"),
        Binding("left", "move(0, -1)", show=False),
        Binding("right", "move(0, 1)", show=False),
        Binding("up", "move(-1, 0)", show=False),
        Binding("down", "move(1, 0)", show=False),
        Binding("e", "export", "Export PNG"),
    ]

    HELP_SECTION = "Attention view"

    DEFAULT_CSS = """
    AttentionScreen { align: center middle; }
    AttentionScreen > Vertical {  /* no right padding: the map's scrollbar takes that column (see AttentionMap) */
        width: 98%; height: 95%; border: round $accent; background: $surface; padding: 0 0 0 1;
    }
    AttentionScreen .title { text-style: bold; height: 1; padding-right: 1; }
    AttentionScreen .status, AttentionScreen .legend { height: auto; color: $text-muted; padding-right: 1; }
    AttentionScreen .detail { height: auto; padding-right: 1; }
    AttentionScreen LoadingIndicator { height: 3; }
    AttentionScreen.-short > Vertical, AttentionScreen.-tiny > Vertical { width: 100%; height: 100%; }
    AttentionScreen.-short .status, AttentionScreen.-tiny .status, AttentionScreen.-tiny .detail {
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    AttentionScreen.-short .legend, AttentionScreen.-tiny .legend { display: none; }
    """

    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [
        (0, "-tiny"), (TINY_HEIGHT, "-short"), (SHORT_HEIGHT, "-tall")
    ]
    """Under :data:`SHORT_HEIGHT` rows the map gets the rows the words around it took (see the CSS)."""

    def __init__(
        self, reply: ReplyTokens, label: str, window: int = DEFAULT_WINDOW, colour: bool = True
    ) -> None:
        super().__init__()
        self.reply = reply
        self.label = label
        self.window = window
        self.colour = colour
        self.state: AttentionViewState | None = None
        self.computing = False
        self.exporting: set[Path] = set()
        """Pictures being drawn (see :meth:`action_export`)."""

    @property
    def controller(self) -> ChatController:
        app: ChatApp = self.app  # type: ignore[assignment]
        return app.controller

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Text(f"Attention — {visible_line(self.label)}")  # a Text: a str is markup; one line
            box.border_subtitle = HINTS[0]  # fitted to the box's width once laid out (on_resize)
            yield Static("", classes="title", markup=False)
            yield Static(Text("Starting…"), classes="status", markup=False)
            yield LoadingIndicator()
        yield Footer()  # its own keys: without it the chat's footer below showed the chat's

    def on_resize(self) -> None:
        box = self.query_one(Vertical)
        self.call_after_refresh(lambda: setattr(box, "border_subtitle", hints_for(box.outer_size.width)))

    def on_mount(self) -> None:
        reason = self.controller.attention_unavailable(self.reply)
        if reason is not None:
            self._show_error(reason)
            return
        self.computing = True
        self._compute(self.reply, self.window)

    # ---- the computation (a worker: loading a model and one forward take seconds) ----------------
    @work(thread=True, exclusive=True, group="attention", exit_on_error=False)
    def _compute(self, reply: ReplyTokens, window: int) -> None:
        controller = self.controller
        try:
            model = controller.attention_model(reply)
            self.post_message(AttentionProgress(f"Getting {model} ready on transformers…"))
            backend = controller.attention_backend(
                model, progress=lambda text: self.post_message(AttentionProgress(text))
            )
            if get_current_worker().is_cancelled:  # closed while the engine loaded: nobody waits
                return
            count = len(reply.token_ids) or "the"
            self.post_message(
                AttentionProgress(
                    f"Computing every layer's attention over the prompt and {count} reply tokens…"
                )
            )
            maps = controller.reply_attention(reply, backend, window)
        except AssistantError as exc:
            self.post_message(AttentionFailed(str(exc)))
        except Exception as exc:  # an engine bug must not take the app down
            self.post_message(AttentionFailed(f"{type(exc).__name__}: {exc}"))
        else:
            self.post_message(AttentionReady(maps, backend.model_name))

    def on_attention_progress(self, message: AttentionProgress) -> None:
        self.query_one(".status", Static).update(Text(message_line(message.text)))  # a model name's line break too

    async def on_attention_ready(self, message: AttentionReady) -> None:
        from ..widgets.attention_map import AttentionMap, map_legend

        self.computing = False
        self.state = AttentionViewState(message.maps, model=message.model)
        await self.query(LoadingIndicator).remove()
        box = self.query_one(Vertical)
        await box.mount(
            AttentionMap(self.state, colour=self.colour),
            Static("", classes="detail", markup=False),
            Static(map_legend(self.colour), classes="legend", markup=False),
        )
        self.query_one(".status", Static).update(
            Text(summary_line(message.maps, len(message.maps.token_ids)))
        )
        self._refresh()

    def on_attention_failed(self, message: AttentionFailed) -> None:
        self.computing = False
        self._show_error(message.error)

    def _show_error(self, error: str) -> None:
        for indicator in self.query(LoadingIndicator):
            indicator.remove()
        self.query_one(".status", Static).update(
            Text(f"No attention map: {message_line(error)}", style="bold red")
        )

    # ---- keys -------------------------------------------------------------------------------------
    @property
    def heatmap(self) -> AttentionMap:
        from ..widgets.attention_map import AttentionMap

        return self.query_one(AttentionMap)

    def _refresh(self) -> None:
        if self.state is None:
            return
        self.query_one(".title", Static).update(Text(visible_line(self.state.title())))
        self.query_one(".detail", Static).update(self.detail_text())
        self.heatmap.redraw()

    def detail_text(self) -> Text:
        """The weight under the cursor, then both its tokens whole, with their ids and byte lengths.

        The map's labels (and the line above, which names them the same way) are cut to
        ten cells with ``…``: a long token could not be read whole anywhere in the view.
        """
        from ...inspect.attention import drawn_pieces
        from ..widgets.token_panel import token_detail

        state = self.state
        assert state is not None
        text = Text(state.detail())
        pieces = drawn_pieces(state.maps)
        first = state.maps.window_start
        ends = [("row: token", state.row), ("looks at token", state.column)]
        if state.row == state.column:  # a token looking at itself: named once (a short screen needs the rows)
            ends = [("row and column: token", state.row)]
        for head, index in ends:
            if 0 <= index < len(pieces):
                piece = pieces[index]
                exact = piece if state.maps.pieces else None
                text.append("\n")
                text.append_text(
                    token_detail(f"{head} {first + index}", exact, piece.token_id, piece.text or "")
                )
        return text

    def action_layer(self, step: int) -> None:
        if self.state is not None:
            self.state.change_layer(step)
            self._refresh()

    def action_head(self, step: int) -> None:
        if self.state is not None:
            self.state.change_head(step)
            self._refresh()

    def action_mean(self) -> None:
        if self.state is not None:
            self.state.head = None
            self._refresh()

    def action_move(self, rows: int, columns: int) -> None:
        if self.state is not None:
            self.state.move(rows, columns)
            self._refresh()

    def action_close(self) -> None:
        if self.computing:
            self.controller.cancel_attention()
        self.dismiss()

    def action_export(self) -> None:
        if self.state is None:
            self.notify("The map is not ready yet", severity="warning")
            return
        # A picture takes a second or more to draw: "e" pressed again meanwhile gave the same
        # name, and the second picture overwrote the first as both were written at once.
        try:
            path = export_path(self.state.model, self.state.layer, self.state.head, taken=self.exporting)
        except OSError as exc:  # the working folder was removed, or cannot be read: the app stays up
            reason = exc.strerror or str(exc) or type(exc).__name__
            self.notify(
                f"Cannot write the picture in the working folder: {reason}", title="Export", severity="error"
            )
            return
        self.exporting.add(path)
        self.notify(f"Drawing {path.name}…")
        self._export(self.state.maps, path, self.state.layer, self.state.head, self.state.model)

    @work(thread=True, group="attention-export", exit_on_error=False)
    def _export(self, maps: AttentionMaps, path: Path, layer: int, head: int | None, model: str) -> None:
        from ...inspect.pictures import save_attention_picture

        try:
            save_attention_picture(maps, path, layer, head, model)
        except AssistantError as exc:
            self.post_message(PictureWritten(path, str(exc)))
        except Exception as exc:  # matplotlib failing must not take the app down
            self.post_message(PictureWritten(path, f"{type(exc).__name__}: {exc}"))
        else:
            self.post_message(PictureWritten(path))

    def on_picture_written(self, message: PictureWritten) -> None:
        self.exporting.discard(message.path)
        if message.error is not None:
            self.notify(message.error, title="Export", severity="error")
        else:
            self.notify(f"Wrote {message.path}", title="Export")
