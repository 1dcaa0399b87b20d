"""Attention pictures: PNG, SVG or a self-contained HTML page, for the CLI and the chat app's export.

matplotlib is imported here, inside the functions, and only when a picture is
written (it costs ~0.3 s: never at CLI start-up). Figures are built with
``matplotlib.figure.Figure`` and the Agg canvas directly, not ``pyplot``: no
global state, no GUI backend, safe from a worker thread.

Token labels are model output, i.e. data: they pass through
:func:`~assistant.inspect.attention.token_labels` (visible spaces, no control
characters), matplotlib's mathtext is switched off for them (``$x$`` stays
``$x$``), and the HTML page escapes every text it writes around the SVG. A
character no installed font can draw (CJK with matplotlib's own DejaVu Sans
alone) is written as its escape, ``\\u672c``, not drawn as a box (:func:`picture_text`).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import html
import io
import logging
import os
import secrets
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AssistantError
from .attention import (
    COLOUR_ANCHORS,
    GAMMA,
    check_selection,
    drawn_pieces,
    heatmap_view,
    layer_count,
    map_title,
    select_map,
    short_label,
    summary_line,
)

if TYPE_CHECKING:
    from ..types import AttentionMaps

FORMATS = (".png", ".svg", ".html")
"""What ``--out`` (and the chat app's export) can write, by file suffix."""

LABEL_WIDTH = 14
"""Characters of a token label on an axis (longer ones end in ``…``)."""

MAX_LABELLED_TOKENS = 96
"""Past this many tokens an axis shows every k-th label, so labels never overlap."""

DPI = 110

LABEL_FONTS = (
    "DejaVu Sans",  # matplotlib's own: Latin, Greek, Cyrillic, arrows, symbols
    "Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK KR",
    "Droid Sans Fallback", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Arial Unicode MS",
    "Noto Sans", "Noto Sans Devanagari", "Noto Sans Arabic", "Noto Sans Hebrew", "Noto Sans Thai",
)  # fmt: skip
"""Fonts the labels and titles are drawn in, each used for what the ones before it lack, where installed."""

HTML_NOTE = (
    "Row i: how much token i attends to each earlier token (a row sums to 1 over the whole prompt + reply). "
    "Colour: dark 0 to bright 1, following the square root of the weight."
)


@dataclass(frozen=True)
class Panel:
    """One heatmap of a figure: its weights and its title."""

    matrix: Any
    title: str


def picture_format(path: Path) -> str:
    """The format asked for by ``path``'s suffix, or a one-line error naming the ones there are.

    The error names the path as given (``/dev/full``, not ``'full'``), and a
    name that is only a suffix (``.png``: a hidden file with no suffix, to
    ``Path``) is told it needs a name, not that it must end in ``.png``.
    """
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        if path.name.lower() in FORMATS:
            raise AssistantError(
                f"cannot write {str(path)!r}: give the picture a name before {path.name} (map{path.name})"
            )
        raise AssistantError(
            f"cannot write {str(path)!r}: the picture's file name must end in {', '.join(FORMATS)}"
        )
    return suffix[1:]


def check_picture_path(given: str | os.PathLike[str]) -> str:
    """The format ``given`` asks for, once it is known the file can be created there.

    ``--out`` is checked before the model loads and the reply is generated (a
    long text takes minutes): a wrong suffix, an existing directory or
    something else that is not a file, a folder that does not exist or cannot
    be written to (read-only, not the user's, ``/proc``) fail then, in one
    line, not after the work. Take the name as typed: a trailing ``/`` (or
    ``/.``) says "a folder" (``x.png/``), and ``Path`` would drop it and write
    a file named ``x.png``.
    """
    text = os.fspath(given)
    if not text:  # `--out ""` (an unset shell variable) named no folder, yet was told it did
        raise AssistantError(f"cannot write '': give a file name ending in {', '.join(FORMATS)}")
    if os.path.basename(text) in ("", ".", ".."):  # "x.png/", "x.png/.": a folder's name
        raise AssistantError(
            f"cannot write {text}: that names a folder, not a file "
            f"(give a file name ending in {', '.join(FORMATS)})"
        )
    path = Path(text)
    if path.suffix.lower() not in FORMATS and path.is_dir():  # `--out adir`: not "must end in .png"
        raise _directory_error(path, FORMATS)
    kind = picture_format(path)
    try:  # a name too long, a loop of links: the system's reason, in the same one line as the others
        _check_writable(path, kind)
    except OSError as exc:
        raise AssistantError(f"cannot write {path}: {exc.strerror or exc}") from None
    return kind


def _check_writable(path: Path, kind: str) -> None:
    """:func:`check_picture_path`'s tests of the file system (they may raise :class:`OSError`)."""
    if path.is_dir():
        raise _directory_error(path, (f".{kind}",))
    if path.is_symlink():  # a loop of links (ELOOP) raises here; the picture replaced the link before
        with contextlib.suppress(FileNotFoundError):  # a dangling link: its target's folder is checked below
            os.stat(path)
    target = _target(path)
    if target.exists() and not target.is_file():  # a FIFO would block the write, a device swallow it
        raise AssistantError(f"cannot write {path}: it exists and is not a regular file")
    parent = target.parent
    if not parent.is_dir():
        reason = f"{parent} is not a folder" if parent.exists() else f"the folder {parent} does not exist"
        raise AssistantError(f"cannot write {path}: {reason}")
    if target.exists() and not os.access(target, os.W_OK):
        raise AssistantError(f"cannot write {path}: the file is read-only")
    try:  # the one sure test that a file can be created there: create one (permissions, read-only mounts)
        fd, name = _create_temporary(target, mode=0o600)
    except OSError as exc:
        if not _writable_file(target):  # else the file itself is written (write_atomically)
            raise AssistantError(f"cannot write {path}: {_creation_refused(parent, exc)}") from None
    else:
        os.close(fd)
        os.unlink(name)


def _directory_error(path: Path, endings: Sequence[str]) -> AssistantError:
    """The one line for ``--out`` naming a directory, whatever its name ends in."""
    return AssistantError(
        f"cannot write {path}: it is a directory (give a file name ending in {', '.join(endings)})"
    )


def _creation_refused(folder: Path, exc: OSError) -> str:
    """Why no new file could be made in ``folder``, an existing folder, in words a user can act on.

    A kernel's own file system (``/proc``) answers a new file's creation with
    ENOENT: "cannot write /proc/x.png: No such file or directory" named no missing
    file or folder, and ``/proc`` is there. Said as what it is; other reasons
    (permission denied, a read-only file system, a name too long) are the system's.
    """
    if exc.errno == errno.ENOENT:
        return f"the folder {folder} takes no new files"
    return str(exc.strerror or exc)


def _writable_file(target: Path) -> bool:
    """An existing file one may write, in a folder that may take no new file (the user's file, a shared folder)."""
    return target.is_file() and os.access(target, os.W_OK)


def _target(path: Path) -> Path:
    """The file a write to ``path`` lands in: a symbolic link's target (the link itself stays a link)."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _create_temporary(target: Path, mode: int = 0o666) -> tuple[int, Path]:
    """A new hidden file beside ``target`` (the same folder: a rename replaces ``target`` in one step).

    ``mode`` less the umask, as a file the user creates gets; a random name,
    so two exports at once (the chat app draws in a thread) never share one.
    """
    name = target.with_name(f".{target.name[:64]}.{secrets.token_hex(6)}.tmp")  # a long name stays legal
    return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), name


def write_atomically(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` so that a file already there is replaced whole or not at all.

    Written beside it first and renamed over it: a full disk or a kill half-way
    leaves the old picture as it was, never a truncated one. An existing file
    keeps its permissions; in a folder that takes no new file, a file one may
    write is written in place.
    """
    target = _target(path)
    try:
        fd, name = _create_temporary(target)
    except OSError as exc:
        if not _writable_file(target):
            raise AssistantError(f"cannot write {path}: {exc.strerror or exc}") from exc
        try:  # no new file in that folder, but this one may be written: in place, as before
            target.write_bytes(payload)
        except OSError as error:
            raise AssistantError(f"cannot write {path}: {error.strerror or error}") from error
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        with contextlib.suppress(OSError):
            os.chmod(name, os.stat(target).st_mode & 0o7777)
        os.replace(name, target)
    except BaseException as exc:  # a Ctrl-C too: it left the hidden temporary file beside the picture
        with contextlib.suppress(OSError):
            os.unlink(name)
        if isinstance(exc, OSError):
            raise AssistantError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise


@contextlib.contextmanager
def _quiet_matplotlib() -> Iterator[None]:
    """Token labels may hold characters the font lacks: draw a box, do not warn on stderr."""
    logger = logging.getLogger("matplotlib")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


@functools.cache
def _installed_label_fonts() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The installed :data:`LABEL_FONTS`: their family names and font files (looked up once)."""
    from matplotlib.font_manager import FontProperties, findfont, fontManager

    installed = {entry.name for entry in fontManager.ttflist}
    families = tuple(name for name in LABEL_FONTS if name in installed)
    files = tuple(findfont(FontProperties(family=name), fallback_to_default=False) for name in families)
    return families, files


def label_fonts() -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """The installed :data:`LABEL_FONTS`: their family names (matplotlib's fallback list) and the fonts.

    The fonts come from matplotlib's ``get_font``, which keeps one per thread (a
    font object is not thread-safe, and the chat app draws in a worker thread).
    """
    from matplotlib.font_manager import get_font

    families, files = _installed_label_fonts()
    return families, tuple(get_font(path) for path in files)


def picture_text(text: str) -> str:
    """``text`` with each character no label font has a glyph for written as its escape (``\\u672c``).

    matplotlib draws such a character as an empty box: a CJK token's label (``本``)
    became a box no one can read, and two such tokens could not be told apart. The
    escape names the character, as :func:`~assistant.terminal_text.visible_text`
    names the invisible ones; with a CJK font installed, the character is drawn.
    """
    _, fonts = label_fonts()
    if not fonts:
        return text
    out: list[str] = []
    for char in text:
        code = ord(char)
        if code < 0x80 or any(font.get_char_index(code) for font in fonts):
            out.append(char)
        else:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return "".join(out)


def picture_labels(maps: AttentionMaps) -> list[str]:
    """The drawn tokens' axis labels: :func:`picture_text`, cut to :data:`LABEL_WIDTH` characters as written.

    Cut after the escapes are counted, never inside one: a label of ideographs
    written as escapes was six times as long, and pushed the map off the picture.
    """

    def written(text: str) -> int:
        return len(picture_text(text))

    return [picture_text(short_label(piece.marked(), LABEL_WIDTH, written)) for piece in drawn_pieces(maps)]


def colormap() -> Any:
    """The attention ramp of :mod:`.attention` as a matplotlib colormap (the terminal's colours)."""
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list(
        "assistant-attention", [tuple(c / 255 for c in rgb) for rgb in COLOUR_ANCHORS]
    )


def _tick_positions(count: int) -> list[int]:
    step = max(1, -(-count // MAX_LABELLED_TOKENS))
    return list(range(0, count, step))


def _draw_panel(
    ax: Any, panel: Panel, labels: Sequence[str], reply_at: int | None, norm: Any, cmap: Any, small: bool
) -> Any:
    import numpy as np

    matrix = np.asarray(panel.matrix, dtype=np.float32)
    size = matrix.shape[0]
    future = np.triu(np.ones_like(matrix, dtype=bool), k=1)
    image = ax.imshow(np.ma.masked_array(matrix, future), cmap=cmap, norm=norm, interpolation="nearest")
    if small:  # a grid's panel; a single map's title is the figure's
        ax.set_title(panel.title, fontsize=8, parse_math=False)
    if reply_at is not None:
        for draw in (ax.axhline, ax.axvline):
            draw(reply_at - 0.5, color="#4aa3df", linewidth=0.8 if small else 1.2)
    if small:
        ax.set_xticks([])
        ax.set_yticks([])
        return image
    ticks = _tick_positions(size)
    fontsize = 7 if size > 40 else 9
    shown = [labels[i] for i in ticks]
    families = list(label_fonts()[0]) or None
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xticklabels(shown, rotation=90, fontsize=fontsize, parse_math=False, fontfamily=families)
    ax.set_yticklabels(shown, fontsize=fontsize, parse_math=False, fontfamily=families)
    ax.set_xlabel("attended token (key)")
    ax.set_ylabel("attending token (query)")
    return image


def attention_figure(maps: AttentionMaps, panels: Sequence[Panel], title: str) -> Any:
    """A figure of one labelled heatmap, or a grid of small ones (``--layer all``), with one colorbar."""
    from matplotlib.colors import PowerNorm
    from matplotlib.figure import Figure

    view = heatmap_view(maps, panels[0].matrix, LABEL_WIDTH)
    size = len(view.labels)
    reply_at = _reply_line(maps, size)
    cmap = colormap().with_extremes(bad="#ffffff")  # the future (above the diagonal): nothing to attend to
    norm = PowerNorm(gamma=GAMMA, vmin=0.0, vmax=1.0)
    with _quiet_matplotlib():
        if len(panels) == 1:
            side = min(16.0, max(6.0, 3.0 + size * 0.16))
            figure = Figure(figsize=(side + 1.5, side), dpi=DPI, layout="constrained")
            ax = figure.add_subplot()
            image = _draw_panel(ax, panels[0], picture_labels(maps), reply_at, norm, cmap, small=False)
        else:
            columns = min(6, len(panels))
            rows = -(-len(panels) // columns)
            figure = Figure(figsize=(2.2 * columns + 1.2, 2.3 * rows + 0.8), dpi=DPI, layout="constrained")
            axes = figure.subplots(rows, columns, squeeze=False)
            image = None
            for index, ax in enumerate(axes.flat):
                if index < len(panels):
                    image = _draw_panel(ax, panels[index], view.labels, reply_at, norm, cmap, small=True)
                else:
                    ax.set_axis_off()
            ax = axes
        figure.suptitle(picture_text(title), parse_math=False, fontfamily=list(label_fonts()[0]) or None)
        colorbar = figure.colorbar(image, ax=ax, shrink=0.8)
        colorbar.set_label("attention weight (colour ∝ √weight)")
        figure.supxlabel(caption(maps, size), fontsize=8, color="#555555", parse_math=False)
    return figure


def caption(maps: AttentionMaps, size: int) -> str:
    """The line under a picture: :func:`summary_line`, and what the blue lines mean where there are any.

    No line is drawn when the window holds no reply token or no prompt token
    (``--window 3`` over a longer reply, an empty reply): the caption then named
    lines no one could find.
    """
    text = summary_line(maps, size).replace(" (rows ▸)", "")
    return text + " · blue lines: where the reply starts" if _reply_line(maps, size) is not None else text


def _reply_line(maps: AttentionMaps, size: int) -> int | None:
    """The row (and column) where the reply starts in a ``size``-token picture; None: not inside it."""
    reply_at = maps.prompt_tokens - maps.window_start
    return reply_at if 0 < reply_at < size else None


def write_figure(figure: Any, path: Path, title: str) -> None:
    """Write ``figure`` as PNG, SVG or a self-contained HTML page (the SVG inline), by ``path``'s suffix."""
    kind = picture_format(path)
    with _quiet_matplotlib():
        if kind in ("png", "svg"):
            data = io.BytesIO()
            figure.savefig(data, format=kind)
            payload = data.getvalue()
        else:
            svg = io.StringIO()
            figure.savefig(svg, format="svg")
            payload = _html_page(svg.getvalue(), title).encode("utf-8")
    write_atomically(path, payload)


def _html_page(svg: str, title: str) -> str:
    """One file that opens anywhere: the SVG inline (its XML prologue removed), every other text escaped."""
    start = svg.find("<svg")
    body = svg[start:] if start >= 0 else svg
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        "<style>body{font-family:sans-serif;margin:1em} svg{max-width:100%;height:auto}</style>\n"
        "</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n<p>{html.escape(HTML_NOTE)}</p>\n{body}\n</body>\n</html>\n"
    )


def picture_panels(
    maps: AttentionMaps, layer: int | None, head: int | None, model: str
) -> tuple[list[Panel], str]:
    """What to draw, and the title: one layer's head (or head mean), or (``layer`` None) every layer's."""
    layers = layer_count(maps)
    if layer is None:
        panels = [Panel(select_map(maps, index, head), f"layer {index}") for index in range(layers)]
        return panels, map_title(model, None, head, layers).replace(
            f"mean of {layers} layers", f"all {layers} layers"
        )
    return [Panel(select_map(maps, layer, head), map_title(model, layer, head, layers))], map_title(
        model, layer, head, layers
    )


def save_attention_picture(
    maps: AttentionMaps, path: Path, layer: int | None, head: int | None, model: str = ""
) -> None:
    """Draw one map (a layer's head or head mean) or, ``layer`` None, a grid of every layer's, into ``path``.

    The suffix (.png, .svg, .html) picks the format; a wrong one fails before anything is drawn.
    """
    picture_format(path)
    check_selection(maps, layer, head)
    panels, title = picture_panels(maps, layer, head, model)
    write_figure(attention_figure(maps, panels, title), path, title)
