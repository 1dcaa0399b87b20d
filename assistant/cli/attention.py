"""``assistant attention``: what the model looked at while it answered: heatmap, picture, numbers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .common import (
    NAME,
    TEXT,
    CtrlC,
    echo_json,
    echo_untrusted,
    message_prompt,
    mode_option,
    progress_to_stderr,
    read_stdin_text,
    resolve_model_and_backend,
)

if TYPE_CHECKING:
    from rich.console import Console

    from ..types import AttentionMaps

DEFAULT_MAX_NEW_TOKENS = 16
"""A short reply by default: the map is about how the reply relates to the prompt, and n² grows fast."""

LABEL_WIDTH = 10
"""Characters of a token's label in the terminal heatmap (fewer on a narrow terminal: ``fit_view``)."""


def parse_layer(value: str) -> int | None:
    """``all`` → None (every layer), a number → that layer (negative counts from the last)."""
    from ..errors import ConfigError
    from ..option_values import int_from_text

    if value.strip().lower() == "all":
        return None
    try:
        return int_from_text(value)
    except ValueError:
        raise ConfigError(f"--layer takes a layer number or 'all', not {value!r}") from None


def parse_head(value: str) -> int | None:
    """``mean`` → None (the mean over heads), a number → that head."""
    from ..errors import ConfigError
    from ..option_values import int_from_text

    if value.strip().lower() == "mean":
        return None
    try:
        head = int_from_text(value)
    except ValueError:
        raise ConfigError(f"--head takes a head number or 'mean', not {value!r}") from None
    if head < 0:
        raise ConfigError(f"--head must be 0 or more, not {head}")
    return head


@click.command()
@click.argument("text", type=TEXT, required=False)
@click.option("-m", "--model", type=NAME, default=None, help="Catalog name or path to a model (default: ASSISTANT_MODEL, else config default_model, else smollm2).")
@click.option(
    "-b",
    "--backend",
    type=NAME,
    default="transformers",
    show_default=True,
    help="Backend that computes the weights (one that can: see `assistant backends`).",
)
@click.option(
    "-o",
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Sampling parameter or backend option (defaults here: temperature=0).",
)
@click.option("-s", "--system", type=TEXT, default=None, help="System prompt (chat mode).")
@mode_option
@click.option(
    "--layer",
    "layer_text",
    default="-1",
    show_default=True,
    help="Layer number (negative: from the last) or 'all'.",
)
@click.option(
    "--head",
    "head_text",
    default="mean",
    show_default=True,
    help="Head number or 'mean' (the mean over heads).",
)
@click.option(
    "--max-new-tokens",
    "max_new_tokens",
    type=int,
    default=None,
    help=f"Most reply tokens (default {DEFAULT_MAX_NEW_TOKENS}, or -o max_tokens=N).",
)
@click.option(
    "--window",
    type=int,
    default=None,
    help="Keep the last N tokens of prompt + reply (default 64; 0: all of them).",
)
@click.option(
    "--max-memory", "max_memory_mb", type=int, default=None, help="Refuse past this many MB (default 2048)."
)
@click.option(  # a str, not a Path: Path("x.png/") drops the slash that says "a folder"
    "--out", type=click.Path(), default=None, help="Write a picture: FILE.png, .svg or .html."
)
@click.option("--json", "as_json", is_flag=True, help="Print the tokens and weights as one JSON object.")
@click.option("--verbose", is_flag=True, help="Show the engine's own logs.")
def attention(
    text: str | None,
    model: str | None,
    backend: str,
    options: tuple[str, ...],
    system: str | None,
    mode: str | None,
    layer_text: str,
    head_text: str,
    max_new_tokens: int | None,
    window: int | None,
    max_memory_mb: int | None,
    out: str | None,
    as_json: bool,
    verbose: bool,
) -> None:
    """Generate a reply to TEXT, then show how much each token attended to each earlier one.

    Row i of the map is token i's attention over the tokens before it (a
    distribution: it sums to 1 over the whole prompt + reply). The terminal
    shows one layer's map (default: the last layer, mean over heads; with
    --layer all, the mean over layers); --out draws it (or, with --layer all,
    every layer's map side by side) as a picture, and --json gives each layer's.
    """
    from ..errors import ConfigError
    from ..inspect import attention as att
    from ..models.mode import choose_mode
    from ..options import build_params, parse_options
    from ..session import open_backend
    from ..types import MAX_MAX_TOKENS
    from .prompt import build_user_text

    layer = parse_layer(layer_text)
    head = parse_head(head_text)
    console = None
    if out is not None:
        from ..inspect.pictures import check_picture_path

        check_picture_path(out)  # a wrong suffix or folder fails before the model loads
    elif not as_json:  # the terminal heatmap: a terminal too narrow for any map fails before the work too
        console = heatmap_console()
        att.check_heatmap_width(console.width)
    if window is not None and window < 0:
        raise ConfigError(f"--window must be 0 (all tokens) or more, not {window}")
    if max_memory_mb is not None and max_memory_mb <= 0:
        raise ConfigError(f"--max-memory must be a positive number of MB, not {max_memory_mb}")
    if max_new_tokens is not None and max_new_tokens < 1:
        raise ConfigError(f"--max-new-tokens must be at least 1, not {max_new_tokens}")
    if max_new_tokens is not None and max_new_tokens > MAX_MAX_TOKENS:  # named as typed, not as max_tokens
        raise ConfigError(f"--max-new-tokens must be at most {MAX_MAX_TOKENS:,}, not {max_new_tokens}")
    user_text = build_user_text(None if text == "-" else text, read_stdin_text())
    overrides, backend_opts = parse_options(options)
    overrides.setdefault("temperature", 0.0)
    if max_new_tokens is not None:
        overrides["max_tokens"] = max_new_tokens
    else:
        overrides.setdefault("max_tokens", DEFAULT_MAX_NEW_TOKENS)
    params = build_params(overrides)
    if verbose:
        backend_opts["verbose"] = True
    model_name, backend = resolve_model_and_backend(model, backend)  # -b openai: the server's own model
    refuse_without_attention(backend)  # -b llama-cpp: before the model loads, not after
    prompt = message_prompt(user_text, system, choose_mode(mode, model_name))  # a base model continues TEXT

    with CtrlC(at_once=True) as ctrl_c:  # a press stops the engine: "interrupted", status 130
        engine = open_backend(model_name, backend, backend_opts, progress=progress_to_stderr)
        ctrl_c.attach(engine)  # a press while loading, dropped in an engine callback, stops here
        try:  # a backend that cannot form attention weights says so, in one line
            layers, heads = engine.attention_shape()
            layer = att.resolve_layer(layer, layers, heads, head)  # a wrong layer or head: before the work
            maps = engine.attention(
                prompt,
                params,
                window=att.DEFAULT_WINDOW if window is None else window or None,
                memory_limit=(max_memory_mb or att.DEFAULT_MEMORY_LIMIT // 1024**2) * 1024**2,
            )
        finally:
            engine.unload()
    reply = maps.completion.text if maps.completion is not None else ""
    if as_json:
        data = {
            "model": engine.model_name,
            "backend": engine.name,
            "text": reply,
            **att.maps_to_json(maps, layer, head),
        }
        echo_json(data, indent=None)
    if out is not None:
        from ..inspect.pictures import save_attention_picture

        save_attention_picture(maps, Path(out), layer, head, engine.model_name)
        echo_untrusted(f"wrote {out}", err=True)
    if console is not None:
        print_heatmap(console, maps, layer, head, engine.model_name, reply)


def refuse_without_attention(backend: str) -> None:
    """The backend's own refusal, before any load, when it can give no attention weights whatever the model.

    Read from the typed capability where the backend knows it unloaded
    (:func:`~assistant.backends.capabilities.known_before_load`); other backends are
    asked once loaded, as before. The refusal is the backend's ``attention_shape``'s,
    the one line it gives loaded too.
    """
    from ..backends import create_backend
    from ..backends.capabilities import known_before_load

    unloaded = create_backend(backend)
    if known_before_load(unloaded, "attention") is False:
        unloaded.attention_shape()  # NotSupportedError: "the llama-cpp backend cannot return attention weights ..."


def heatmap_console() -> Console:
    """The console the terminal heatmap is printed on (its width decides what fits).

    No emoji codes: Rich turns ``:smile:`` into 😄 even with ``markup=False``, and the
    reply and token labels printed here are the model's text, shown as written.
    """
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, emoji=False)


def print_heatmap(
    console: Console, maps: AttentionMaps, layer: int | None, head: int | None, model: str, reply: str
) -> None:
    """The terminal view: title, the reply, the heatmap (fitted to the terminal's width) and the legend."""
    from ..inspect import attention as att
    from ..inspect.lines import fold_words
    from ..terminal_text import visible_text

    view = att.heatmap_view(maps, att.combined_map(maps, layer, head), LABEL_WIDTH)
    view = att.fit_view(view, console.width)  # narrower labels, then fewer tokens: never a cropped row
    # NO_COLOR leaves Rich a colour system but drops every colour: the cells would all be blank
    colour = console.color_system is not None and not console.no_color

    def say(text: str, separator: str = " · ", style: str = "") -> None:
        """A line of parts, folded between parts to the width the map keeps (one spare column), a part
        wider than that between its words (Rich wrapped it, leaving a space at the end of the line)."""
        for line in fold_words(text.split(separator), separator, console.width - 1):
            console.print(line, markup=False, style=style)

    say(att.map_title(model, layer, head, att.layer_count(maps)), style="bold")  # made visible there
    # each line of the reply folded between its words, as every other line here: printed whole, Rich
    # wrapped it leaving a space at each line's end, and filled the last column (some terminals wrap there)
    for line in f"reply: {visible_text(reply)}".split("\n"):
        say(line, " ")
    heatmap = att.heatmap_text(view, colour=colour)
    header = heatmap.plain.split("\n", 1)[0]
    if not header.strip():  # no column numbered, no reply start among them (`--window 1`): a line of spaces
        heatmap = heatmap[len(header) + 1 :]
        heatmap.no_wrap = True  # a slice keeps the crop, not this
    console.print(heatmap)
    say(att.summary_line(maps, len(view.labels)), style="dim")
    if colour:
        say(
            "colour = attention weight, dark 0 → bright 1 (∝ √weight) · "
            "--out FILE.png draws it, --json gives the numbers",
            style="dim",
        )
    else:
        # an entry (`█ ≥90%`, 6 cells) always fits a line: only the head, wider than a narrow terminal
        # with the first entry it is joined to, is folded between its words (Rich broke it as it liked)
        say(att.legend_text(), "  ")
