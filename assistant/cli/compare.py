"""``assistant compare``: one prompt, two backends, side by side, with their agreement.

``-m`` and ``-o`` apply to both sides, unless prefixed with a side's backend
(``-o openai:base_url=…``, ``-m openai:lab/MODEL``): a local engine and a
server take different options and name models differently.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import click

from ..terminal_text import one_line, visible_text
from ..types import MAX_LOGPROBS
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
)

if TYPE_CHECKING:
    from ..compare import Side

DEFAULT_BACKENDS = ("llama-cpp", "transformers")


@click.command()
@click.argument("text", type=TEXT, required=False)
@click.option(
    "-m", "--model", "models", type=NAME, multiple=True, metavar="[BACKEND:]MODEL",
    help="Model for both sides (default: each backend's own), or with a BACKEND: prefix for that side only.",
)
@click.option(
    "-b",
    "--backend",
    "backends",
    type=NAME,
    multiple=True,
    help="Backend to compare; give exactly two (default: llama-cpp and transformers).",
)
@click.option(
    "-o",
    "--option",
    "options",
    multiple=True,
    metavar="[BACKEND:]KEY=VALUE",
    help="Sampling parameter or backend option for both sides; a backend option with a BACKEND: prefix "
    "(-o openai:base_url=URL) goes to that side only. Defaults here: temperature=0, max_tokens=128.",
)
@click.option("-s", "--system", type=TEXT, default=None, help="System prompt (chat mode).")
@mode_option
@click.option(
    "--top", "top_k", type=click.IntRange(1, MAX_LOGPROBS), default=5, show_default=True,
    help=f"Size of the next-token sets compared (at most {MAX_LOGPROBS}: the alternatives kept per token).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--verbose", is_flag=True, help="Show the engines' own logs.")
def compare(
    text: str | None,
    models: tuple[str, ...],
    backends: tuple[str, ...],
    options: tuple[str, ...],
    system: str | None,
    mode: str | None,
    top_k: int,
    as_json: bool,
    verbose: bool,
) -> None:
    """Run TEXT through two backends and show text, speed and agreement side by side.

    Agreement is the index of the first generated token that differs and, for
    each step before it, how many of the top-N next-token candidates (--top,
    default 5) the two engines share.

    -m and -o apply to both sides; prefixed with one side's backend they apply
    to that side only, e.g. -b llama-cpp -b openai -o openai:base_url=URL.
    """
    from ..compare import compare as run_compare
    from ..options import build_params, parse_options
    from .prompt import build_user_text

    user_text = build_user_text(None if text == "-" else text, read_stdin_text())
    chosen = tuple(backends) or DEFAULT_BACKENDS
    if len(chosen) != 2:
        raise click.UsageError("give exactly two backends with -b (e.g. -b llama-cpp -b transformers)")
    if top_k < 1:
        raise click.UsageError("--top must be at least 1")
    shared, scoped = split_scoped(options, chosen)
    _refuse_other_prefixes(shared, chosen)
    overrides, backend_opts = parse_options(shared)
    overrides = {"temperature": 0.0, "max_tokens": 128, **overrides}
    params = build_params(overrides)
    params = params.replace(logprobs=max(params.logprobs, top_k))  # agreement needs the top-k sets
    if verbose:
        backend_opts["verbose"] = True
    sides = build_sides(chosen, models, backend_opts, scoped)
    prompt = message_prompt(user_text, system, side_mode(sides, mode))
    with CtrlC(at_once=True) as ctrl_c:  # a press stops the running side: "interrupted", status 130

        def on_engine(engine: Any) -> None:  # loaded: a press cancels it; unloaded: a press raises at once
            if engine is None:
                ctrl_c.detach()
            else:
                ctrl_c.attach(engine)

        runs, agreement = run_compare(
            prompt, params, sides, top_k=top_k, progress=progress_to_stderr, on_engine=on_engine
        )
    if as_json:
        report = {
            "model": sides[0].model if sides[0].model == sides[1].model else None,
            "params": params.to_dict(),
            "runs": [run.to_dict() for run in runs],
            "agreement": agreement.to_dict(),
        }
        echo_json(report)
        return
    echo_untrusted(render_side_by_side(runs, agreement))


def _scope(item: str, backends: tuple[str, ...]) -> tuple[str | None, str]:
    """``BACKEND:rest`` → (BACKEND, rest) when BACKEND is one of the compared ones; else (None, item).

    Only the two backends named count as prefixes, so model references with a
    colon of their own (``hf:ORG/REPO``, ``https://…``) stay whole.
    """
    head, sep, rest = item.partition(":")
    if sep and "=" not in head and head in backends:
        return head, rest
    return None, item


def split_scoped(items: tuple[str, ...], backends: tuple[str, ...]) -> tuple[list[str], dict[str, list[str]]]:
    """``items`` for both sides, and those prefixed with one side's backend, by backend."""
    shared: list[str] = []
    scoped: dict[str, list[str]] = {}
    for item in items:
        backend, rest = _scope(item, backends)
        if backend is None:
            shared.append(item)
        else:
            scoped.setdefault(backend, []).append(rest)
    return shared, scoped


def _refuse_other_prefixes(items: list[str], backends: tuple[str, ...]) -> None:
    """``-o openai:base_url=…`` when openai is not compared: named so, not as an unknown option of both sides.

    No option's key holds a colon, so a prefix that names neither side is a slip (a backend
    left out of ``-b``, a typo); taken for a key, it was "unknown llama-cpp option(s): openai:base_url".
    """
    for item in items:
        key = item.partition("=")[0]
        prefix, colon, _ = key.partition(":")
        if colon and prefix.strip():
            raise click.UsageError(
                f"-o {visible_text(item)}: {visible_text(prefix)!r} is not one of the backends compared "
                f"({' and '.join(backends)}); a BACKEND: prefix names one of them"
            )


def build_sides(
    backends: tuple[str, ...], models: tuple[str, ...], shared_options: dict[str, Any], scoped: dict[str, list[str]]
) -> list[Side]:
    """Each side's model and options: the shared ones, then that side's own (``BACKEND:`` prefixed)."""
    from ..backends import default_model_for
    from ..compare import Side
    from ..errors import ConfigError
    from ..options import parse_options

    shared_models, scoped_models = split_scoped(models, backends)
    if backends[0] == backends[1] and (scoped_models or scoped):
        # `-b llama-cpp -b llama-cpp -m llama-cpp:gemma3` gave gemma3 to both sides, as if for one,
        # and the comparison of two copies of one run reported "all tokens identical"
        prefix = f"{backends[0]}:"
        raise click.UsageError(
            f"both sides are {backends[0]}: a {prefix} prefix cannot pick one of them "
            "(drop it: -m and -o then apply to both)"
        )
    if len(shared_models) > 1 or any(len(given) > 1 for given in scoped_models.values()):
        raise click.UsageError("give -m once for both sides, or once per side with a BACKEND: prefix")
    sides = []
    for backend in backends:
        params, own = parse_options(scoped.get(backend, []))
        if params:
            raise ConfigError(
                f"{', '.join(sorted(params))}: sampling parameters apply to both sides (drop the {backend}: prefix); "
                "a BACKEND: prefix is for backend options"
            )
        given = scoped_models.get(backend) or shared_models
        if given and not given[0].strip():  # -m openai: (a prefix with nothing after it), as -m '' is refused
            raise ConfigError(f"-m/--model: empty value after {backend}:")
        model = given[0] if given else default_model_for(backend)
        sides.append(Side(backend, model, {**shared_options, **own}))
    return sides


def side_mode(sides: list[Side], requested: str | None) -> str:
    """The one mode both sides are prompted in: ``--mode``, else the models' own (a base model: completion).

    Both sides get the same prompt, or the comparison measures the prompts; two
    models that would be prompted differently need ``--mode`` to say which.
    """
    from ..models.mode import choose_mode

    if requested:
        return choose_mode(requested, "")
    # each side's own backend: `-b llama-cpp -b openai -m gemma3` is the catalog's base Gemma here and
    # a server's (an instruction-tuned one on Ollama) there, so the model's name alone cannot key them
    modes = {(side.backend, side.model): choose_mode(None, side.model, side.backend) for side in sides}
    if len(set(modes.values())) > 1:
        same_name = len({model for _, model in modes}) < len(modes)  # then the backends tell them apart
        told = ", ".join(
            f"{model or 'the server model'}{f' on {backend}' if same_name else ''}: {mode}"
            for (backend, model), mode in modes.items()
        )
        raise click.UsageError(f"the two models are prompted differently ({told}); choose one with --mode")
    return next(iter(modes.values()))


def display_width(text: str) -> int:
    """Terminal cells: wide (CJK, emoji) characters take two, marks of no width of their own none.

    Rich's measure, the one every other view pads and folds by: a count of its own (East Asian
    width, ``unicodedata.combining``) gave a Thai vowel sign or an emoji's skin tone a cell the
    terminal does not, and the right-hand column of a Thai reply's rows slid out of line.
    """
    from rich.cells import cell_len

    return cell_len(text)


def wrap_cells(text: str, width: int) -> list[str]:
    """Word-wrap ``text`` to ``width`` terminal cells (words longer than a line are split)."""
    lines: list[str] = []
    current, used = "", 0
    for word in re.findall(r"\S+\s*|\s+", text):
        size = display_width(word.rstrip())
        if used and used + size > width:
            lines.append(current.rstrip())
            current, used = "", 0
        while display_width(word.rstrip()) > width:  # a word wider than the column
            cut = ""
            for char in word:  # measured with what comes before: ❤ and its U+FE0F take two cells, not one
                if display_width(cut + char) > width:
                    break
                cut += char
            cut = cut or word[0]  # a column narrower than one wide character
            lines.append(cut)
            word = word[len(cut) :]
        current += word
        used = display_width(current)
    if current.strip() or not lines:
        lines.append(current.rstrip())
    return lines


def _count(value: int | None) -> str:
    return "unknown" if value is None else str(value)


def _number(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def render_side_by_side(runs: list[Any], agreement: Any, width: int | None = None) -> str:
    """Two columns (one per backend) of text and numbers, then the agreement summary.

    ``width`` None: the terminal's, by the rule every inspect view folds to
    (:func:`~assistant.cli.inspect_tokens.terminal_width`). ``shutil``'s own rule asked
    stdout alone, so ``assistant compare … | less`` on an 80-column terminal drew a
    100-column table, and the terminal wrapped its rule and every long row.

    Lines keep the terminal's last column spare, as those of ``tokenize``, ``next`` and
    ``attention`` do: filled to the last column, a terminal that wraps there showed a
    blank line under each full row and under the rule.
    """
    from .inspect_tokens import terminal_width

    total = (width or terminal_width()) - 1  # the terminal's last column spare, as every view's lines
    label_width = 15
    column = (total - label_width - 3) // 2
    left, right = runs
    rows = [
        ("text", flat_text(left.text), flat_text(right.text)),
        ("tokens/s", _number(left.tokens_per_second), _number(right.tokens_per_second)),
        ("first token", _number(left.ttft_ms, " ms", 0), _number(right.ttft_ms, " ms", 0)),
        ("prompt tokens", _count(left.prompt_tokens), _count(right.prompt_tokens)),
        ("tokens out", _tokens_out(left), _tokens_out(right)),  # a server may give texts, no ids
        ("finish", left.finish_reason, right.finish_reason),
        ("load", _number(left.load_seconds, " s"), _number(right.load_seconds, " s")),
    ]
    if column < MIN_COLUMN:  # two columns would overflow the terminal and its wrapping would shred the table
        return stacked(runs, rows, agreement, max(total, MIN_COLUMN))

    def row(label: str, a: str, b: str) -> list[str]:
        a_lines, b_lines = wrap_cells(a, column), wrap_cells(b, column)
        lines = []
        for index in range(max(len(a_lines), len(b_lines))):
            name = label if index == 0 else ""
            a_part = a_lines[index] if index < len(a_lines) else ""
            b_part = b_lines[index] if index < len(b_lines) else ""
            padding = " " * (column - display_width(a_part))
            lines.append(f"{name:<{label_width}}{a_part}{padding} │ {b_part}".rstrip())
        return lines

    lines = row("", left.backend, right.backend)
    lines.append("─" * min(total, label_width + 2 * column + 3))
    for label, a, b in rows:
        lines += row(label, a, b)
    lines.append("")
    lines += agreement_lines(runs, agreement, total)
    return "\n".join(lines)


MIN_COLUMN = 12
"""Narrowest column of the side-by-side table; a terminal too narrow for two of them gets one side after the other."""


def flat_text(text: str) -> str:
    """A reply on one line, made visible before the layout measures it.

    :func:`~assistant.terminal_text.one_line`'s flattening: a tab, which the terminal widens to its next
    stop but a cell count takes as none, pushed the ``│`` of its row out of line; and ``str.splitlines``
    broke at a form feed or a file separator, which are control characters to show, not line ends.
    """
    return visible_text(one_line(text))


def stacked(runs: list[Any], rows: list[tuple[str, str, str]], agreement: Any, total: int) -> str:
    """The table for a narrow terminal: each side's rows in turn, a value beside its label where it fits,
    else under it, indented."""
    label_width = 15 if total - 15 >= MIN_COLUMN else 2  # too narrow: the label gets a line of its own
    lines: list[str] = []
    for side, run in enumerate(runs):
        if side:
            lines.append("")
        lines += [run.backend, "─" * max(1, min(total, display_width(run.backend)))]
        for label, *values in rows:
            if label_width < len(label):
                lines.append(label)
            for index, part in enumerate(wrap_cells(values[side], max(1, total - label_width))):
                name = label if index == 0 and label_width >= len(label) else ""
                lines.append(f"{name:<{label_width}}{part}".rstrip())
    lines += ["", *agreement_lines(runs, agreement, total)]
    return "\n".join(lines)


def _tokens_out(run: Any) -> str:
    """How many tokens a side generated; "unknown" for a server that sent text without logprobs."""
    return str(len(run.tokens)) if run.tokens_known else "unknown"


def _quoted(label: str) -> str:
    return label if label == "(end)" else f"'{label}'"


def describe_agreement(runs: list[Any], agreement: Any) -> str:
    """The agreement summary on one line (the table folds it: :func:`agreement_lines`)."""
    return AGREEMENT_SEPARATOR.join(agreement_parts(runs, agreement))


AGREEMENT_SEPARATOR = "; "


def agreement_lines(runs: list[Any], agreement: Any, width: int) -> list[str]:
    """The agreement summary folded to ``width`` between its parts, a long part between its words.

    Left to the terminal, the summary (often 150 cells and more) was wrapped inside a word, under a
    table that had been fitted to the same width.
    """
    from ..inspect.lines import fold_words

    return fold_words(agreement_parts(runs, agreement), AGREEMENT_SEPARATOR, width)


def agreement_parts(runs: list[Any], agreement: Any) -> list[str]:
    """The agreement summary's parts, the first one led by ``agreement:``."""
    left, right = runs
    if agreement.same_prompt_ids is None:
        parts = ["prompt token ids unknown (a backend cannot tell them)"]
    else:
        parts = ["prompt token ids identical" if agreement.same_prompt_ids else "prompt token ids DIFFER"]
    if not agreement.tokens_known:  # no tokens to compare: say so, never "differ at token 0" against nothing
        silent = " and ".join(run.backend for run in runs if not run.tokens_known)
        parts.append(f"generated tokens unknown ({silent} sent no logprobs)")
        parts.append("texts identical" if agreement.same_text else "texts differ")
    elif agreement.first_difference is None:
        parts.append(f"all {len(left.tokens)} generated tokens identical")
    else:
        index = agreement.first_difference
        a, b = (_quoted(run.token_label(index)) for run in runs)  # two halves of emojis differ in their bytes
        parts.append(f"first differing token at index {index}: {a} vs {b}")
    mean = agreement.mean_top_overlap
    if mean is not None:
        steps = " ".join(f"{value:.1f}" for value in agreement.top_overlap[:32])
        more = " …" if len(agreement.top_overlap) > 32 else ""
        parts.append(
            f"top-{agreement.top_k} overlap {mean:.2f} on average over {len(agreement.top_overlap)} "
            f"step(s): {steps}{more}"
        )
    parts[0] = f"agreement: {parts[0]}"
    return parts
