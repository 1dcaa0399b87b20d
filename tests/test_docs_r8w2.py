"""Round 8 (second wave): the documentation as a promise about the command line.

Every ``assistant ...`` command line the README and the docs show (in a fenced
block, or an inline code span that starts with ``assistant ``) must name
commands that exist and options those commands take, as their ``--help`` lists
them; the option tables of docs/tui.md, docs/history.md and
docs/backends-transformers.md must match the CLI and the backend. A renamed or
removed option then fails here instead of leaving a page that sends users to an
error. (docs/structured.md and docs/plugins.md have their own tests.)
"""

from __future__ import annotations

import re
import shlex
from functools import lru_cache
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from assistant.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOCS = ["README.md"] + [
    f"docs/{name}.md"
    for name in (
        "tui",
        "inspect",
        "history",
        "models",
        "templates",
        "tools",
        "security",
        "scale",
        "architecture",
        "backends-transformers",
        "performance",
    )
]

_FENCE = re.compile(r"^\s*```")
_INLINE = re.compile(r"`(assistant [^`]+)`")
_OPTION = re.compile(r"^\[?(--?[A-Za-z][\w-]*)")


def _command_lines(doc: str) -> list[tuple[int, str]]:
    """(line number, command) for each ``assistant ...`` the page shows as something to type."""
    found: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate((ROOT / doc).read_text(encoding="utf-8").splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            text = re.sub(r"^\s*(\$\s+)?", "", line)
            text = re.sub(r"^[A-Z_]+=\S+\s+", "", text)  # ASSISTANT_X=... assistant ...
            if text.startswith("assistant "):
                found.append((number, text))
        else:
            found.extend((number, match) for match in _INLINE.findall(line))
    return found


def _words(command: str) -> list[str]:
    command = re.split(r"\s[|;&]\s|\s>\s", command)[0]  # a pipe or redirection ends the command
    try:
        return shlex.split(command, comments=True)
    except ValueError:  # an unbalanced quote in prose ("it's")
        return command.split()


@lru_cache(maxsize=None)
def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, (path, result.output)
    return result.output


def _options(path: tuple[str, ...]) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", _help(path)))


def _resolve(words: list[str]) -> tuple[tuple[str, ...], list[str], str | None]:
    """The subcommand path, the words after it, and a word that names no subcommand (or None)."""
    ctx = click.Context(main)
    command: click.Command = main
    path: list[str] = []
    rest = words[1:]  # words[0] is "assistant"
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        word = rest[0]
        sub = command.get_command(ctx, word)
        if sub is None:
            return tuple(path), rest, word
        command, path, rest = sub, [*path, word], rest[1:]
    return tuple(path), rest, None


def _documented_commands() -> list[tuple[str, int, list[str]]]:
    return [(doc, number, _words(text)) for doc in DOCS for number, text in _command_lines(doc)]


def test_the_docs_show_command_lines_to_check() -> None:
    commands = _documented_commands()
    assert len(commands) > 100  # the extraction finds the pages' commands, not nothing
    paths = {_resolve(words)[0] for _, _, words in commands}
    assert {("prompt",), ("chat",), ("history", "export"), ("attention",), ("sentiment",)} <= paths


def test_every_documented_command_and_option_exists(assistant_home: object) -> None:
    wrong: list[str] = []
    for doc, number, words in _documented_commands():
        path, rest, unknown = _resolve(words)
        if unknown is not None:
            if re.fullmatch(r"[a-z][a-z-]*", unknown) and (not path or isinstance(_group(path), click.Group)):
                wrong.append(f"{doc}:{number}: no command 'assistant {' '.join((*path, unknown))}'")
            continue
        known = _options(path)
        for word in rest:
            match = _OPTION.match(word)
            if match and match.group(1) not in known:
                wrong.append(f"{doc}:{number}: 'assistant {' '.join(path)}' has no option {match.group(1)}")
    assert wrong == []


def _group(path: tuple[str, ...]) -> click.Command:
    ctx = click.Context(main)
    command: click.Command = main
    for word in path:
        assert isinstance(command, click.Group)
        found = command.get_command(ctx, word)
        assert found is not None
        command = found
    return command


def _table_options(doc: str, heading: str) -> list[str]:
    """The first-column options (``-x``, ``--xx``) of the table under ``heading``."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    rows = re.findall(r"^\| ([^|]+) \|", section.split("\n\n## ", 1)[0], flags=re.M)
    return [option for row in rows for option in re.findall(r"`(--?[a-z][\w-]*)", row)]


def test_the_chat_options_table_matches_chat_help(assistant_home: object) -> None:
    documented = _table_options("docs/tui.md", "| option | meaning |")
    assert {"-m", "--model", "-c", "--continue", "--cid", "--db", "--no-log", "--verbose"} <= set(documented)
    assert set(documented) <= _options(("chat",))
    # and the other way round: every option of `chat --help` has its row
    assert _options(("chat",)) - {"-h", "--help", "-o", "--option"} <= set(documented) | {"-o"}


def test_the_history_page_names_the_commands_that_take_db_and_no_log(assistant_home: object) -> None:
    text = (ROOT / "docs/history.md").read_text(encoding="utf-8")
    assert "`--db PATH` (on `prompt`, `chat`, the tool commands and every `history` command)" in text
    assert "`--no-log` (on `prompt`, `chat` and the tool commands)" in text
    tools = ("summarize", "translate", "ner", "sentiment")
    history = _group(("history",))
    assert isinstance(history, click.Group)
    for path in [("prompt",), ("chat",), *[(t,) for t in tools], *[("history", n) for n in history.commands]]:
        assert "--db" in _options(path), path
    for path in [("prompt",), ("chat",), *[(t,) for t in tools]]:
        assert "--no-log" in _options(path), path


def test_the_transformers_options_table_is_the_backends_option_list() -> None:
    from assistant.backends.torch.backend import OPTIONS

    text = (ROOT / "docs/backends-transformers.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z_]+)` \| ", text, flags=re.M)
    assert set(OPTIONS) <= set(rows)


def test_the_readmes_backend_options_are_llama_cpp_options() -> None:
    """The README's "backend options such as ..." list names options llama-cpp takes."""
    from assistant.backends.llama_cpp import OPTIONS

    readme = (ROOT / "README.md").read_text(encoding="utf-8").replace("\n", " ")
    listed = readme.split("backend options such as", 1)[1].split("(llama-cpp", 1)[0]
    names = re.findall(r"`([a-z_]+)`", listed)
    assert len(names) >= 3 and set(names) <= set(OPTIONS), names
    assert "n_ctx_override" in OPTIONS and "-o n_ctx_override=true" in readme


@pytest.mark.parametrize("doc", ["docs/security.md"])
def test_chat_template_is_named_as_the_openai_backends_option(doc: str) -> None:
    """``-o chat_template=`` is an option of ``-b openai`` only; llama-cpp and transformers refuse it."""
    from assistant.backends.llama_cpp import OPTIONS as LLAMA
    from assistant.backends.torch.backend import OPTIONS as TORCH

    assert "chat_template" not in LLAMA and "chat_template" not in TORCH
    text = (ROOT / doc).read_text(encoding="utf-8").replace("\n", " ")
    for mention in re.finditer(r"-o chat_template=", text):
        assert "-b openai" in text[max(0, mention.start() - 40) : mention.start()], text[mention.start() - 80 :][:160]


def test_min_p_is_not_described_as_a_setting_of_the_sampled_distribution() -> None:
    """min-p is held at 0 (no ``-o min_p``): the inspect page must not list it among the settings."""
    from assistant.types import GenerationParams

    assert "min_p" not in GenerationParams.__dataclass_fields__
    text = (ROOT / "docs/inspect.md").read_text(encoding="utf-8")
    assert "top-p, min-p, then temperature" not in text
