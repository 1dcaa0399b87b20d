"""Round 9, found while integrating the helpers' work (tests that fail without each fix)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from .conftest import run_cli


def _plugin(home: Path, name: str, body: str) -> None:
    plugins = home / "config" / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    (plugins / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")


def test_a_refused_plugin_command_does_not_take_the_plugins_later_commands_with_it(assistant_home: Path) -> None:
    """A refused name was raised inside ``register_commands``: every command the plugin added after it was lost."""
    _plugin(assistant_home, "several", '''
        import click
        from assistant import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.command(name="models")
            def clash():
                click.echo("not the core one")

            @cli.command(name="Bad Name")
            def bad():
                click.echo("bad")

            @cli.command(name="shout")
            def shout():
                click.echo("HELLO")
    ''')
    result = run_cli("shout")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "HELLO"
    assert "'models' is a core command" in result.stderr
    assert "command name must be lower-case letters" in result.stderr
    listing = run_cli("plugins")
    assert "FAILED several" in listing.stdout + listing.stderr


def test_one_plugin_adding_one_command_name_twice_is_reported_and_the_first_kept(assistant_home: Path) -> None:
    _plugin(assistant_home, "twice", '''
        import click
        from assistant import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.command(name="hello")
            def first():
                click.echo("first")

            @cli.command(name="hello")
            def second():
                click.echo("second")
    ''')
    result = run_cli("hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "first"
    assert "registers command 'hello' twice" in result.stderr


def test_a_tool_raising_an_exception_whose_message_cannot_be_shown_is_a_one_line_error(assistant_home: Path) -> None:
    """The report of the plugin's failure called ``str(exc)``, which raised again: a traceback."""
    _plugin(assistant_home, "brokenmsg", '''
        from assistant import hookimpl
        from assistant.tools import BaseTool, TextResult


        class Unprintable(Exception):
            def __str__(self):
                raise RuntimeError("no message for you")


        class Broken(BaseTool):
            name = "broken"
            description = "Fails with an exception that cannot say what it is."
            needs_model = False

            def run(self, text, params, backend):
                raise Unprintable()


        @hookimpl
        def register_tools(register):
            register(Broken())
    ''')
    result = run_cli("tool", "broken", "hello")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "tool 'broken' (plugin 'brokenmsg') failed: Unprintable: (its message could not be shown" in result.stderr
    batch = assistant_home / "rows.jsonl"
    batch.write_text('{"text": "a"}\n', encoding="utf-8")
    result = run_cli("tool", "broken", "--batch", str(batch))
    assert "Traceback" not in result.stderr




def _swallowing_backend() -> type:
    from .interrupt_support import SwallowsCtrlC

    class Swallows(SwallowsCtrlC):
        replies = 0

    return Swallows


def test_a_ctrl_c_the_engine_swallows_stops_a_tool_batch_after_that_row(tmp_path: Path) -> None:
    """`assistant summarize --batch` went on through every row after Ctrl-C and exited 0 (the press was
    dropped inside llama.cpp's callback); the interrupted row was written as done with a cut summary."""
    import json

    from click.testing import CliRunner

    from assistant.backends.fake import FakeBackendPlugin
    from assistant.cli import main
    from assistant.plugins import register_plugin

    backend = _swallowing_backend()
    register_plugin(FakeBackendPlugin(backend), name="fake-swallows-ctrl-c-tool")
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(f'{{"id": {n}, "text": "Row number {n} says something long enough to be worth a summary of its own."}}\n' for n in range(1, 6)))
    ran = CliRunner().invoke(
        main, ["summarize", "-b", "fake", "-m", "m", "--batch", str(source), "--out", str(out)], catch_exceptions=False
    )
    assert ran.exit_code == 130, ran.output
    assert "batch interrupted; finished rows are saved" in ran.stderr
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [1]
    assert backend.replies == 2  # nothing ran after it


def test_a_ctrl_c_during_a_single_tool_run_is_an_interrupt_not_a_result(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from assistant.backends.fake import FakeBackendPlugin
    from assistant.cli import main
    from assistant.plugins import register_plugin

    backend = _swallowing_backend()
    backend.at = 1  # the first reply is the one interrupted
    register_plugin(FakeBackendPlugin(backend), name="fake-swallows-ctrl-c-one")
    ran = CliRunner().invoke(main, ["summarize", "-b", "fake", "-m", "m", "Some text to summarize here, long enough to need a summary: a dozen words or more."])
    assert ran.exit_code == 130, ran.output
    assert ran.stdout == ""  # no summary printed as if whole


def test_history_show_says_one_token_not_one_tokens(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from assistant.cli import main
    from assistant.history import HistoryStore
    from assistant.types import Completion, Timings, Usage

    def reply(text: str, tokens: int) -> Completion:
        return Completion(text=text, model="m", backend="fake", finish_reason="stop",
                          usage=Usage(completion_tokens=tokens), timings=Timings())

    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:
        conversation = store.create_conversation()
        store.record_turn(conversation.id, "hi", reply("Yo", 1))
        store.record_turn(conversation.id, "again", reply("Yo yo", 2))
    shown = CliRunner().invoke(main, ["history", "show", "1", "--db", str(db)]).output
    assert "1 token," in shown or "1 token)" in shown
    assert "1 tokens" not in shown and "2 tokens" in shown


# ---- scoring candidates: their type, and one that swallows the whole prompt --------------------------------------
def test_candidates_must_be_a_list_of_texts() -> None:
    """`score(prompt, "yes")` scored "y", "e" and "s"; `[None]` failed in a tokenizer."""
    import pytest

    from assistant.backends.base import checked_candidates
    from assistant.backends.fake import FakeBackend

    backend = FakeBackend()
    backend.load("fake-model")
    for wrong, named in (("yes", "not one text"), ([None], "not NoneType"), (5, "not int"), ([b"x"], "not bytes")):
        with pytest.raises(TypeError, match=named):
            backend.score("Answer:", wrong)
    assert checked_candidates(("a", "b")) == ["a", "b"]


def test_next_token_and_attention_check_their_params() -> None:
    import pytest

    from assistant.backends.fake import FakeBackend
    from assistant.types import GenerationParams

    backend = FakeBackend()
    backend.load("fake-model")
    with pytest.raises(TypeError, match="params must be a GenerationParams"):
        backend.next_token("Hi", None)  # type: ignore[arg-type]
    if backend.capabilities.attention:
        with pytest.raises(TypeError, match="window must be a whole number"):
            backend.attention("Hi", GenerationParams(), reply="x", window="64")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="reply must be text or a list of token ids"):
            backend.attention("Hi", GenerationParams(), reply=5)  # type: ignore[arg-type]


@pytest.mark.model
@pytest.mark.parametrize("backend_name", ["llama-cpp", "transformers"])
def test_a_candidate_merging_with_the_whole_prompt_is_refused_not_certain(backend_name: str) -> None:
    """SmolLM2 reads "x" + "a" as the one token "xa": every candidate of `score("x", ["a", "b"])` scored 0.0
    (certainty). A merge with the prompt's last token only is still scored (the token healed)."""
    from assistant import load_backend
    from assistant.errors import ConfigError

    backend = load_backend(backend_name, "smollm2")
    try:
        with pytest.raises(ConfigError, match="merges with the prompt's first token"):
            backend.score("x", ["a", "b"])
        healed = backend.score("The cat sat on the m", ["at", "ountain"])
        assert all(score < 0 for score in healed)
    finally:
        backend.unload()


def test_a_local_backend_asked_for_a_remote_names_the_broken_remotes_table(assistant_home: Path) -> None:
    """`-b llama-cpp -m loc` with a typo in another [remotes] table lost its "add -b openai" hint without a word."""
    config = assistant_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[remotes.loc]\nbase_url = "http://127.0.0.1:9"\n[remotes.bad]\nbase-url = "http://x"\n')
    result = run_cli("prompt", "-b", "llama-cpp", "-m", "loc", "hi")
    assert result.returncode == 1
    assert "'loc' is a remote in the config, but [remotes] cannot be used: unknown key(s) base-url" in result.stderr


@pytest.mark.parametrize(("command", "what"), [("next", "give the next-token distribution"), ("tokenize", "show its token pieces")])
def test_next_and_tokenize_refuse_a_server_before_connecting(assistant_home: Path, command: str, what: str) -> None:
    """`next -m REMOTE` connected (or timed out on a dead server) before saying a server gives no next-token rows."""
    config = assistant_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[remotes.dead]\nbase_url = "http://127.0.0.1:9"\n')
    result = run_cli(command, "-m", "dead", "hi")
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: the openai backend cannot {what} (use -b llama-cpp or -b transformers)"
