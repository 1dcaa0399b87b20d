"""``assistant tokenize`` and ``assistant next``: how the model cuts text, and what it could say next.

Both load a local model (any backend whose ``capabilities.next_token`` is set)
and print what :mod:`assistant.inspect` computes: token pieces with their bytes
made visible, and the next-token distribution before and after the sampling
settings — the lesson of every LLM primer, runnable. Everything that came from
the model (token pieces) is printed through the one sanitizer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import click

from ..inspect.shade import bar, probability_text
from . import debug_option
from .common import (
    CHAT_SYSTEM_HELP,
    TEXT,
    CtrlC,
    echo_json,
    model_options,
    one_turn,
    progress_to_stderr,
    resolve_model_and_backend,
)

if TYPE_CHECKING:
    from ..backends.base import Backend, Prompt
    from ..inspect.distribution import Candidate, NextToken
    from ..inspect.pieces import TokenPiece

BAR_WIDTH = 20
MIN_BAR_WIDTH = 4
"""The narrowest bar of ``assistant next``: on a narrow terminal the bars give way first
(the numbers beside them say the same)."""
MIN_LABEL_WIDTH = 5
"""The narrowest token column of ``assistant next`` (its header's ``token``): where even the narrowest
layout (no bars, short cut notes) leaves a long token too little room, it is cut to the room left, ending
in ``…`` (the greedy pick's line and ``--json`` give it whole). At 40 columns a row of ``␣understanding``
cut by top-k was 42 cells, and the terminal wrapped every row under the next one's rank."""


def terminal_width() -> int:
    """The width reports fold to: ``COLUMNS``, else the terminal's, else 80 (Rich's rule, as ``attention``)."""
    from rich.console import Console

    return Console().width


def _pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal cells: a CJK character or an emoji takes two, so ``str.ljust`` misaligns."""
    from rich.cells import cell_len

    return text + " " * (width - cell_len(text))


def _open(
    model: str | None, backend: str | None, options: tuple[str, ...], verbose: bool, ctrl_c: CtrlC, what: str
) -> tuple[Backend, Any]:
    """The loaded engine and the sampling settings; a Ctrl-C from here on stops it (:class:`CtrlC`).

    A backend that can never do ``what`` (a server: no next-token rows) is refused before it
    loads or connects, where its typed capability says so without a model
    (:func:`~assistant.backends.capabilities.known_before_load`); else once loaded.
    """
    from ..backends import create_backend
    from ..backends.capabilities import known_before_load
    from ..options import build_params, parse_options
    from ..session import open_backend

    overrides, backend_opts = parse_options(options)
    params = build_params(overrides)  # bad sampling values fail before the model loads
    model_name, backend_name = resolve_model_and_backend(model, backend)
    _require_local(backend_name, known_before_load(create_backend(backend_name), "next_token"), what)
    if verbose:
        backend_opts["verbose"] = True
    engine = open_backend(model_name, backend_name, backend_opts, progress=progress_to_stderr)
    ctrl_c.attach(engine)  # a press while loading, dropped in llama.cpp's log callback, stops here
    try:
        _require_local(engine.name, engine.capabilities.next_token, what)
    except BaseException:
        engine.unload()
        raise
    return engine, params


def _input_text(text: str | None) -> str:
    """TEXT and piped stdin joined as ``assistant prompt`` joins them, so the tokens shown are the ones it sends.

    TEXT alone is kept exactly as typed, blank included: how a run of spaces is
    cut is a fair question here (``assistant prompt`` refuses a blank prompt).
    """
    from .common import read_stdin_text
    from .prompt import build_user_text

    stdin_text = read_stdin_text()
    if text not in (None, "-") and not (stdin_text or "").strip():
        return text
    return build_user_text(None if text == "-" else text, stdin_text)


def _prompt(text: str, chat: bool, system: str | None) -> Prompt:
    """TEXT as sent: raw, or (``--chat``) as ``assistant prompt`` sends it, the configured system prompt first."""
    return one_turn(text, system) if chat else text


def _require_local(backend_name: str, next_token: object, what: str) -> None:
    """Refuse a backend whose ``next_token`` capability is False (None: not known yet)."""
    from ..errors import NotSupportedError

    if next_token is False:
        raise NotSupportedError(f"the {backend_name} backend cannot {what} (use -b llama-cpp or -b transformers)")


# ---- tokenize ---------------------------------------------------------------------------


@click.command()
@click.argument("text", type=TEXT, required=False)
@model_options
@click.option("--chat", is_flag=True, help="Render TEXT as a user message through the model's chat template first.")
@click.option("-s", "--system", type=TEXT, default=None, help=CHAT_SYSTEM_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@debug_option
def tokenize(
    text: str, model: str | None, backend: str | None, options: tuple[str, ...], verbose: bool,
    chat: bool, system: str | None, as_json: bool, debug: bool,
) -> None:  # fmt: skip
    """Show how the model cuts TEXT into tokens: pieces, ids, bytes, and the share of the context window.

    Leading spaces show as ␣, newlines as ↵, bytes that are not a whole character
    as <0xNN>; with --chat the chat template's control tokens are marked special.
    Piped text is read too, after TEXT, as `assistant prompt` reads it (cat notes.txt | assistant tokenize).
    """
    if system is not None and not chat:
        raise click.UsageError("-s/--system needs --chat (raw text has no messages)")
    text = _input_text(text)
    with CtrlC(at_once=True) as ctrl_c:
        engine, _ = _open(model, backend, options, verbose, ctrl_c, "show its token pieces")
        try:
            ids = engine.prompt_token_ids(_prompt(text, chat, system))
            pieces = engine.token_pieces(ids)
            context = engine.context_length
            facts = {"model": engine.model_name, "backend": engine.name}
        finally:
            engine.unload()
    if as_json:
        share = len(ids) / context if context else None
        echo_json({**facts, "count": len(ids), "context_length": context, "context_share": share,
                   "chat": chat, "tokens": [p.to_dict() for p in pieces]})  # fmt: skip
        return
    for line in tokenize_lines(pieces, context, facts, terminal_width()):
        click.echo(line)


def context_share(count: int, context: int) -> str:
    """``count`` tokens against the context window, in words: its share, and what is left or too many.

    A share alone hides the limit: 8191 and 8195 tokens of 8192 both print
    100.0%, and the engines take a prompt only while it leaves room for one
    token of reply (fewer tokens than the window).
    """
    if not context:
        return "context window unknown"
    from ..inspect.shade import share_text  # one format with the chat app's prompt inspector

    share = f"{share_text(count, context)} of the {context}-token context window"
    if count < context:
        left = context - count
        return f"{share} ({left} to spare)"
    over = count - context + 1
    return f"{share}: {over} token{'s' * (over != 1)} too many, the model takes at most {context - 1}"


EMPTY_NOTE = "no tokens: the text is empty, and this model adds none of its own (such as <bos>) to it"
"""What ``tokenize`` says for zero tokens, where a row of pieces and a table would be blank lines."""


def tokenize_lines(
    pieces: list[TokenPiece], context: int, facts: dict[str, str], width: int | None = None
) -> list[str]:
    """The text report: pieces in a row, then one line per token (``#``, id, piece, bytes).

    ``width`` (the terminal's): the head line and the row of pieces are folded
    between parts to fit it (:mod:`~assistant.inspect.lines`), never inside a
    ``[piece]``, and so are the tokens' bytes (:func:`token_table`); None: one line each.
    """
    from ..inspect.lines import chop, fold, fold_line, fold_words
    from ..terminal_text import visible_text

    count = len(pieces)
    share = context_share(count, context)
    name = f"{visible_text(facts['model'])} ({facts['backend']})"
    head = [name, f"{count} token{'s' * (count != 1)}", share]
    if not pieces:  # an empty text on a model that adds no <bos>: a blank row and table said nothing
        if width is None:
            return [" · ".join(head), EMPTY_NOTE]
        return [*fold_words(head, " · ", width - 1), *fold_line(EMPTY_NOTE, " ", width - 1)]
    row = [f"⟦{p.shown()}⟧" if p.special else f"[{p.shown()}]" for p in pieces]
    if width is None:
        lines = [" · ".join(head), "".join(row), ""]
    else:
        lines = [*fold_words(head, " · ", width - 1), *fold(chop(row, width - 1), "", width - 1), ""]
    return [*lines, *token_table(pieces, width)]


PIECE_COLUMN = 16
"""Cells of the piece column of ``tokenize``'s table (a wider piece pushes its row's bytes right)."""


def token_table(pieces: list[TokenPiece], width: int | None = None) -> list[str]:
    """One line per token: ``#``, id, piece, bytes (hex), and ``special`` / ``part of a character``.

    ``width`` (the terminal's): a token's bytes are folded between bytes onto lines
    of their own, under the bytes column, where its line would pass the width, and
    the note comes after the bytes of the rows that have one (aligned among them):
    with the bytes in a 24-cell column and the note after it, every row of a CJK text
    took 76 cells, and at 60 columns the terminal wrapped each under the next row's
    number. None: one line each.
    """
    from rich.cells import cell_len

    id_width = max((len(str(p.token_id)) for p in pieces), default=2)
    # a text past 99,999 tokens (a pasted book) has 6-digit row numbers: each of those rows sat a cell right
    index_width = max(5, len(str(len(pieces) - 1)))
    gap = "  "
    if width is not None and width - 1 - (index_width + id_width + 4) - 3 < MIN_LABEL_WIDTH:
        # under 23 columns or so not even a cut piece and a byte fit after the padded number and id: the
        # row gets its number's own digits and one-space gaps (at 20 columns every row was 22 cells)
        index_width, gap = len(str(len(pieces) - 1)), " "
    start = index_width + id_width + 2 * len(gap)  # where the piece starts
    column = piece_column(start, width)
    lead = start + column + 1  # where the bytes start
    # where a row's bytes go on: beside the piece, or (no byte fits there) under it, from the piece column
    bytes_at = lead if width is None or lead + 2 < width else max(0, min(start, width - 3))
    kinds = [
        "special" if p.special else ("" if p.text is not None else "part of a character") for p in pieces
    ]
    per_line = len(max((p.piece for p in pieces), key=len, default=b"")) or 1  # bytes on one line
    noted = max((len(p.piece) for p, kind in zip(pieces, kinds) if kind), default=0)  # widest noted row's
    below = False  # notes on a line of their own, under the piece: not even one byte fits beside them
    if width is not None:
        per_line = min(per_line, max(1, (width - bytes_at) // 3))  # "xx " a byte: width - 1 cells, one spare
        room = width - 1 - lead - 1 - max((len(kind) for kind in kinds), default=0)
        below = room < 2
        noted = per_line if below else min(noted, max(1, (room + 1) // 3))
    noted = min(noted, per_line)
    note_column = max(0, 3 * noted - 1)
    lines: list[str] = []
    for index, (piece, kind) in enumerate(zip(pieces, kinds)):
        step = max(1, noted if kind else per_line)  # a control token's note over no bytes: noted 0
        chunks = [piece.piece[at : at + step].hex(" ") for at in range(0, len(piece.piece), step)] or [""]
        shown = _pad(_fitted_piece(piece, width, start), column)
        head = f"{index:>{index_width}}{gap}{piece.token_id:>{id_width}}{gap}{shown} "
        note_line = ""
        if not kind:
            first = chunks[0]
        elif not below:  # where no noted row has bytes (control tokens only), the note starts the bytes column
            first = f"{chunks[0]:<{note_column}} {kind}" if note_column else kind
        elif chunks == [""] and width is not None and cell_len(head) + len(kind) < width:
            first = kind  # a control token has no bytes: its note takes their place
        else:  # at 40 columns "part of a character" beside a byte made a 53-cell row the terminal wrapped
            indent = start if width is None else max(0, min(start, width - 1 - len(kind)))  # left, if need be
            first, note_line = chunks[0], " " * indent + kind
            if width is not None and len(note_line) >= width:  # 19 cells: at 17 columns, between its words
                from ..inspect.lines import fold_line

                note_line = "\n".join(fold_line(kind, " ", width - 1))
        if width is not None and cell_len(head) > bytes_at and cell_len(head) + len(first) >= width:
            # a wide piece pushed its bytes (and their note: a 3-byte piece of an emoji, at 60 columns) past
            # the width: they start a line below, under the bytes column, where they were fitted to the width
            lines.append(head.rstrip())
            head = " " * bytes_at
        lines.append(f"{head}{first}".rstrip())
        lines += [" " * bytes_at + chunk for chunk in chunks[1:]]
        lines += note_line.split("\n") if note_line else []
    return lines


def piece_column(start: int, width: int | None) -> int:
    """Cells of the table's piece column, whose row starts ``start`` cells in: :data:`PIECE_COLUMN`, narrowed
    (down to :data:`MIN_LABEL_WIDTH`) where a byte would not fit beside it with a spare column.

    At 30 columns the 16-cell column put the bytes at column 30 of a 5-digit-id table: every row passed
    the width, and the terminal wrapped each byte under the next row's number.
    """
    if width is None:
        return PIECE_COLUMN
    return max(MIN_LABEL_WIDTH, min(PIECE_COLUMN, width - 1 - start - 3))  # " xx": a space and a byte


def _fitted_piece(piece: TokenPiece, width: int | None, start: int) -> str:
    """``piece`` as the table's piece column draws it: cut with ``…`` where it is wider than the room
    the terminal leaves after the row's number and id (the row of pieces above, the bytes beside it and
    ``--json`` give it whole), as ``next`` cuts a long token.

    SmolLM2 has tokens of 64 spaces: at 40 columns such a row was 78 cells, and the terminal wrapped
    the rest of the piece under the row numbers, between the rows' bytes.
    """
    from rich.cells import cell_len

    from ..inspect.attention import short_label

    shown = piece.shown()
    room = None if width is None else width - 1 - start  # the piece starts ``start`` cells in
    if room is None or room < MIN_LABEL_WIDTH:  # no width, or so narrow no row fits: a cut would only lose it
        return shown
    return short_label(shown, room, cell_len) if cell_len(shown) > room else shown


# ---- next --------------------------------------------------------------------------------


@click.command("next")
@click.argument("text", type=TEXT, required=False)
@model_options
@click.option("--top", type=click.IntRange(1, 200), default=10, show_default=True, help="Candidates to show.")
@click.option("--chat", is_flag=True, help="Render TEXT as a user message: what the reply would start with.")
@click.option("-s", "--system", type=TEXT, default=None, help=CHAT_SYSTEM_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@debug_option
def next_command(
    text: str, model: str | None, backend: str | None, options: tuple[str, ...], verbose: bool,
    top: int, chat: bool, system: str | None, as_json: bool, debug: bool,
) -> None:  # fmt: skip
    """The next-token distribution after TEXT, before and after the sampling settings.

    For each candidate: its probability under the model, whether top-k / top-p
    keep it, and its probability under the settings (-o temperature=… -o top_k=…
    -o top_p=…); then the greedy pick and the entropy. -o repeat_penalty does not
    change this first token: it weighs down tokens the reply already generated.
    Piped text is read too, after TEXT, as `assistant prompt` reads it.
    """
    if system is not None and not chat:
        raise click.UsageError("-s/--system needs --chat (raw text has no messages)")
    text = _input_text(text)
    with CtrlC(at_once=True) as ctrl_c:  # a press stops the engine: "interrupted", status 130
        engine, params = _open(model, backend, options, verbose, ctrl_c, "give the next-token distribution")
        try:
            result = engine.next_token(_prompt(text, chat, system), params, top=top)
            shown = [*result.candidates, result.greedy]
            pieces = {p.token_id: p for p in engine.token_pieces([c.token_id for c in shown])}
            facts = {"model": engine.model_name, "backend": engine.name}
        finally:
            engine.unload()
    if as_json:
        echo_json({**facts, "chat": chat, **next_json(result, pieces)})  # as tokenize --json says it
        return
    for line in next_lines(result, pieces, terminal_width()):
        click.echo(line)


def next_json(result: NextToken, pieces: dict[int, TokenPiece]) -> dict[str, Any]:
    """``result`` as JSON, each token named as ``tokenize --json`` names it: its bytes, and whether it is a
    control token (whose text is empty: ``<|im_end|>`` was ``"text": ""``)."""
    data = result.to_dict()
    for candidate in [data["greedy"], *data["candidates"]]:
        piece = pieces.get(candidate["id"])
        if piece is not None:
            candidate.update(piece.to_dict())
    return data


def _label(candidate: Candidate, pieces: dict[int, TokenPiece]) -> str:
    """The candidate's exact piece when known (a partial character shows its bytes, a control token
    its name in ⟦…⟧, as ``tokenize`` marks it), else its text."""
    from ..inspect.pieces import TokenPiece

    piece = pieces.get(candidate.token_id)
    return (piece or TokenPiece(candidate.token_id, candidate.text.encode("utf-8"))).marked()


def _settings(result: NextToken) -> list[str]:
    """The sampling settings in words, one part each (the report's first line folds between them)."""
    p = result.params
    if p.greedy:
        return ["temperature 0 (greedy)"]
    parts = [f"temperature {p.temperature:g}", f"top-k {p.top_k or 'off'}", f"top-p {p.top_p:g}"]
    if p.repeat_penalty != 1.0:  # it looks at generated tokens only, and before the first there are none
        parts.append(f"repeat penalty {p.repeat_penalty:g} (no effect yet: nothing generated)")
    return parts


def next_lines(
    result: NextToken, pieces: dict[int, TokenPiece] | None = None, width: int | None = None
) -> list[str]:
    """The text report: one row per candidate with model and sampled probabilities as numbers and bars.

    ``width`` (the terminal's): the bars narrow (down to :data:`MIN_BAR_WIDTH`)
    so that a row fits it, then go, then a token too long for the room left is cut
    (:data:`MIN_LABEL_WIDTH`), and the lines of parts fold between parts
    (:mod:`~assistant.inspect.lines`); None: 20-cell bars, one line each.
    """
    pieces = pieces or {}
    from rich.cells import cell_len

    from ..inspect.lines import fold_words
    from ..inspect.token_view import CUT_MARK, cut_label

    labels = [_label(c, pieces) for c in result.candidates]
    label_width = max([5, *(cell_len(label) for label in labels)])
    whys: list[str | None] = []
    for candidate in result.candidates:  # the setting with its value, as the chat app's panel says it
        if candidate.cut_by is None:
            whys.append(None)
        else:
            by_greedy = candidate.cut_by == "greedy"
            whys.append("temperature 0" if by_greedy else cut_label(candidate.cut_by, result.params))
    layout = RowLayout()
    if width is not None:
        notes = [why for why in whys if why]
        layout = fit_rows(width, label_width, len(result.candidates), notes)
        room = width - 1 - layout.row_width(0, notes)  # the token column's cells in the narrowest layout
        if room < MIN_LABEL_WIDTH:  # not even a cut token fits beside the numbers: each row in two lines
            layout = replace(layout, folded=True)
            room = width - 1 - layout.rank - layout.gap
        if label_width > room:  # a long token still made every row wrap: cut, as the chat app's narrow panel
            from ..inspect.attention import short_label

            label_width = max(MIN_LABEL_WIDTH, room)
            labels = [short_label(label, label_width, cell_len) for label in labels]
    cuts = [None if why is None else layout.cut_note(why) for why in whys]
    gap, bar_width = " " * layout.gap, layout.bar
    count = result.prompt_tokens
    top_line = [f"after {count} token{'s' * (count != 1)}", *_settings(result)]
    header = f"{'':>{layout.rank}}{gap}{'token':<{label_width}}{gap}{'model':>7}"
    header += f"{gap}{'':<{bar_width}}{gap}{'sampled':>7}" if bar_width else f"{gap}{'sampled':>7}"
    headers = [header.rstrip()]
    if layout.folded:  # the token's line, then the numbers' line under it
        headers = [f"{'':>{layout.rank}}{gap}token", f"{'model':>7}{gap}{'sampled':>7}"]
    lines = [*(fold_words(top_line, " · ", width - 1) if width else [" · ".join(top_line)]), *headers]
    for rank, (candidate, label, cut) in enumerate(zip(result.candidates, labels, cuts), start=1):
        model = probability_text(candidate.prob)
        model += f"{gap}{bar(candidate.prob, bar_width)}" if bar_width else ""
        if cut is not None:
            sampled = probability_text(0.0) if layout.folded else f"{probability_text(0.0)}{gap}{cut}"
        elif candidate.p_sampled is None:
            sampled = f"{'?':>7}"
        else:
            sampled = probability_text(candidate.p_sampled)
            sampled += f"{gap}{bar(candidate.p_sampled, bar_width)}" if bar_width else ""
        if layout.folded and width is not None:
            lines += folded_row(f"{rank:>{layout.rank}}{gap}{label}", model, sampled, cut, width)
            continue
        row = f"{rank:>{layout.rank}}{gap}{_pad(label, label_width)}{gap}{model}{gap}{sampled}"
        lines.append(row.rstrip())
    greedy = result.greedy
    summary = [
        f"greedy pick: {_label(greedy, pieces)} (model p {probability_text(greedy.prob, 0)})",
        f"entropy {result.entropy_bits:.2f} bits",
        f"the settings keep {result.kept} token{'s' * (result.kept != 1)} "
        f"({result.kept_mass:.1%} of model probability)",  # each part fits 60 columns
    ]
    counted = top_p_count_note(result)
    if counted:
        summary.append(counted)
    if result.greedy_ties > 1:  # else two rows of one number leave it unsaid which one temperature 0 writes
        first = bool(result.candidates) and result.candidates[0].token_id == greedy.token_id
        pick = "#1 (the lowest id)" if first else "the lowest id"
        summary.insert(1, f"{result.greedy_ties} tokens tie at the top: greedy takes {pick}")
    legend = [
        "model = softmax of the raw logits",
        "sampled = after repeat penalty, top-k, top-p, temperature",
    ]
    if layout.short and any(cuts):
        legend.append(f"{CUT_MARK} = cut by the setting named (its value is on the first line)")
    if width is None:
        return [*lines, "", " · ".join(summary), "; ".join(legend)]
    return [*lines, "", *fold_words(summary, " · ", width - 1), *fold_words(legend, "; ", width - 1)]


def top_p_count_note(result: NextToken) -> str | None:
    """Why top-p kept less of the model's probability than its value, where it did; else None.

    Top-p counts probability among the tokens top-k left (llama.cpp's chain, and
    :mod:`~assistant.inspect.distribution`'s), not over the whole vocabulary: after
    "I like" SmolLM2's `` to`` (model p 0.495) is all that ``-o top_p=0.5`` keeps
    under the default top-k 40. The report said "the settings keep 1 token (49.5%
    of model probability)" under a top-p of 0.5, and nothing said why.
    """
    p = result.params
    top_k_cuts = 0 < p.top_k < result.vocab_size
    top_p_cuts = result.kept < p.top_k  # else top-k alone kept that little (top_k=1)
    if p.greedy or not (top_k_cuts and top_p_cuts) or result.kept_mass >= p.top_p:
        return None
    # worded so that, folded on a narrow terminal, no line starts with a number (a row's rank)
    return f"top-p {p.top_p:g} counts within what top-k {p.top_k} keeps"


def folded_row(head: str, model: str, sampled: str, cut: str | None, width: int) -> list[str]:
    """A candidate's row on a terminal too narrow for it (under 34 columns or so): rank and token on a
    line, the two probabilities on the next, a cut note beside them where it fits, else under ``sampled``.

    The narrowest one-line row (a 5-cell token, no bars, ``✗ top-p``) is 32 cells: at 20 columns the
    terminal wrapped every row's numbers under the next row's rank.
    """
    from rich.cells import cell_len

    numbers = f"{model} {sampled}"
    if cut is None:
        return [head, numbers]
    if cell_len(f"{numbers} {cut}") < width:
        return [head, f"{numbers} {cut}"]
    indent = max(0, min(len(model) + 1, width - 1 - cell_len(cut)))  # under "sampled", left if need be
    return [head, numbers, " " * indent + cut]


@dataclass(frozen=True)
class RowLayout:
    """How ``next`` draws a candidate's row: the spaces between columns, the rank's cells, the bars' cells
    (0: no bars), whether a cut is said shortly (``✗ top-p``, the value being on the top line) and
    whether each row is folded in two (:func:`folded_row`)."""

    gap: int = 2
    rank: int = 4
    bar: int = BAR_WIDTH
    short: bool = False
    folded: bool = False

    def cut_note(self, why: str) -> str:
        from ..inspect.token_view import CUT_MARK, short_cut_label

        return f"{CUT_MARK} {short_cut_label(why)}" if self.short else f"cut by {why}"

    def row_width(self, label_width: int, whys: list[str]) -> int:
        """Cells of the widest row: rank, token, model (number, bar), sampled (number, then bar or cut)."""
        note = max((len(self.cut_note(why)) for why in whys), default=0)
        last = max(self.bar, note)
        model = 7 + (self.gap + self.bar if self.bar else 0)
        sampled = 7 + (self.gap + last if last else 0)
        return self.rank + self.gap + label_width + self.gap + model + self.gap + sampled


def fit_rows(width: int, label_width: int, rows: int, whys: list[str]) -> RowLayout:
    """The first layout whose rows fit ``width`` with a spare column: the bars narrow (down to
    :data:`MIN_BAR_WIDTH`), then go, then the gaps, the rank column and the cut notes shrink.

    At 40 columns even 4-cell bars left rows of 56 cells: the terminal wrapped every cut row's
    ``cut by top-p 0.9`` under the next row's rank. The last layout is used whatever it takes.
    """
    layouts = [RowLayout(bar=cells) for cells in range(BAR_WIDTH, MIN_BAR_WIDTH - 1, -1)]
    layouts += [RowLayout(bar=0), RowLayout(gap=1, rank=len(str(rows)), bar=0, short=True)]
    fitting = next((layout for layout in layouts if layout.row_width(label_width, whys) < width), None)
    return fitting or layouts[-1]
