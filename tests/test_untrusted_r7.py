"""Round 7 sweep: untrusted text never reaches the terminal as control sequences, and is not lost.

Each test feeds hostile text (an OSC title change, an OSC 8 hyperlink, an OSC 52
clipboard write, a C1 CSI, a bidi override) through a path that printed it raw
before: click's own usage errors, a plugin command's help and errors, a plugin
tool's choices, a plugin's template directory, a path the user named. The CLI is
run with ``color=True``, as on a terminal: click strips some CSI sequences in a
pipe, but never an OSC, and never on a terminal.
"""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner, Result

from assistant.cli import main
from assistant.terminal_text import visible_text

from .conftest import run_cli

HOSTILE = "\x1b]0;PWNED\x07\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\\x1b]52;c;ZXZpbA==\x07\x9b2J\u202egnp.exe"
# What must never be printed: C0 controls but newline and tab, DEL, C1, the bidi controls.
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), color=True)


def cli_process(*args: str) -> Result:
    """A separate process, for plugin commands: the CLI group registers them once per process."""
    done = run_cli(*args)
    return Result(
        runner=CliRunner(), stdout_bytes=done.stdout.encode(), stderr_bytes=done.stderr.encode(),
        output_bytes=(done.stdout + done.stderr).encode(), return_value=None, exit_code=done.returncode,
        exception=None,
    )


def assert_clean(result: Result) -> None:
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        assert not CONTROLS.findall(text), f"{name} printed controls: {text!r}"


def _plugin(home: Path, stem: str, source: str) -> None:
    directory = home / "config" / "plugins"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{stem}.py").write_text(f"HOSTILE = {HOSTILE!r}\n{source}", encoding="utf-8")


def test_an_unexpected_argument_is_quoted_visibly_in_clicks_usage_error() -> None:
    result = cli("tokenize", "hi", "extra" + HOSTILE)
    assert result.exit_code == 2
    assert_clean(result)
    assert f"unexpected extra argument (extra{visible_text(HOSTILE)})" in result.stderr  # shown, not dropped


def test_a_plugin_commands_help_and_click_error_are_made_visible(assistant_home: Path) -> None:
    _plugin(
        assistant_home,
        "evilcmd",
        "import click\nfrom assistant import hookimpl\n\n"
        "@hookimpl\n"
        "def register_commands(cli):\n"
        "    @cli.group(help='group ' + HOSTILE)\n"
        "    def evil():\n"
        "        pass\n"
        "    @evil.command(help='sub ' + HOSTILE)\n"
        "    @click.option('--flag', help='flag ' + HOSTILE)\n"
        "    def sub(flag):\n"
        "        raise click.ClickException('refused ' + HOSTILE)\n",
    )
    for args in (("--help",), ("evil", "--help"), ("evil", "sub", "--help")):
        shown = cli_process(*args)
        assert shown.exit_code == 0, shown.output
        assert_clean(shown)
    sub_help = " ".join(cli_process("evil", "sub", "--help").stdout.split())  # as click wrapped it
    assert "sub ␛]0;PWNED␇" in sub_help and "flag ␛]0;PWNED␇" in sub_help
    failed = cli_process("evil", "sub")
    assert failed.exit_code == 1
    assert_clean(failed)
    assert f"Error: refused {visible_text(HOSTILE)}" in failed.stderr


def test_a_plugin_error_keeps_its_other_whitespace_controls_visible(assistant_home: Path) -> None:
    _plugin(
        assistant_home,
        "boomer",
        "from assistant import hookimpl\n\n"
        "@hookimpl\n"
        "def register_commands(cli):\n"
        "    @cli.command()\n"
        "    def boom():\n"
        "        raise ValueError('one\\r\\n  two\\x0bthree\\x1cfour\\x85five')\n",
    )
    result = cli_process("boom")
    assert result.exit_code == 1
    assert_clean(result)
    # Line ends flatten to one space (one line); VT, FS and NEL are controls, shown, not spaces.
    assert result.stderr.strip().endswith("ValueError: one two␋three␜four\\x85five")


def test_a_plugin_tools_choices_are_visible_in_its_help(assistant_home: Path) -> None:
    _plugin(
        assistant_home,
        "chooser",
        "from assistant import hookimpl\n"
        "from assistant.tools.base import BaseTool, Parameter\n"
        "from assistant.tools.results import TextResult\n\n"
        "class Chooser(BaseTool):\n"
        "    name = 'chooser'\n"
        "    description = 'Pick one.'\n"
        "    needs_model = False\n"
        "    parameters = (Parameter('mode', type='choice', choices=('plain', 'odd' + HOSTILE), default='plain'),)\n"
        "    def run(self, text, params, backend):\n"
        "        return TextResult(params['mode'])\n\n"
        "@hookimpl\n"
        "def register_tools(register):\n"
        "    register(Chooser())\n",
    )
    shown = cli("chooser", "--help")
    assert shown.exit_code == 0, shown.output
    assert_clean(shown)
    assert "[plain|odd␛]0;PWNED␇" in shown.stdout
    assert cli("chooser", "--mode", "plain", "x").stdout == "plain\n"  # the choices themselves are unchanged


def test_a_plugins_template_directory_is_printed_visibly(assistant_home: Path, tmp_path: Path) -> None:
    directory = tmp_path / ("tpl" + HOSTILE.replace("/", "_"))
    directory.mkdir()
    (directory / "odd.jinja").write_text("---\ndescription: d\n---\n{{ input }}\n", encoding="utf-8")
    _plugin(
        assistant_home,
        "tpldir",
        "from assistant import hookimpl\n\n"
        "@hookimpl\n"
        f"def register_template_dirs(register):\n    register({str(directory)!r})\n",
    )
    for args in (("templates", "path"), ("templates", "path", "odd")):
        result = cli(*args)
        assert result.exit_code == 0, result.output
        assert_clean(result)
        assert visible_text(str(directory)) in result.stdout


def test_history_export_names_its_file_visibly(tmp_path: Path, fake_backend: None) -> None:
    assert cli("prompt", "-b", "fake", "hi").exit_code == 0
    target = tmp_path / ("out" + HOSTILE.replace("/", "_") + ".md")
    result = cli("history", "export", "1", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.is_file()
    assert_clean(result)
    assert visible_text(str(target)) in result.stderr


def test_an_emoji_code_in_a_reply_is_shown_as_written_in_the_attention_view(fake_backend: None) -> None:
    result = cli("attention", "-b", "fake-attention", ":smile: [bold]x")
    assert result.exit_code == 0, result.output
    assert "reply: Echo: :smile: [b" in result.stdout  # Rich would have made it an emoji: text evaluated
    assert "\U0001f604" not in result.stdout


def test_a_model_name_is_printed_visibly_by_templates_test(fake_backend: None) -> None:
    # A model's name is its file's (a hub chooses it) or a server's: data, like any other.
    result = cli("templates", "test", "chat", "-b", "fake", "-m", "m" + HOSTILE)
    assert result.exit_code == 1  # the fake echoes: the built-in test expects "Paris"
    assert_clean(result)
    assert f"[m{visible_text(HOSTILE)} on fake]" in result.stdout


def test_a_model_name_is_printed_visibly_under_a_raw_render(fake_backend: None) -> None:
    result = cli("templates", "render", "chat", "--raw", "-b", "fake", "-m", "m" + HOSTILE, "--input", "hi")
    assert result.exit_code == 0, result.output
    assert_clean(result)
    assert f"context (fits; m{visible_text(HOSTILE)})" in result.stderr


def test_one_line_flattens_line_ends_only_and_keeps_controls_for_display() -> None:
    from assistant.terminal_text import one_line

    assert one_line(" a\r\n\t b\u2028c\u2029d ") == "a b c d"  # no line break survives, U+2028/9 included
    assert visible_text(one_line("v\x0bf\x0cs\x1cn\x85")) == "v␋f␌s␜n\\x85"  # shown, not turned into spaces
