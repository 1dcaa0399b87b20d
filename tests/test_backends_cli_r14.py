"""Round 14, backends and the everyday CLI: defects found using them as a user would."""

from __future__ import annotations

import datetime
import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.backends import load_backend
from assistant.cli import main
from assistant.config import toml_string
from assistant.errors import ConfigError
from assistant.option_values import plain_number
from assistant.options import parse_options

from .openai_fake_server import FakeOpenAIServer, tiny_openai_server  # noqa: F401 (fixture)


def _config(home: Path, text: str) -> Path:
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _one_error_line(result: Any) -> str:
    """The one line a refused command printed on stderr (and nothing on stdout)."""
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


# -- 1. an empty -m / -b / --quant is refused, not read as "not given" ------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["prompt", "-b", "fake", "-m", "", "hi"], "-m/--model"),
        (["prompt", "-b", "fake", "--model=", "hi"], "-m/--model"),
        (["prompt", "-b", " ", "-m", "fake-model", "hi"], "-b/--backend"),
        (["tokenize", "-b", "fake", "-m", "", "hi"], "-m/--model"),
        (["chat", "-b", "fake", "-m", ""], "-m/--model"),
        (["compare", "-b", "fake", "-b", "fake-attention", "-m", "", "hi"], "-m/--model"),
        (["compare", "-b", "", "-b", "fake", "hi"], "-b/--backend"),
        (["models", "pull", "--quant", "", "hf:org/repo"], "--quant"),
    ],
)
def test_an_empty_name_option_is_refused_in_one_line(fake_backend: None, args: list[str], named: str) -> None:
    """Was: ``-m ''`` (``-m "$MODEL"`` with MODEL unset) ran the default model, ``-b ''`` the default
    backend, ``--quant ''`` the default quantization: the user got an answer from a model they did
    not ask for, and could not tell."""
    result = CliRunner().invoke(main, [*args, "--no-log"] if args[0] == "prompt" else args)
    assert _one_error_line(result) == f"error: {named}: empty value (leave the option out for the default)"


def test_compare_refuses_a_side_prefix_with_no_model_after_it(fake_backend: None) -> None:
    """``compare -m fake:`` named that side's model as "" (the backend's default, silently)."""
    result = CliRunner().invoke(main, ["compare", "-b", "fake", "-b", "fake-attention", "-m", "fake:", "hi"])
    assert _one_error_line(result) == "error: -m/--model: empty value after fake:"


# -- 2. numbers typed as text: plain ASCII only ----------------------------------------------------------


@pytest.mark.parametrize(
    "item",
    ["max_tokens=1_0", "max_tokens=１０", "temperature=0_5", "temperature=０.5", "seed=１", "top_p=٠.5",
     "n_ctx=5_12", "n_gpu_layers=-１", "n_threads=2_0", "temperature=nan", "temperature=infinity"],
)
def test_an_option_number_with_underscores_or_other_digits_is_refused(item: str) -> None:
    """Was: ``-o max_tokens=1_0`` ran with 10 tokens, ``-o max_tokens=１０`` (full width) too: Python's
    ``int()``/``float()`` read both; a typo ran with a value the user never saw."""
    key = item.partition("=")[0]
    with pytest.raises(ConfigError, match=key):
        parse_options([item])


@pytest.mark.parametrize(
    ("item", "expected"),
    [("max_tokens=+5", ("max_tokens", 5)), ("temperature= .5 ", ("temperature", 0.5)),
     ("max_tokens=1e1", ("max_tokens", 10)), ("n_gpu_layers=-1", ("n_gpu_layers", -1)),
     ("n_ctx=2048.0", ("n_ctx", 2048)), ("top_p=1", ("top_p", 1.0)), ("seed=", ("seed", None))],
)
def test_plain_numbers_are_still_read(item: str, expected: tuple[str, Any]) -> None:
    params, backend = parse_options([item])
    key, value = expected
    got = {**params, **backend}[key]
    assert got == value and type(got) is type(value)


def test_a_float_too_large_is_named_as_typed() -> None:
    """``-o temperature=1e999`` said "temperature must be a finite number, not inf": not what was typed."""
    with pytest.raises(ConfigError, match=r"option temperature needs a finite number, got '1e999'"):
        parse_options(["temperature=1e999"])


def test_a_server_option_reads_numbers_as_o_does() -> None:
    """The openai backend's own number options (a timeout, n_ctx) took ``1_0`` and ``１０`` from the config."""
    from assistant.backends.openai.settings import option_value

    for raw in ("1_0", "１０", "nan"):
        with pytest.raises(ConfigError, match="read_timeout needs a number"):
            option_value("read_timeout", raw, "[remotes.lab]")
    assert option_value("read_timeout", " 2.5 ", "[remotes.lab]") == 2.5
    assert option_value("n_ctx", "4096", "[remotes.lab]") == 4096


@given(st.text(max_size=12))
@settings(max_examples=300, deadline=None)
def test_plain_number_takes_only_ascii_numbers(raw: str) -> None:
    """Whatever it takes is ASCII and means what ``float`` says; it never takes ``_`` or another script's digits."""
    number = plain_number(raw)
    if number is not None:
        assert raw.strip().isascii() and "_" not in raw
        assert not math.isnan(number)
        assert number == float(raw) or (math.isinf(number) and math.isinf(float(raw)))


@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_plain_number_reads_every_integer_exactly(number: int) -> None:
    assert plain_number(str(number)) == number and type(plain_number(str(number))) is int


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_plain_number_reads_every_float_as_python_writes_it(number: float) -> None:
    assert plain_number(repr(number)) == number and plain_number(f"{number:e}") == float(f"{number:e}")


# -- 3. a config key of the wrong type is named when the config is read ----------------------------------


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("remotes = 5", "remotes in {path} must be a table ([remotes.NAME] tables), not 5"),
        ('backends = "llama-cpp"', "backends in {path} must be a table ([backends.NAME] tables), not 'llama-cpp'"),
        ("params = [0.5]", "params in {path} must be a table ([params]), not [0.5]"),
    ],
)
def test_a_table_key_of_the_wrong_type_is_named(assistant_home: Path, fake_backend: None, line: str, named: str) -> None:
    """Was: ``remotes = 5`` was read as "no remotes": ``prompt -m lab`` then said "unknown model 'lab'"."""
    path = _config(assistant_home, line + "\n")
    result = CliRunner().invoke(main, ["prompt", "-m", "lab", "--no-log", "hi"])
    assert _one_error_line(result) == "error: " + named.format(path=path)


def test_a_long_wrong_value_is_cut_in_the_message(assistant_home: Path) -> None:
    from assistant.config import load_config

    _config(assistant_home, f"remotes = [{', '.join(['1'] * 500)}]\n")
    with pytest.raises(ConfigError) as caught:
        load_config()
    shown = str(caught.value).partition("tables), not ")[2]
    assert shown.startswith("[1, 1") and shown.endswith("...") and len(shown) == 60


def test_a_params_value_out_of_range_names_the_config(assistant_home: Path, fake_backend: None) -> None:
    """Was: ``top_p = 5`` under [params] said "top_p must be in (0, 1]", as if an -o option were wrong."""
    path = _config(assistant_home, "[params]\ntop_p = 5\n")
    result = CliRunner().invoke(main, ["prompt", "-b", "fake", "-m", "m", "--no-log", "hi"])
    assert _one_error_line(result) == f"error: top_p must be in (0, 1] (in [params] of {path})"
    overridden = CliRunner().invoke(main, ["prompt", "-b", "fake", "-m", "m", "-o", "top_p=0.5", "--no-log", "hi"])
    assert overridden.exit_code == 0, overridden.output


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, (int, datetime.date)):
        return str(value) if isinstance(value, int) else value.isoformat()
    if isinstance(value, str):
        return toml_string(value)
    return "[" + ", ".join(_toml(item) for item in value) + "]"


_SCALARS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(), st.booleans(),
    st.dates(min_value=datetime.date(1, 1, 1)),
)
_CHECKED_AT_LOAD = {
    "default_model": _SCALARS | st.lists(st.text(max_size=3), max_size=2),
    "default_backend": _SCALARS,
    "default_system": _SCALARS,
    "db": _SCALARS | st.lists(st.integers(), max_size=2),
    "templates_dir": _SCALARS,
    "plugin_dirs": _SCALARS | st.text(max_size=5) | st.lists(st.integers(), min_size=1, max_size=2),
    "params": _SCALARS | st.text(max_size=5) | st.lists(st.floats(), max_size=2),
    "backends": _SCALARS | st.text(max_size=5),
    "remotes": _SCALARS | st.text(max_size=5) | st.lists(st.integers(), max_size=2),
}


@given(st.sampled_from(sorted(_CHECKED_AT_LOAD)).flatmap(lambda key: st.tuples(st.just(key), _CHECKED_AT_LOAD[key])))
@settings(max_examples=150, deadline=None)
def test_every_known_key_of_the_wrong_type_is_one_line_naming_it(case: tuple[str, Any]) -> None:
    """Any value of a wrong type for a key the config reader checks: a ConfigError naming the key, one line."""
    import os

    from assistant.config import load_config

    key, value = case
    path = Path(os.environ["ASSISTANT_HOME"]) / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{key} = {_toml(value)}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config()
    message = str(caught.value)
    assert message.startswith(f"{key} in {path} must be ") and "\n" not in message and "\x1b" not in message


# -- 4. a backend says whether its model takes chat turns (a base model does not) --------------------


@pytest.mark.parametrize(("model", "chat"), [("gemma3-270m", False), ("smollm2", True), ("fake-model", True)])
def test_the_fake_backend_says_whether_its_model_takes_chat_turns(fake_backend: None, model: str, chat: bool) -> None:
    """Tools could not see that a backend held a base model: gemma3-270m's "summary" was its prompt,
    caught only after generating. ``Capabilities.chat_turns`` says so once the model is loaded."""
    backend = load_backend("fake", model)
    assert backend.capabilities.chat_turns is chat


def test_a_gguf_without_a_chat_template_is_no_chat_model(fake_backend: None, tmp_path: Path) -> None:
    """A local file decides by its chat template, as the default ``--mode`` does."""
    from .gguf_files import STRING, gguf_string, write_gguf_header

    arch = ("general.architecture", STRING, gguf_string("llama"))
    bare = write_gguf_header(tmp_path / "bare.gguf", [arch])
    template = ("tokenizer.chat_template", STRING, gguf_string("{{ messages }}"))
    templated = write_gguf_header(tmp_path / "chat.gguf", [arch, template])
    assert load_backend("fake", str(bare)).capabilities.chat_turns is False
    assert load_backend("fake", str(templated)).capabilities.chat_turns is True


def test_a_server_model_is_taken_as_a_chat_model(server: FakeOpenAIServer) -> None:
    """``-b openai`` runs every model as chat (models/mode.py): its capability says so too."""
    backend = load_backend("openai", "tiny", base_url=server.base_url)
    assert backend.capabilities.chat_turns is True


def test_the_engine_process_passes_chat_turns_on(fake_backend_plugin_file: Path) -> None:
    """The chat app's model runs in a process of its own: its capabilities come from there."""
    from assistant.backends.engine.process import load_in_engine_process

    backend = load_in_engine_process("fake", "gemma3-270m")
    try:
        assert backend.capabilities.chat_turns is False and backend.capabilities.engine_process
    finally:
        backend.unload()


@pytest.mark.model
@pytest.mark.parametrize("engine", ["llama-cpp", "transformers"])
def test_the_local_engines_say_whether_their_model_takes_chat_turns(
    engine: str, gemma_path: Path, smollm2_path: Path
) -> None:
    for path, chat in ((gemma_path, False), (smollm2_path, True)):
        backend = load_backend(engine, str(path), n_ctx=256)
        try:
            assert backend.capabilities.chat_turns is chat, path.name
        finally:
            backend.unload()


# -- a transformers model id that cannot be fetched: the same words as a pull ------------------------------


def test_a_hub_model_id_that_cannot_be_reached_says_why_as_a_pull_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: ``-b transformers -m ORG/REPO`` with no hub to reach said "[Errno 111] Connection refused"
    (huggingface_hub's socket error, two layers down), where ``models pull`` said "the connection was refused"."""
    import socket

    from assistant.errors import ModelFetchError
    from assistant.models import refs

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.delenv("ASSISTANT_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelFetchError) as caught:
        refs.hf_snapshot(refs.parse("org/no-such-model"), lambda message: None)
    assert str(caught.value) == f"org/no-such-model: cannot reach http://127.0.0.1:{port}: the connection was refused"


# -- where a default that does not work was set ---------------------------------------------------------


def test_an_unknown_default_model_names_where_it_is_set(assistant_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: ``ASSISTANT_MODEL=smolm2`` (or ``default_model``) gave "unknown model 'smolm2'" to a command with
    no ``-m``, as an unknown default backend did before it was named ("set by ASSISTANT_BACKEND")."""
    monkeypatch.setenv("ASSISTANT_MODEL", "smolm2")
    line = _one_error_line(CliRunner().invoke(main, ["prompt", "--no-log", "hi"]))
    assert line.startswith("error: unknown model 'smolm2'") and line.endswith("; it is the default model, set by ASSISTANT_MODEL")
    monkeypatch.delenv("ASSISTANT_MODEL")
    path = _config(assistant_home, 'default_model = "smolm2"\n')
    line = _one_error_line(CliRunner().invoke(main, ["prompt", "--no-log", "hi"]))
    assert line.endswith(f"; it is the default model, set by default_model in {path}")


def test_a_models_directory_that_is_a_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: ``ASSISTANT_MODELS_DIR=/dev/null`` (or a file) made fetching the default model "the llama-cpp
    backend failed to load smollm2: FileExistsError: [Errno 17] File exists: '/dev/null'"."""
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("x")
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(not_a_directory))
    for args in (["prompt", "--no-log", "hi"], ["models", "pull", "smollm2"]):
        line = _one_error_line(CliRunner().invoke(main, args))
        assert line == f"error: the models directory {not_a_directory} (set by ASSISTANT_MODELS_DIR) is not a directory"


# -- config show: every credential-looking value masked ---------------------------------------------------


def test_config_show_masks_credentials_under_any_key_name(assistant_home: Path) -> None:
    """Was: only ``api_key`` was masked; ``api-key`` (a typo, kept in the parsed config), a ``token`` or a
    ``headers.Authorization`` the user expected to work were printed whole in what people paste into reports."""
    import json

    _config(
        assistant_home,
        'hf_token = "hf_abc"\n[backends.openai]\napi-key = "sk-one"\napi_key_env = "LAB_KEY"\n'
        '[remotes.lab]\nbase_url = "http://u:pw@box:8000/v1"\nheaders = {Authorization = "Bearer sk-two"}\n'
        '[remotes.lab.credentials]\nuser = "me"\n',
    )
    result = CliRunner().invoke(main, ["config", "show"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)["config"]
    for secret in ("hf_abc", "sk-one", "sk-two", '"me"', "pw@"):
        assert secret not in result.stdout
    assert shown["backends"]["openai"] == {"api-key": "***", "api_key_env": "LAB_KEY"}
    assert shown["remotes"]["lab"]["headers"] == {"Authorization": "***"} and shown["remotes"]["lab"]["credentials"] == "***"


# -- prompt -c: a backend or model the resumed conversation chose, and that is gone ----------------------


def test_continuing_a_conversation_whose_backend_or_model_is_gone_says_so(fake_backend: None) -> None:
    """Was: ``prompt -c`` after the conversation's backend (a plugin's) was removed said "unknown backend
    'fake'", and with ``-b llama-cpp`` "unknown model 'm'": names the user never typed, no word of -b/-m."""
    from assistant.plugins import reset_plugins

    first = CliRunner().invoke(main, ["prompt", "-b", "fake", "-m", "m", "hi"])
    assert first.exit_code == 0, first.output
    reset_plugins()  # the plugin that gave "fake" is gone
    line = _one_error_line(CliRunner().invoke(main, ["prompt", "-c", "again"]))
    assert line.startswith("error: unknown backend 'fake' (available: ")
    assert line.endswith("; conversation 1 ran on it: continue it on another with -b")
    line = _one_error_line(CliRunner().invoke(main, ["prompt", "-c", "-b", "llama-cpp", "again"]))
    assert line.startswith("error: unknown model 'm' (catalog: ")
    assert line.endswith("; conversation 1 used it: continue it with another with -m")
    typed = _one_error_line(CliRunner().invoke(main, ["prompt", "-c", "-b", "llama-cpp", "-m", "nosuch", "again"]))
    assert "conversation" not in typed  # -m typed: the user's own name, nothing to explain


# -- models info --json of a file that is no readable GGUF ------------------------------------------------


def test_models_info_json_refuses_a_broken_gguf_as_the_text_form_does(models_dir: Path) -> None:
    """Was: ``models info cut.gguf`` said "corrupt GGUF header (…)" and exit 1, but with ``--json`` printed
    ``"header": null`` and exit 0: a script asking whether a model is usable was told nothing was wrong."""
    from .gguf_files import STRING, gguf_string, write_gguf_header

    write_gguf_header(models_dir / "cut.gguf", [("general.name", STRING, gguf_string("x"))], n_tensors=1)
    text = _one_error_line(CliRunner().invoke(main, ["models", "info", "cut.gguf"]))
    as_json = _one_error_line(CliRunner().invoke(main, ["models", "info", "--json", "cut.gguf"]))
    assert as_json == text and "corrupt GGUF header" in text


def test_config_path_shows_a_control_character_in_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: ``config path`` printed ASSISTANT_HOME as it is: on a terminal an escape in it acted, and in a pipe
    click dropped the sequence, printing a path that does not exist (``…/ex/config`` for ``…/e\\x1b[31mx/config``)."""
    home = tmp_path / "e\x1b[31mx"
    monkeypatch.setenv("ASSISTANT_HOME", str(home))
    result = CliRunner().invoke(main, ["config", "path"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{tmp_path}/e\u241b[31mx/config/config.toml\n"


def test_llama_cpp_given_a_hugging_face_directory_names_the_backend_that_runs_it(tmp_path: Path) -> None:
    """Was: "llama-cpp needs a .gguf file, not a directory", with no word of -b transformers, which loads it."""
    from assistant.errors import ModelLoadError

    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="a Hugging Face model directory runs with -b transformers"):
        load_backend("llama-cpp", str(tmp_path))


def test_a_backend_option_the_config_sets_is_refused_naming_the_config(assistant_home: Path) -> None:
    """Was: ``n_gpu_layer = 5`` under [backends.llama-cpp] said "unknown llama-cpp option(s): n_gpu_layer":
    the user looked for it among the -o options they had typed."""
    path = _config(assistant_home, "[backends.llama-cpp]\nn_gpu_layer = 5\n")
    line = _one_error_line(CliRunner().invoke(main, ["prompt", "-m", "/nonexistent.gguf", "--no-log", "hi"]))
    assert line.startswith("error: unknown llama-cpp option(s): n_gpu_layer (did you mean n_gpu_layers?)")
    assert line.endswith(f" (in [backends.llama-cpp] of {path})")
    _config(assistant_home, '[backends.llama-cpp]\nflash_attn = "abc"\n')
    line = _one_error_line(CliRunner().invoke(main, ["prompt", "-m", "/nonexistent.gguf", "--no-log", "hi"]))
    assert line == f"error: flash_attn must be true or false, not 'abc' (in [backends.llama-cpp] of {path})"
    overridden = ["prompt", "-m", "/nonexistent.gguf", "-o", "flash_attn=true", "--no-log", "hi"]
    line = _one_error_line(CliRunner().invoke(main, overridden))  # -o sets it: the config's value is not used
    assert line == "error: model file not found: /nonexistent.gguf"
