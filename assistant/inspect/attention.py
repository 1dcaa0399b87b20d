"""Attention maps made drawable: memory budget, window, head mean, token labels and the shade scale.

Textual-free and engine-free (numpy only; Rich for the terminal heatmap), so
``assistant attention``, the chat app's attention view and the pictures share
one definition of each step:

* **Memory** is checked *before* any forward runs. An eager forward forms a
  ``heads × n × n`` float matrix per layer; keeping every layer's would be
  ``layers × heads × n² × 4`` bytes (30 × 9 × 2000² × 4 ≈ 4.3 GB for a
  2000-token SmolLM2 conversation). The backend keeps only the *window* (the
  last ``window`` tokens, rows and columns) of each layer as the forward runs,
  so the cost is the kept windows plus the working matrices of one layer
  (:func:`estimate_memory`), and past :data:`DEFAULT_MEMORY_LIMIT` it refuses
  with the estimate and how to lower it (:func:`check_memory`).
* A window's rows do not sum to 1: the weight a token gives to tokens before
  the window is not drawn (:func:`outside_window`). Everything else is the
  model's own numbers, never renormalised.
* Shading: the glyphs are the probability scale's (:mod:`.shade`: ``░ <10%
  ▒ <50%  ▓ <90%  █ ≥90%``) plus ``·`` below 1%, so a glyph means the same in
  every view. The colour is a continuous ramp instead of the probability
  scale's four hues: a token spreads its attention over many others, so
  almost every weight is under 10% and four levels would paint a map in one
  colour. The ramp (:data:`COLOUR_ANCHORS`, on the square root of the weight,
  :data:`GAMMA`) is shared by the terminal, the chat app and the pictures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..errors import AssistantError, BackendError
from ..terminal_text import visible_text
from .shade import SHADES, shade_for

if TYPE_CHECKING:
    import numpy as np
    from rich.text import Text

    from ..types import AttentionMaps
    from .pieces import TokenPiece

DEFAULT_WINDOW = 64
"""Tokens drawn (the last ones: the end of the prompt and the reply); a terminal row is about this wide."""

DEFAULT_MEMORY_LIMIT = 2 * 1024**3
"""Bytes an attention computation may use before it is refused (the estimate of :func:`estimate_memory`)."""

FLOAT_BYTES = 4
"""Weights are float32 (the eager softmax runs in float32 whatever the model's dtype)."""

EAGER_WORKING_MATRICES = 6
"""``heads × n × n`` float32 matrices counted for one eager attention layer at work.

Scores, scaled scores, masked scores and softmax are formed one after the
other, and the allocator does not hand freed blocks back at once: SmolLM2
over 1669 tokens with a 64-token window grew by 596 MiB at peak, about 6
such matrices (the whole maps, no window: 3.1 GiB, as estimated)."""

GAMMA = 0.5
"""Colour follows ``weight ** GAMMA`` (a power scale), so that small weights stay visible."""

NEGLIGIBLE = 0.01
"""Weights below this draw as ``·``; above it, the glyphs of the probability scale (:mod:`.shade`)."""

COLOUR_ANCHORS: tuple[tuple[int, int, int], ...] = (
    (0, 0, 4),
    (81, 18, 124),
    (183, 55, 121),
    (252, 137, 97),
    (252, 253, 191),
)
"""RGB at ``weight ** GAMMA`` = 0, ¼, ½, ¾, 1 (matplotlib's "magma"), interpolated linearly in between.

The pictures build their colormap from these same anchors (``pictures.py``),
so a cell has the same colour in the terminal, the chat app and a PNG."""

FUTURE = " "
"""Glyph of a cell above the diagonal: a token never attends to a later one (causal)."""


@dataclass(frozen=True)
class MemoryEstimate:
    """What an attention computation would allocate, known before it runs."""

    layers: int
    heads: int
    tokens: int
    """Prompt + reply tokens the forward runs over."""
    window: int
    """Tokens kept per layer (rows and columns)."""

    @property
    def kept_bytes(self) -> int:
        return self.layers * self.heads * self.window * self.window * FLOAT_BYTES

    @property
    def working_bytes(self) -> int:
        return EAGER_WORKING_MATRICES * self.heads * self.tokens * self.tokens * FLOAT_BYTES

    @property
    def total_bytes(self) -> int:
        return self.kept_bytes + self.working_bytes


def window_length(tokens: int, window: int | None) -> int:
    """Tokens kept for ``tokens`` tokens: the last ``window`` of them (all when ``window`` is None or 0)."""
    if window is not None and window < 0:
        raise BackendError(f"the attention window must be a positive number of tokens, not {window}")
    return min(tokens, window) if window else tokens


def estimate_memory(layers: int, heads: int, tokens: int, window: int | None) -> MemoryEstimate:
    return MemoryEstimate(layers, heads, tokens, window_length(tokens, window))


def format_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def check_memory(estimate: MemoryEstimate, limit: int | None = DEFAULT_MEMORY_LIMIT) -> None:
    """Refuse (one line, with the estimate and how to lower it) before anything is allocated."""
    if limit is None or estimate.total_bytes <= limit:
        return
    raise BackendError(
        f"attention over {estimate.tokens} tokens would need about {format_bytes(estimate.total_bytes)} "
        f"({estimate.layers} layers × {estimate.heads} heads, {estimate.window}-token window), "
        f"over the {format_bytes(limit)} limit: use fewer tokens (a shorter text, --max-new-tokens), "
        "a smaller window (--window) or a higher limit (--max-memory MB)"
    )


# ---- selecting what to draw --------------------------------------------------------------------
def layer_count(maps: AttentionMaps) -> int:
    return len(maps.layers)


def head_count(maps: AttentionMaps) -> int:
    return int(maps.layers[0].shape[0]) if maps.layers else 0


def check_selection(maps: AttentionMaps, layer: int | None, head: int | None) -> None:
    """A clear error for a layer or head the model does not have (``None``: all layers / head mean)."""
    check_indices(layer, head, layer_count(maps), head_count(maps))


def resolve_layer(layer: int | None, layers: int, heads: int, head: int | None = None) -> int | None:
    """``layer`` with a negative number counted from the last (``-1``: the last), checked with ``head``."""
    if layer is not None and layer < 0 and layer + layers >= 0:
        layer += layers
    check_indices(layer, head, layers, heads)
    return layer


def check_indices(layer: int | None, head: int | None, layers: int, heads: int) -> None:
    if layer is not None and not 0 <= layer < layers:
        raise BackendError(f"layer {layer} does not exist: this model has layers 0 to {layers - 1}")
    if head is not None and not 0 <= head < heads:
        raise BackendError(f"head {head} does not exist: this model has heads 0 to {heads - 1}")


def head_mean(layer_weights: np.ndarray) -> np.ndarray:
    """The mean over heads of one layer's ``[heads, n, n]`` weights: rows still sum as the heads' do."""
    return layer_weights.mean(axis=0)


def select_map(maps: AttentionMaps, layer: int, head: int | None) -> np.ndarray:
    """One ``[n, n]`` map: a head of a layer, or (``head`` None) the layer's head mean."""
    check_selection(maps, layer, head)
    weights = maps.layers[layer]
    return head_mean(weights) if head is None else weights[head]


def layer_grid(maps: AttentionMaps) -> list[np.ndarray]:
    """Each layer's head mean, first layer first (the ``--layer all`` grid)."""
    return [head_mean(weights) for weights in maps.layers]


def combined_map(maps: AttentionMaps, layer: int | None, head: int | None) -> np.ndarray:
    """One map where there is room for one: ``select_map``, or (``layer`` None) its mean over layers."""
    import numpy as np

    if layer is not None:
        return select_map(maps, layer, head)
    check_selection(maps, None, head)
    return np.mean(np.stack([select_map(maps, index, head) for index in range(layer_count(maps))]), axis=0)


def outside_window(matrix: np.ndarray) -> np.ndarray:
    """Per row, the weight given to tokens before the window (not drawn): 1 − the row's sum."""
    import numpy as np

    return np.clip(1.0 - matrix.sum(axis=-1), 0.0, 1.0)


# ---- labels and shades ---------------------------------------------------------------------------
def short_label(shown: str, width: int = 12, measure: Callable[[str], int] = len) -> str:
    """A label cut to ``width``, ending in ``…`` when cut.

    ``measure`` counts the width: characters by default (picture axes), or
    terminal cells (``rich.cells.cell_len``: a CJK character takes two) where
    the label must fit a column of the terminal heatmap.
    """
    if measure(shown) <= width:
        return shown
    if measure is len:
        return shown[:width] if width < 2 else shown[: width - 1] + "…"
    ellipsis = "…" if width >= 2 else ""
    kept = ""
    for char in shown:
        if measure(kept + char + ellipsis) > width:
            break
        kept += char
    return kept + ellipsis


def token_labels(maps: AttentionMaps, width: int = 12) -> list[str]:
    """Each drawn token as :meth:`~assistant.inspect.pieces.TokenPiece.marked` draws it (a control token in
    ``⟦…⟧``, as ``next`` and the token view mark it), cut short.

    The backend's pieces carry the exact bytes (a cut emoji shows as ``<0xF0>``)
    and control tokens' names; maps built without them fall back to the text.
    """
    return [short_label(piece.marked(), width) for piece in drawn_pieces(maps)]


def drawn_pieces(maps: AttentionMaps) -> list[TokenPiece]:
    """The drawn tokens' exact pieces (bytes, control names), or, for maps built without them, their text."""
    from .pieces import TokenPiece

    return list(maps.pieces) or [
        TokenPiece(token_id, text.encode("utf-8")) for token_id, text in zip(maps.token_ids, maps.tokens)
    ]


def shade_level(weight: float) -> float:
    """Position on the colour scale (0 to 1) of an attention weight."""
    return min(max(float(weight), 0.0), 1.0) ** GAMMA


def shade_glyph(weight: float) -> str:
    """``·`` below 1%, then the probability scale's glyph (``░ <10%  ▒ <50%  ▓ <90%  █ ≥90%``)."""
    if weight < NEGLIGIBLE:
        return "·"
    shade = shade_for(weight)
    assert shade is not None
    return shade.glyph


def shade_rgb(weight: float) -> tuple[int, int, int]:
    """The colour of ``weight``: :data:`COLOUR_ANCHORS` interpolated at :func:`shade_level`."""
    position = shade_level(weight) * (len(COLOUR_ANCHORS) - 1)
    low = min(int(position), len(COLOUR_ANCHORS) - 2)
    fraction = position - low
    a, b = COLOUR_ANCHORS[low], COLOUR_ANCHORS[low + 1]
    return tuple(round(x + (y - x) * fraction) for x, y in zip(a, b))  # type: ignore[return-value]


def legend_text() -> str:
    """The shade legend, one line."""
    parts = [f"· <{NEGLIGIBLE:.0%}"] + [f"{shade.glyph} {shade.label}" for shade in SHADES]
    return "shade = attention weight: " + "  ".join(parts)


def map_title(model: str, layer: int | None, head: int | None, layers: int) -> str:
    """``layer 3 · head mean`` style titles, the same in the terminal, the app and the pictures.

    The model's name is data (a file name can hold anything) and is made visible here, once for
    every view: the pictures wrote it raw, and an ESC in a GGUF's file name made the SVG (matplotlib
    writes each text into an XML comment too) a file no browser or XML parser opens, while a U+202E
    in it reversed the title of the HTML page.
    """
    where = f"mean of {layers} layers" if layer is None else f"layer {layer}"
    who = "head mean" if head is None else f"head {head}"
    return f"{visible_text(model)} · {where} · {who}" if model else f"{where} · {who}"


# ---- the terminal heatmap ----------------------------------------------------------------------------
@dataclass(frozen=True)
class HeatmapView:
    """What a heatmap shows: the matrix, the tokens' labels, and where the reply starts."""

    matrix: Any
    """``[w, w]`` weights (rows attend to columns)."""
    labels: Sequence[str]
    first_index: int
    """Position of the first drawn token in prompt + reply (row/column numbers start there)."""
    reply_start: int
    """Position of the first reply token in prompt + reply (may lie before or after the window)."""


def heatmap_view(maps: AttentionMaps, matrix: np.ndarray, label_width: int = 12) -> HeatmapView:
    return HeatmapView(
        matrix=matrix,
        labels=token_labels(maps, label_width),
        first_index=maps.window_start,
        reply_start=maps.prompt_tokens,
    )


def heatmap_margin(view: HeatmapView) -> int:
    """Cells before a heatmap row's first cell: the row number, `` ▸ ``, the label (padded) and a space.

    The chat app keeps these cells in place while the cells scroll (a row scrolled
    without its label could not be matched to its token), so it cuts each line here.
    """
    from rich.cells import cell_len

    label_width = max((cell_len(label) for label in view.labels), default=1)  # wide (CJK) characters
    return len(str(view.first_index + len(view.labels) - 1)) + 3 + label_width + 1


def heatmap_text(
    view: HeatmapView, colour: bool = True, cell_width: int = 1, cursor: tuple[int, int] | None = None
) -> Text:
    """A Rich text heatmap: one line per token (its number and label), one cell per token it may attend to.

    Cells above the diagonal are blank (causal); reply tokens' rows are marked
    ``▸`` and a ``│`` column header marks where the reply starts. With
    ``colour`` a cell is its colour on the ramp (a background: readable on
    light and dark terminals, and Rich maps it to 256 or 16 colours where
    that is all there is); without, its glyph (pipes, ``NO_COLOR``).
    ``cursor`` (row, column) draws that cell as ``◆`` in reverse video.
    """
    from rich.cells import cell_len
    from rich.style import Style
    from rich.text import Text

    matrix = view.matrix
    size = len(view.labels)
    label_width = max((cell_len(label) for label in view.labels), default=1)  # wide (CJK) characters
    number_width = len(str(view.first_index + size - 1))
    margin = heatmap_margin(view)
    text = Text(no_wrap=True, overflow="crop")
    header = [" "] * (size * cell_width)
    reply_column = view.reply_start - view.first_index
    if 0 < reply_column < size:  # first, so that no number is written over it ("2│" read as 2)
        header[reply_column * cell_width] = "│"
    for column in range(size):
        position = view.first_index + column
        if position % 10 == 0 and column != reply_column:
            mark = str(position)
            start = column * cell_width
            if all(c == " " for c in header[start : start + len(mark)]) and start + len(mark) <= len(header):
                header[start : start + len(mark)] = list(mark)
    text.append(" " * margin + "".join(header).rstrip() + "\n", style="dim")
    styles: dict[tuple[int, int, int], Style] = {}
    for row in range(size):
        position = view.first_index + row
        marker = "▸" if position >= view.reply_start else " "
        label_style = (
            "reverse" if cursor is not None and cursor[0] == row else "bold" if marker == "▸" else ""
        )
        label = view.labels[row] + " " * (label_width - cell_len(view.labels[row]))
        text.append(f"{position:>{number_width}} {marker} {label} ", style=label_style)
        for column in range(size):
            if (row, column) == cursor:
                text.append("◆" * cell_width, style="reverse bold")
                continue
            if column > row:
                text.append(FUTURE * cell_width)
                continue
            weight = float(matrix[row, column])
            if colour:
                rgb = shade_rgb(weight)
                style = styles.get(rgb)
                if style is None:
                    style = styles[rgb] = Style(bgcolor=f"rgb({rgb[0]},{rgb[1]},{rgb[2]})")
                text.append(" " * cell_width, style=style)
            else:
                text.append(shade_glyph(weight) * cell_width)
        if row < size - 1:
            text.append("\n")
    return text


def tail_view(view: HeatmapView, count: int) -> HeatmapView:
    """The last ``count`` tokens of ``view`` (a terminal narrower than the window)."""
    size = len(view.labels)
    if count >= size:
        return view
    cut = size - count
    return HeatmapView(view.matrix[cut:, cut:], view.labels[cut:], view.first_index + cut, view.reply_start)


MIN_LABEL_WIDTH = 3
"""Narrowest token label of a fitted heatmap: ``␣c…`` still tells the rows apart."""

MIN_CELLS = 8
"""Token columns a fitted heatmap keeps (when there are that many) before it narrows the labels
instead: fewer would show almost nothing of what each token attends to."""


def heatmap_min_width(number_width: int = 1) -> int:
    """The narrowest terminal (in cells) a heatmap is drawn on, with row numbers of ``number_width`` digits.

    Row number, `` ▸ ``, a :data:`MIN_LABEL_WIDTH` label, a space, room for
    :data:`MIN_CELLS` token columns, and one spare column (a line that fills the
    last column makes some terminals wrap). With ``number_width=1`` it is a lower
    bound known before any token is, so ``assistant attention`` can refuse a
    narrower terminal before the model loads.
    """
    return number_width + 3 + MIN_LABEL_WIDTH + 1 + MIN_CELLS + 1


def check_heatmap_width(width: int, number_width: int = 1) -> None:
    """One error line, naming the width needed, when a terminal ``width`` cells wide cannot show a heatmap."""
    needed = heatmap_min_width(number_width)
    if width < needed:
        raise AssistantError(
            f"the terminal is {width} columns wide, too narrow for the attention map "
            f"(it needs {needed}): widen it, or use --out FILE.png or --json"
        )


def fit_view(view: HeatmapView, width: int) -> HeatmapView:
    """``view`` fitted to a terminal ``width`` cells wide: labels narrowed, then only the last tokens kept.

    :func:`heatmap_text` crops lines wider than the screen, and a crop cuts the
    diagonal (the newest tokens) off every row while the label margin stays; a
    margin wider than the screen leaves no map at all. So the labels give way
    first (down to :data:`MIN_LABEL_WIDTH` cells) while fewer than
    :data:`MIN_CELLS` token columns would fit, then the earliest tokens are
    dropped, rows and columns alike (:func:`summary_line` says which are shown).
    Narrower than :func:`heatmap_min_width`: :func:`check_heatmap_width`'s error.
    """
    size = len(view.labels)
    check_heatmap_width(width, len(str(view.first_index + size - 1)))
    label_width = _label_width(view, width, min(size, MIN_CELLS))
    tail = tail_view(view, _room(view, width) - label_width)
    return _narrowed(tail, label_width)


def fit_labels(view: HeatmapView, width: int) -> HeatmapView:
    """``view`` with labels narrowed (down to :data:`MIN_LABEL_WIDTH` cells) so that every column fits ``width``.

    The chat app's map scrolls rather than dropping tokens (:func:`fit_view`), but a
    map wider than the view was scrolled to the cursor, on the right: the row labels
    went out of sight on an 80-column terminal, where narrower labels let it all fit.
    Where even the narrowest labels leave too little room, the map scrolls as before.
    No spare column: a widget's last column, unlike a terminal's, never wraps.
    """
    return _narrowed(view, _label_width(view, width + 1, len(view.labels)))


def _room(view: HeatmapView, width: int) -> int:
    """Cells for the label and the token columns: the row number, `` ▸ ``, a space and a spare column taken off."""
    return width - len(str(view.first_index + len(view.labels) - 1)) - 3 - 1 - 1


def _label_width(view: HeatmapView, width: int, wanted: int) -> int:
    """The widest label (at most the widest there is) that leaves ``wanted`` token columns room, or the least."""
    from rich.cells import cell_len

    room = _room(view, width)
    widest = max((cell_len(label) for label in view.labels), default=MIN_LABEL_WIDTH)
    return next((cells for cells in range(widest, MIN_LABEL_WIDTH, -1) if room - cells >= wanted), MIN_LABEL_WIDTH)


def _narrowed(view: HeatmapView, label_width: int) -> HeatmapView:
    from rich.cells import cell_len

    return replace(view, labels=[short_label(label, label_width, cell_len) for label in view.labels])


def summary_line(maps: AttentionMaps, shown: int) -> str:
    """Which tokens are drawn (the last ``shown``), out of how many, and where the reply is."""
    total = maps.window_start + len(maps.token_ids)
    reply = total - maps.prompt_tokens
    if shown == 1 < total:  # not "tokens 30–30 of 31 (the last 1)"
        span = f"token {total - 1} of {total} (the last one)"
    elif shown < total:
        span = f"tokens {total - shown}–{total - 1} of {total} (the last {shown})"
    else:  # not "all 1 tokens"
        span = f"all {total} tokens" if total != 1 else "1 token"
    where = f"prompt {maps.prompt_tokens}, reply {reply}" + (" (rows ▸)" if reply else "")  # no ▸ row to name
    return f"{span} · {where} · row i: token i's attention to earlier ones"


def maps_to_json(maps: AttentionMaps, layer: int | None, head: int | None, digits: int = 6) -> dict[str, Any]:
    """The numbers behind a view: tokens, and the selected map(s) as nested lists (rows attend to columns)."""
    check_selection(maps, layer, head)
    if layer is None:
        selected = [(index, head) for index in range(layer_count(maps))]
    else:
        selected = [(layer, head)]
    drawn = []
    for index, chosen in selected:
        matrix = select_map(maps, index, chosen)
        drawn.append(
            {
                "layer": index,
                "head": "mean" if chosen is None else chosen,
                "weights": [[round(float(w), digits) for w in row] for row in matrix],
            }
        )
    first = maps.window_start
    return {
        "layers": layer_count(maps),
        "heads": head_count(maps),
        "prompt_tokens": maps.prompt_tokens,
        "total_tokens": first + len(maps.token_ids),
        "window_start": first,
        # each token as `assistant tokenize --json` gives it: a piece that is not a whole character has
        # text null and its bytes (its decoded text would be "\ufffd"), a control token is marked special
        "tokens": [
            {"index": first + i, **piece.to_dict(), "reply": first + i >= maps.prompt_tokens}
            for i, piece in enumerate(drawn_pieces(maps))
        ],
        "maps": drawn,
    }


# ---- the chat app's view, without Textual -------------------------------------------------------------
@dataclass
class AttentionViewState:
    """Which map the attention view shows and where its cursor is (keys change it, the widget draws it).

    Starts on the last layer's head mean, with the cursor on the last token
    looking at itself; the cursor never leaves the causal triangle.
    """

    maps: AttentionMaps
    model: str = ""
    layer: int = -1
    head: int | None = None
    """None: the mean over heads."""
    row: int = -1
    column: int = -1

    def __post_init__(self) -> None:
        size = len(self.maps.token_ids)
        self.layer = self.layer % layer_count(self.maps)
        self.row = self.row % size
        self.column = min(self.column % size, self.row)
        self.labels = token_labels(self.maps, 10)

    def change_layer(self, step: int) -> None:
        self.layer = (self.layer + step) % layer_count(self.maps)

    def change_head(self, step: int) -> None:
        """Cycle through the head mean and each head (mean, 0, 1, …, last, mean)."""
        positions = head_count(self.maps) + 1  # the mean is position 0
        current = 0 if self.head is None else self.head + 1
        target = (current + step) % positions
        self.head = None if target == 0 else target - 1

    def move(self, rows: int, columns: int) -> None:
        size = len(self.maps.token_ids)
        self.row = min(max(self.row + rows, 0), size - 1)
        self.column = min(max(self.column + columns, 0), self.row)

    def matrix(self) -> np.ndarray:
        return select_map(self.maps, self.layer, self.head)

    def title(self) -> str:
        return map_title(self.model, self.layer, self.head, layer_count(self.maps))

    def view(self) -> HeatmapView:
        return HeatmapView(self.matrix(), self.labels, self.maps.window_start, self.maps.prompt_tokens)

    def detail(self) -> str:
        """The number under the cursor, in words (colour is never the only carrier)."""
        matrix = self.matrix()
        first = self.maps.window_start
        weight = float(matrix[self.row, self.column])
        before = float(outside_window(matrix)[self.row])
        text = (
            f"token {first + self.row} {self.labels[self.row]} → token {first + self.column} "
            f"{self.labels[self.column]}: {weight:.1%}"
        )
        if first:
            text += f" · {before:.1%} of its attention goes to tokens before the window"
        return text
