"""What docs/backends.md promises about named remotes, checked against the settings resolver (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.backends.openai.settings import resolve_settings
from assistant.config import backend_options
from assistant.errors import ConfigError


def write_config(home: Path, text: str) -> None:
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "config.toml").write_text(text)


@pytest.fixture(autouse=True)
def no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ASSISTANT_OPENAI_BASE_URL", "ASSISTANT_OPENAI_API_KEY", "DEFAULT_KEY"):
        monkeypatch.delenv(var, raising=False)


def test_default_servers_configured_key_is_never_sent_to_a_named_remote(
    assistant_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # docs/backends.md: a remote gets a key only from its own api_key/api_key_env or an explicit -o api_key=.
    write_config(
        assistant_home,
        '[backends.openai]\nbase_url = "http://default:1/v1"\napi_key = "sk-default"\nread_timeout = 99\n'
        '[remotes.lab]\nbase_url = "http://lab:8000/v1"\n',
    )
    merged = backend_options("openai")  # what load_backend passes as options
    lab = resolve_settings("lab/x", merged)
    assert lab.api_key is None
    assert lab.read_timeout == 99  # other [backends.openai] settings still apply to remotes
    assert resolve_settings("x", merged).api_key == "sk-default"
    assert resolve_settings("lab/x", {**merged, "api_key": "sk-cli"}).api_key == "sk-cli"


def test_default_servers_key_variable_is_not_read_for_a_named_remote(
    assistant_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(
        assistant_home,
        '[backends.openai]\nbase_url = "http://default:1/v1"\napi_key_env = "DEFAULT_KEY"\n'
        '[remotes.lab]\nbase_url = "http://lab:8000/v1"\n',
    )
    monkeypatch.setenv("DEFAULT_KEY", "sk-default")
    merged = backend_options("openai")
    assert resolve_settings("lab/x", merged).api_key is None
    assert resolve_settings("x", merged).api_key == "sk-default"


def test_a_remote_without_base_url_does_not_fall_back_to_the_default_server(assistant_home: Path) -> None:
    write_config(
        assistant_home,
        '[backends.openai]\nbase_url = "http://default:1/v1"\napi_key = "sk-default"\n'
        '[remotes.lab]\nmodel = "qwen"\n',
    )
    with pytest.raises(ConfigError, match=r"\[remotes.lab\] has no base_url"):
        resolve_settings("lab", backend_options("openai"))
