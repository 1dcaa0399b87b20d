"""Where ``-b openai`` connects: remotes, env vars, options and their precedence (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.backends.openai.servers import LLAMA_CPP_PYTHON, OLLAMA, TGI, VLLM
from assistant.backends.openai.settings import resolve_settings
from assistant.errors import ConfigError
from assistant.types import GenerationParams


def write_config(home: Path, text: str) -> None:
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "config.toml").write_text(text)


@pytest.fixture(autouse=True)
def no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ASSISTANT_OPENAI_BASE_URL", "ASSISTANT_OPENAI_API_KEY", "LAB_KEY"):
        monkeypatch.delenv(var, raising=False)


def test_no_server_anywhere_says_how_to_set_one() -> None:
    with pytest.raises(ConfigError, match="ASSISTANT_OPENAI_BASE_URL.*-o base_url"):
        resolve_settings("some-model", {})


def test_env_base_url_gets_v1_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_OPENAI_BASE_URL", "http://gpu-box:8000/")
    monkeypatch.setenv("ASSISTANT_OPENAI_API_KEY", "sk-env")
    settings = resolve_settings("meta-llama/Llama-3.1-8B-Instruct", {})
    assert settings.base_url == "http://gpu-box:8000/v1"
    assert settings.model == "meta-llama/Llama-3.1-8B-Instruct"  # a slash is not a remote unless configured
    assert settings.api_key == "sk-env" and settings.remote is None
    assert settings.root_url("/tokenize") == "http://gpu-box:8000/tokenize"


@pytest.mark.parametrize("url", ["gpu-box:8000", "ftp://x/v1", "http://", "localhost"])
def test_bad_base_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="base_url"):
        resolve_settings("m", {"base_url": url})


def test_named_remote_with_and_without_model(assistant_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(
        assistant_home,
        '[remotes.lab]\nbase_url = "https://lab.example:8443/v1"\napi_key_env = "LAB_KEY"\nmodel = "qwen"\n'
        "read_timeout = 30\n",
    )
    monkeypatch.setenv("LAB_KEY", "sk-lab")
    monkeypatch.setenv("ASSISTANT_OPENAI_BASE_URL", "http://default:1/v1")
    monkeypatch.setenv("ASSISTANT_OPENAI_API_KEY", "sk-default")
    explicit = resolve_settings("lab/mistral-7b", {})
    assert (explicit.remote, explicit.model, explicit.base_url) == ("lab", "mistral-7b", "https://lab.example:8443/v1")
    assert explicit.api_key == "sk-lab" and explicit.read_timeout == 30
    assert resolve_settings("lab", {}).model == "qwen"
    other = resolve_settings("mistral-7b", {})
    assert (other.base_url, other.api_key) == ("http://default:1/v1", "sk-default")


def test_default_key_is_never_sent_to_a_named_remote(assistant_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(assistant_home, '[remotes.lab]\nbase_url = "http://lab:8000/v1"\n')
    monkeypatch.setenv("ASSISTANT_OPENAI_API_KEY", "sk-default")
    assert resolve_settings("lab/x", {}).api_key is None


def test_option_beats_remote_and_remote_beats_backend_config(assistant_home: Path) -> None:
    write_config(
        assistant_home,
        '[backends.openai]\nbase_url = "http://configured:1/v1"\nread_timeout = 99\n'
        '[remotes.lab]\nbase_url = "http://lab:8000/v1"\n',
    )
    # load_backend merges [backends.openai] into the options; equal values count as config.
    merged = {"base_url": "http://configured:1/v1", "read_timeout": 99}
    assert resolve_settings("lab/x", merged).base_url == "http://lab:8000/v1"
    assert resolve_settings("lab/x", merged).read_timeout == 99
    assert resolve_settings("lab/x", {**merged, "base_url": "http://cli:2/v1"}).base_url == "http://cli:2/v1"
    assert resolve_settings("x", merged).base_url == "http://configured:1/v1"


def test_missing_key_env_var_and_unknown_keys_are_errors(assistant_home: Path) -> None:
    write_config(assistant_home, '[remotes.lab]\nbase_url = "http://lab:8000/v1"\napi_key_env = "LAB_KEY"\n')
    with pytest.raises(ConfigError, match=r"\$LAB_KEY, which is not set"):
        resolve_settings("lab/x", {})
    write_config(assistant_home, '[remotes.lab]\nbase-url = "http://lab:8000/v1"\n')
    with pytest.raises(ConfigError, match=r"base-url in \[remotes.lab\]"):
        resolve_settings("lab/x", {})
    write_config(assistant_home, "")
    with pytest.raises(ConfigError, match="unknown openai backend option.*n_threads"):
        resolve_settings("x", {"base_url": "http://a:1", "n_threads": 2})
    with pytest.raises(ConfigError, match="read_timeout must be > 0"):
        resolve_settings("x", {"base_url": "http://a:1", "read_timeout": 0})


def test_request_params_per_server() -> None:
    params = GenerationParams(temperature=0.5, top_k=0, top_p=1.0, repeat_penalty=1.1, seed=3, stop=["\n"])
    llama = LLAMA_CPP_PYTHON.request_params(params, chat=True)
    assert llama["top_k"] == 0 and llama["repeat_penalty"] == 1.1 and llama["min_p"] == 0.0
    vllm = VLLM.request_params(params, chat=False)
    assert vllm["top_k"] == -1 and vllm["repetition_penalty"] == 1.1 and "repeat_penalty" not in vllm
    assert "top_p" not in TGI.request_params(params, chat=True)  # TGI rejects 1.0; absent means the same
    assert LLAMA_CPP_PYTHON.request_params(params.replace(logprobs=3), chat=True)["top_logprobs"] == 3
    assert LLAMA_CPP_PYTHON.request_params(params.replace(logprobs=3), chat=False)["logprobs"] == 3


def test_unsupported_params_are_listed_only_when_they_matter() -> None:
    # Ollama applies its own top_k 40 and repeat_penalty 1.1 (round 18): top_k=40 is honoured, 1.0 is not.
    assert OLLAMA.unsupported(GenerationParams()) == [("repeat_penalty", 1.0)]
    assert OLLAMA.unsupported(GenerationParams(temperature=0, repeat_penalty=1.1)) == []  # greedy: top_k changes nothing
    assert OLLAMA.unsupported(GenerationParams(top_k=0, repeat_penalty=1.2, logprobs=2)) == [
        ("top_k", 0),
        ("repeat_penalty", 1.2),
        ("logprobs", 2),
    ]
    assert VLLM.unsupported(GenerationParams(top_k=5, repeat_penalty=1.3, logprobs=1)) == []
