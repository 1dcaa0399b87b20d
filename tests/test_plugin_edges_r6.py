"""Plugin edges a third-party author meets: backend names, clashing and failing commands, checks, config params."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import ConfigError
from assistant.tools.base import Parameter
from .conftest import run_cli


def _plugin(home: Path, stem: str, source: str) -> None:
    folder = home / "config" / "plugins"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.py").write_text(source)


def test_a_plugin_backend_is_recorded_under_its_registered_name_so_c_can_load_it(assistant_home: Path) -> None:
    # A backend written from the docs inherits ``name`` ("fake" here, "base" for TokenLoopBackend):
    # the history recorded that, and ``-c`` then loaded another backend, or none.
    _plugin(
        assistant_home,
        "parrot",
        "from assistant import hookimpl\n"
        "from assistant.backends.fake import FakeBackend\n\n"
        "class Parrot(FakeBackend):\n"
        "    pass\n\n"
        "@hookimpl\n"
        "def register_backends(register):\n"
        "    register('parrot', Parrot, 'repeats')\n",
    )
    first = run_cli("prompt", "-b", "parrot", "--json", "hello there")
    assert first.returncode == 0, first.stderr
    assert '"backend": "parrot"' in first.stdout
    again = run_cli("prompt", "-c", "--json", "and again")
    assert again.returncode == 0, again.stderr
    assert '"backend": "parrot"' in again.stdout


def test_of_two_plugins_adding_one_command_the_later_loaded_keeps_it(assistant_home: Path) -> None:
    for stem, word in (("a_hello", "first"), ("b_hello", "second")):
        _plugin(
            assistant_home,
            stem,
            "import click\nfrom assistant import hookimpl\n\n"
            "@hookimpl\n"
            "def register_commands(cli):\n"
            "    @cli.command()\n"
            "    def hello():\n"
            f"        click.echo('{word}')\n",
        )
    listed = run_cli("plugins")
    order = [stem for stem in ("a_hello", "b_hello") if stem in listed.stdout]
    assert order == ["a_hello", "b_hello"], listed.stdout
    proc = run_cli("hello")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "second"  # b_hello loads after a_hello: later wins, as for tools


def test_a_plugin_commands_own_bug_is_one_line_naming_the_plugin(assistant_home: Path) -> None:
    _plugin(
        assistant_home,
        "boomer",
        "import click\nfrom assistant import hookimpl\n\n"
        "@hookimpl\n"
        "def register_commands(cli):\n"
        "    @cli.command()\n"
        "    def boom():\n"
        "        raise ValueError('nope\\nreally')\n",
    )
    proc = run_cli("boom")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: command 'boom' (plugin 'boomer') failed: ValueError: nope really"
    debug = run_cli("--debug", "boom")
    assert "Traceback" in debug.stderr and "ValueError: nope" in debug.stderr


def test_a_core_commands_usage_errors_are_still_clicks(assistant_home: Path) -> None:
    proc = run_cli("prompt", "--no-such-flag")
    assert proc.returncode == 2 and "No such option" in proc.stderr


@pytest.mark.parametrize("error", [ValueError("unknown code 'xx'"), TypeError("not a str")])
def test_a_parameter_check_raising_a_python_error_names_the_parameter(error: Exception) -> None:
    def check(value: object) -> None:
        raise error

    parameter = Parameter("lang", check=check)
    with pytest.raises(ConfigError, match=rf"^parameter 'lang': {error}$"):
        parameter.coerce("xx")


def test_an_unknown_key_in_the_configs_params_names_the_config_file(assistant_home: Path) -> None:
    config = assistant_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[params]\ntemprature = 0.2\n")
    proc = run_cli("prompt", "-b", "fake", "hi")
    assert proc.returncode == 1
    assert "unknown generation parameter 'temprature' in [params] of" in proc.stderr
    assert "config.toml" in proc.stderr
    config.write_text("")
    flag = run_cli("prompt", "-b", "fake", "-o", "temprature=1", "hi")
    assert flag.returncode == 1 and "[params]" not in flag.stderr, flag.stderr


@pytest.mark.parametrize(
    ("registered", "message"),
    [
        ("'templates'", "a templates directory must be an absolute path"),
        ("'/nonexistent/templates'", "templates directory '/nonexistent/templates' does not exist"),
    ],
    ids=["relative", "missing"],
)
def test_a_plugins_templates_directory_that_cannot_hold_templates_is_reported_by_name(
    assistant_home: Path, registered: str, message: str
) -> None:
    _plugin(
        assistant_home,
        "tpl",
        "from assistant import hookimpl\n\n"
        "@hookimpl\n"
        "def register_template_dirs(register):\n"
        f"    register({registered})\n",
    )
    proc = run_cli("templates", "list")
    assert proc.returncode == 0, proc.stderr
    assert f"warning: plugin 'tpl' (register_template_dirs): {message}" in proc.stderr
    assert "chat" in proc.stdout  # the other templates are all there
