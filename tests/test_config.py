"""The config file: unreadable files and wrong types are one-line errors; paths resolve from its directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant import config
from assistant.cli import main
from assistant.errors import ConfigError
from assistant.history.db import resolve_db_path
from assistant.templates import user_templates_dir

pytestmark = pytest.mark.usefixtures("fake_backend")


def write_config(home: Path, data: bytes | str) -> Path:
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_a_config_that_is_not_utf8_is_one_line_everywhere_it_is_read(assistant_home: Path) -> None:
    path = write_config(assistant_home, b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        config.load_config()
    assert config.config_warnings() == []  # the command that reads the config says it
    with pytest.raises(ConfigError, match="not UTF-8"):
        config.set_top_level("default_model", "smollm2")
    assert path.read_bytes() == b"\xff\xfe"  # never damaged
    result = cli("prompt", "-b", "fake", "-m", "m", "hi")
    assert result.exit_code == 1
    assert result.stderr == f"error: cannot read config {path}: not UTF-8 (byte 0); save it as UTF-8\n"


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("db = 5", "db"),
        ("templates_dir = 7", "templates_dir"),
        ("default_system = 5", "default_system"),
        ("default_model = 3", "default_model"),
        ("default_backend = true", "default_backend"),
        ('plugin_dirs = "~/plugins"', "plugin_dirs"),  # a string: each character would be a directory
        ("plugin_dirs = [1]", "plugin_dirs"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_the_key(
    assistant_home: Path, line: str, key: str
) -> None:
    write_config(assistant_home, line + "\n")
    with pytest.raises(ConfigError, match=rf"^{key} in .*config\.toml must be"):
        config.load_config()
    result = cli("prompt", "-b", "fake", "-m", "m", "hi")
    assert result.exit_code == 1 and result.stderr.startswith(f"error: {key} in ")
    assert len(result.stderr.splitlines()) == 1


def test_relative_paths_are_taken_from_the_config_directory(
    assistant_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = assistant_home / "config"
    write_config(
        assistant_home, 'db = "notes/history.db"\ntemplates_dir = "prompts"\nplugin_dirs = ["plug", "~/p"]\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert resolve_db_path() == directory / "notes" / "history.db"
    assert user_templates_dir() == directory / "prompts"
    assert config.load_config()["plugin_dirs"] == [str(directory / "plug"), os.path.expanduser("~/p")]
    assert cli("prompt", "-b", "fake", "-m", "m", "hi").exit_code == 0
    assert (directory / "notes" / "history.db").is_file() and not (elsewhere / "notes").exists()


def test_absolute_home_and_empty_values_keep_their_meaning(assistant_home: Path, tmp_path: Path) -> None:
    write_config(assistant_home, f'db = "{tmp_path / "h.db"}"\ndefault_system = ""\n')
    assert resolve_db_path() == tmp_path / "h.db"
    assert user_templates_dir() == assistant_home / "config" / "templates"  # left out: the default
    assert config.default_system_prompt() is None  # "" leaves the system prompt to the model
    write_config(assistant_home, 'db = "~/x.db"\ndefault_system = "Be brief."\n')
    assert resolve_db_path() == Path(os.path.expanduser("~/x.db"))
    assert config.default_system_prompt() == "Be brief."
