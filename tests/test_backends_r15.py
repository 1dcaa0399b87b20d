"""Round 15, backends and the everyday CLI: defects found using them as a user would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from assistant.cli import main
from assistant.errors import ModelNotFoundError, RemoteError
from assistant.inspect.distribution import sampled_distribution, top_indices
from assistant.types import GenerationParams, Message

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


# -- known 2. top-k keeps tied tokens lowest id first on the transformers backend too ---------------


def _tied_logits() -> np.ndarray:
    """Four tokens tied at the top (ids 1, 2, 4, 5) in a vocabulary large enough for topk's own order."""
    logits = np.zeros(4096, dtype=np.float32)
    logits[[1, 2, 4, 5]] = 3.0
    logits[3] = 2.0
    logits[6:] = -1.0
    return logits


def test_top_k_keeps_the_lowest_ids_of_tokens_tied_at_the_cut_as_the_numpy_twin_does() -> None:
    """Was: the transformers sampler cut with ``torch.topk``, which took ids 2, 4 and 5 of the four
    tied tokens for ``top_k=3``, where llama.cpp, ``assistant next`` and the numpy twin keep 1, 2
    and 4: the same ``top_k`` sampled from other tokens on this backend."""
    torch = pytest.importorskip("torch")
    from assistant.backends.torch.sampling import Sampler

    logits = _tied_logits()
    params = GenerationParams(temperature=0.7, top_k=3, seed=1)
    ids, probs = Sampler(params).distribution(torch.from_numpy(logits))
    assert ids.tolist() == [1, 2, 4]
    assert ids.tolist() == sampled_distribution(logits, params).kept_ids.tolist()
    assert probs.tolist() == pytest.approx([1 / 3] * 3)


def test_tokens_tied_across_the_cut_with_others_above_it_rank_as_greedy_breaks_ties() -> None:
    torch = pytest.importorskip("torch")
    from assistant.backends.torch.sampling import Sampler

    logits = _tied_logits()
    logits[4000] = 5.0  # one clear winner above the tie, with a high id
    params = GenerationParams(temperature=1.0, top_k=3, top_p=1.0, seed=2)
    ids, _ = Sampler(params).distribution(torch.from_numpy(logits))
    assert ids.tolist() == [4000, 1, 2] == top_indices(logits, 3).tolist()


def test_the_alternatives_listed_with_logprobs_rank_ties_lowest_id_first() -> None:
    """``-o logprobs=N`` alternatives: the same order as ``assistant next`` and llama-cpp, for ``compare``."""
    torch = pytest.importorskip("torch")
    from assistant.backends.torch.sampling import token_numbers

    logits = _tied_logits()
    _, _, top = token_numbers(torch.from_numpy(logits), 1, 3, None)
    assert [token for token, _, _ in top] == [1, 2, 4] == top_indices(logits, 3).tolist()


def test_top_p_over_tied_tokens_keeps_the_lowest_ids() -> None:
    torch = pytest.importorskip("torch")
    from assistant.backends.torch.sampling import Sampler

    logits = np.full(4096, -30.0, dtype=np.float32)
    tied = [7, 100, 900, 3000]
    logits[tied] = 0.0  # four tokens of 1/4 each: top_p=0.6 keeps three of them
    params = GenerationParams(temperature=1.0, top_k=0, top_p=0.6, seed=3)
    ids, _ = Sampler(params).distribution(torch.from_numpy(logits))
    assert ids.tolist() == sampled_distribution(logits, params).kept_ids.tolist() == [7, 100, 900]


# -- known 1. an option a backend cannot honour is refused, naming the backend and what it takes ----


KNOWN_LLAMA = "(known: n_ctx, n_threads, n_gpu_layers"
TRANSFORMERS = ["prompt", "-b", "transformers"]


@pytest.mark.parametrize(
    ("args", "named", "takes"),
    [
        (["prompt", "-o", "dtype=float16", "hi"], "option(s): dtype (dtype is a transformers", KNOWN_LLAMA),
        (["prompt", "-o", "device=cuda", "hi"], "llama-cpp takes device=cpu or auto, not 'cuda'", "n_gpu_layers"),
        (["next", "-o", "dtype=bf16", "hi"], "dtype is a transformers option", KNOWN_LLAMA),
        (["prompt", "-o", "attn=eager", "hi"], "attn is a transformers option", KNOWN_LLAMA),
        (
            [*TRANSFORMERS, "-o", "n_gpu_layers=0", "hi"],
            "unknown transformers option(s): n_gpu_layers (n_gpu_layers is a llama-cpp option",
            "(known: device, dtype",
        ),
        ([*TRANSFORMERS, "-o", "flash_attn=1", "hi"], "flash_attn is a llama-cpp", "attn=sdpa"),
    ],
)
def test_another_engines_option_is_refused_in_one_line_not_ignored(
    assistant_home: Path, args: list[str], named: str, takes: str
) -> None:
    """Was: ``-o device=cuda`` and ``-o dtype=float16`` were taken by llama-cpp and ignored (the model
    ran where and in the quantization it always does, with no word); the refusal names the backend
    and what it takes instead."""
    line = _one_error_line(CliRunner().invoke(main, args))
    assert named in line
    assert takes in line


def test_device_cpu_on_llama_cpp_keeps_every_layer_off_the_gpu() -> None:
    """``device=cpu`` is one llama-cpp can honour: as ``n_gpu_layers=0`` (it was ignored, so a GPU
    build offloaded every layer); a contradicting ``n_gpu_layers`` is refused, not one of them dropped."""
    from assistant.backends.llama_library import read_load_options
    from assistant.errors import BackendError

    assert read_load_options({"device": "CPU"})["n_gpu_layers"] == 0
    assert "device" not in read_load_options({"device": "cpu"})
    assert "n_gpu_layers" not in read_load_options({"device": "auto"})
    assert read_load_options({"device": "cpu", "n_gpu_layers": 0})["n_gpu_layers"] == 0
    with pytest.raises(BackendError, match="device=cpu and n_gpu_layers=3 contradict"):
        read_load_options({"device": "cpu", "n_gpu_layers": 3})


def test_a_transformers_option_for_llama_cpp_in_the_config_is_refused_naming_the_file(
    assistant_home: Path,
) -> None:
    config = _config(assistant_home, '[backends.llama-cpp]\ndtype = "float16"\n')
    line = _one_error_line(CliRunner().invoke(main, ["prompt", "hi"]))
    assert "dtype is a transformers option" in line and str(config) in line


def test_compare_names_the_side_that_takes_a_shared_option(assistant_home: Path) -> None:
    """Was: ``compare -o dtype=float16`` ran llama-cpp without it; now refused before either side loads,
    with the way to give it to the transformers side only."""
    line = _one_error_line(CliRunner().invoke(main, ["compare", "-o", "dtype=float16", "hi"]))
    assert "dtype is a transformers option" in line
    assert "-o transformers:dtype=float16" in line


def test_the_server_backend_says_a_local_engines_option_means_nothing_there(assistant_home: Path) -> None:
    """``-b openai -o device=cuda`` was "unknown option" and no more; a typo got no "did you mean"."""
    from assistant.backends import check_options
    from assistant.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        check_options("openai", {"device": "cuda", "temprature": 0})
    message = str(caught.value)
    assert message.startswith("unknown openai backend option(s): device, temprature (known: api_key")
    assert "device: an option of the local engines" in message
    assert message.endswith("(did you mean temperature?)")


# -- 3. a stream labelled as one but holding no event says so ----------------------------------------


def send_raw_text(status: int, content_type: str, text: str) -> Any:
    def handler(h: Any, _: Any) -> None:
        data = text.encode()
        h.send_response(status)
        h.send_header("content-type", content_type)
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    return handler


def test_an_event_stream_without_events_is_not_called_no_event_stream(server: FakeOpenAIServer) -> None:
    """Was: "answered /v1/chat/completions with text/event-stream, not an event stream": the server's
    label and the message contradicted each other; the body is a JSON answer without ``data:`` lines."""
    from assistant.backends import load_backend

    body = '{"choices": [{"index": 0, "message": {"content": "hi"}, "finish_reason": "stop"}]}'
    server.route("POST", "/v1/chat/completions", send_raw_text(200, "text/event-stream", body))
    backend = load_backend("openai", "tiny", base_url=server.base_url, progress=lambda _: None)
    with pytest.raises(RemoteError) as caught:
        backend.complete([Message("user", "hi")], GenerationParams(temperature=0, max_tokens=4))
    assert str(caught.value) == (
        f"http://127.0.0.1:{server.port} answered /v1/chat/completions with text/event-stream but no event "
        f"in it (no 'data:' line): {body!r}"
    )


# -- 4. an on/off environment variable is read one way --------------------------------------------


def test_assistant_debug_false_is_off(assistant_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: anything but ``0`` turned it on, so ``ASSISTANT_DEBUG=false`` printed tracebacks."""
    monkeypatch.setenv("ASSISTANT_DEBUG", "false")
    line = _one_error_line(CliRunner().invoke(main, ["models", "info", "no-such-model"]))
    assert line.startswith("error: unknown model 'no-such-model'")
    monkeypatch.setenv("ASSISTANT_DEBUG", "on")
    result = CliRunner().invoke(main, ["models", "info", "no-such-model"])
    assert isinstance(result.exception, ModelNotFoundError)  # raised on, for the traceback


@pytest.mark.parametrize("variable", ["ASSISTANT_DEBUG", "ASSISTANT_OFFLINE"])
def test_an_on_off_variable_that_is_no_switch_is_refused_naming_it(
    assistant_home: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """Was: ``ASSISTANT_OFFLINE=perhaps`` went offline ("offline mode is on") and ``ASSISTANT_DEBUG=maybe``
    printed tracebacks, with no word of the value."""
    monkeypatch.setenv(variable, "perhaps")
    line = _one_error_line(CliRunner().invoke(main, ["models", "pull", "hf:org/repo"]))
    assert line == f"error: {variable} must be true or false (1 or 0, yes or no, on or off), not 'perhaps'"


def test_the_engine_process_setting_reads_the_same_switch_words(
    assistant_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.config import engine_process_enabled

    for word, expected in (("off", False), ("YES", True), ("0", False), ("1", True)):
        monkeypatch.setenv("ASSISTANT_ENGINE_PROCESS", word)
        assert engine_process_enabled() is expected


# -- 5. a Hugging Face reference the hub cannot have is refused before any request ------------------


@pytest.mark.parametrize(
    ("reference", "why"),
    [
        ("hf:org/repo/../../x.gguf", "'../../x.gguf' is no file path in a repository"),
        ("hf:org/../f.gguf", "'org/..' is no repository name"),
        ("hf:org/repo@../x/f.gguf", "'..' is no revision"),
        ("https://huggingface.co/org/../blob/main/x.gguf", "'org/..' is no repository name"),
        ("org/a..b", "'org/a..b' is no repository name"),
    ],
)
def test_a_hub_reference_with_dot_dot_parts_is_refused_in_one_line(
    assistant_home: Path, reference: str, why: str
) -> None:
    """Was: sent as written (``…/org/../resolve/main/f.gguf`` asks the hub for another path than the one
    named), and ``-b transformers -m org/a..b`` was "the transformers backend failed to load org/a..b:
    HFValidationError: …" from inside huggingface_hub."""
    from assistant.models import refs

    with pytest.raises(ModelNotFoundError) as caught:
        refs.parse(reference)
    assert str(caught.value).startswith(f"bad Hugging Face reference {reference!r}: {why}")
    line = _one_error_line(CliRunner().invoke(main, ["models", "pull", reference]))
    assert line.startswith(f"error: bad Hugging Face reference {reference!r}")


@pytest.mark.parametrize(
    "reference",
    ["hf:org/repo", "hf:org/my.repo_v2@v1.0/sub/model.Q4_K_M.gguf", "org/repo-name@main", "hf:a/b:Q8_0"],
)
def test_plain_hub_references_still_parse(reference: str) -> None:
    from assistant.models import refs

    refs.parse(reference)


# -- 6. compare: a BACKEND: prefix when both sides are that backend ---------------------------------


@pytest.mark.parametrize("given", [["-m", "fake:other-model"], ["-o", "fake:n_ctx=512"]])
def test_a_side_prefix_that_names_both_sides_is_refused(fake_backend: None, given: list[str]) -> None:
    """Was: ``compare -b llama-cpp -b llama-cpp -m llama-cpp:gemma3`` gave gemma3 to both sides, and the
    report compared two copies of one run ("all generated tokens identical")."""
    result = CliRunner().invoke(main, ["compare", "-b", "fake", "-b", "fake", *given, "hi"])
    assert result.exit_code == 2
    assert "both sides are fake: a fake: prefix cannot pick one of them" in result.stderr


# -- 7. `assistant backends` says when the default backend set is none of them ----------------------


def test_backends_warns_of_a_default_backend_that_is_not_registered(
    assistant_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: ``ASSISTANT_BACKEND=lama-cpp`` listed every backend, none marked default, with no word of why."""
    monkeypatch.setenv("ASSISTANT_BACKEND", "lama-cpp")
    result = CliRunner().invoke(main, ["backends"])
    assert result.exit_code == 0
    warning = "warning: the default backend 'lama-cpp', set by ASSISTANT_BACKEND, is not registered\n"
    assert result.stderr == warning
    assert "llama-cpp: " in result.stdout and "(default)" not in result.stdout
    monkeypatch.delenv("ASSISTANT_BACKEND")
    result = CliRunner().invoke(main, ["backends"])
    assert result.stderr == "" and "llama-cpp (default): " in result.stdout


# -- 8. a model directory transformers cannot load says what it lacks ------------------------------


@pytest.mark.parametrize(
    ("config", "weights", "why"),
    [
        ("[1, 2]", True, "config.json holds a JSON list, not an object"),
        ('{"model_type": "llama"', True, "config.json cannot be read as JSON"),
        ('{"model_type": "llama"}', False, "no weights in it (*.safetensors or pytorch_model*.bin)"),
    ],
)
def test_a_model_directory_that_cannot_load_is_refused_naming_what_it_lacks(
    assistant_home: Path, tmp_path: Path, config: str, weights: bool, why: str
) -> None:
    """Was: a ``config.json`` holding a list was "the transformers backend failed to load …: TypeError:
    … argument after ** must be a mapping, not list"; a directory without weights failed on its tokenizer
    ("You need to have sentencepiece or tiktoken installed")."""
    pytest.importorskip("torch")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(config, encoding="utf-8")
    if weights:
        (folder / "model.safetensors").write_bytes(b"")
    line = _one_error_line(CliRunner().invoke(main, [*TRANSFORMERS, "--no-log", "-m", str(folder), "hi"]))
    assert line.startswith(f"error: cannot load model {folder}: {why}")


# -- 9. a key typed in capitals gets the hint a misspelt one gets -----------------------------------


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["prompt", "-o", "N_CTX=512", "hi"], "unknown llama-cpp option(s): N_CTX (did you mean n_ctx?)"),
        (["prompt", "-b", "openai", "-o", "BASE_URL=http://127.0.0.1:9", "hi"], "(did you mean base_url?)"),
    ],
)
def test_an_option_key_in_capitals_is_named_with_the_key_meant(
    assistant_home: Path, args: list[str], hint: str
) -> None:
    """Was: ``-o N_CTX=512`` was "unknown llama-cpp option(s): N_CTX (known: n_ctx, …)" with no hint,
    where ``-o n_ctxx=512`` got "did you mean n_ctx?"."""
    assert hint in _one_error_line(CliRunner().invoke(main, args))
