"""Transformers-backend pieces that need no model: sampler, device choice, options, compare logic."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from assistant.errors import BackendError, ModelLoadError
from assistant.types import GenerationParams

torch = pytest.importorskip("torch")

from assistant.backends.torch.sampling import Sampler, token_numbers  # noqa: E402
from assistant.backends.torch.backend import (  # noqa: E402
    TransformersBackend,
    choose_device,
    choose_dtype,
)


def _logits(*values: float) -> "torch.Tensor":
    return torch.tensor(values, dtype=torch.float32)


# ---- sampler: llama.cpp's chain -------------------------------------------------------------


def test_greedy_is_argmax_first_on_ties() -> None:
    sampler = Sampler(GenerationParams(temperature=0))
    assert sampler(_logits(0.1, 3.0, 3.0, -1.0)) == 1


def test_repeat_penalty_only_counts_generated_tokens_and_respects_sign() -> None:
    params = GenerationParams(temperature=0, repeat_penalty=2.0)
    sampler = Sampler(params)
    logits = _logits(4.0, 3.0, -1.0)
    assert sampler(logits) == 0  # empty history: the prompt is not penalised
    # token 0 now in history: 4/2 = 2 < 3, so token 1 wins
    assert sampler(logits) == 1
    # both penalised: 2.0 vs 1.5 -> token 0 again
    assert sampler(logits) == 0
    assert logits.tolist() == [4.0, 3.0, -1.0], "the caller's logits are not modified"


def test_negative_logits_are_multiplied_by_the_penalty() -> None:
    sampler = Sampler(GenerationParams(temperature=0, repeat_penalty=3.0))
    sampler.history.extend([0])
    # token 0: -1 * 3 = -3 < -2
    assert sampler(_logits(-1.0, -2.0)) == 1


def test_top_k_one_is_greedy_whatever_the_temperature() -> None:
    params = GenerationParams(temperature=5.0, top_k=1, top_p=1.0, seed=1)
    sampler = Sampler(params)
    assert {sampler(_logits(0.0, 0.5, 0.4)) for _ in range(50)} == {1}


def test_top_p_uses_the_untempered_distribution() -> None:
    # probs of [2, 1, 0] ~ 0.665, 0.245, 0.090: p=0.6 keeps only the first token,
    # even though temperature 100 would make the tempered distribution nearly flat.
    params = GenerationParams(temperature=100.0, top_k=0, top_p=0.6, seed=3)
    sampler = Sampler(params)
    assert {sampler(_logits(2.0, 1.0, 0.0)) for _ in range(50)} == {0}
    # p=0.9 keeps two tokens (0.665 + 0.245 = 0.91 >= 0.9): both appear, the third never.
    sampler = Sampler(params.replace(top_p=0.9, seed=4))
    assert {sampler(_logits(2.0, 1.0, 0.0)) for _ in range(300)} == {0, 1}


def test_sampling_follows_softmax_over_temperature() -> None:
    params = GenerationParams(temperature=0.5, top_k=0, top_p=1.0, seed=7)
    sampler = Sampler(params)
    logits = _logits(1.0, 0.0, -1.0)
    draws = [sampler(logits) for _ in range(4000)]
    expected = torch.softmax(logits / 0.5, dim=-1).tolist()
    for token, p in enumerate(expected):
        assert draws.count(token) / len(draws) == pytest.approx(p, abs=0.03)


def test_seed_reproduces_and_differs_between_seeds() -> None:
    logits = torch.linspace(0, 1, 50)
    params = GenerationParams(temperature=1.0, top_k=40, top_p=0.95)
    first = Sampler(params.replace(seed=11))
    second = Sampler(params.replace(seed=11))
    assert [first(logits) for _ in range(30)] == [second(logits) for _ in range(30)]
    other = Sampler(params.replace(seed=12))
    third = Sampler(params.replace(seed=11))
    assert [other(logits) for _ in range(30)] != [third(logits) for _ in range(30)]


def test_top_logprobs_come_from_raw_logits() -> None:
    logits = _logits(2.0, 1.0, 0.0)
    logprob, p_sampled, top = token_numbers(logits, 1, 2, None)
    expected = torch.log_softmax(logits, dim=-1)
    assert logprob == pytest.approx(float(expected[1]))
    assert [t for t, _, _ in top] == [0, 1] and p_sampled is None
    assert math.exp(top[0][1]) + math.exp(top[1][1]) + math.exp(float(expected[2])) == pytest.approx(1.0)


# ---- device and dtype -------------------------------------------------------------------------


def test_auto_device_prefers_cuda_then_mps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert choose_device("auto").type == "cpu"
    assert choose_dtype("auto", choose_device(None)) == torch.float32
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert choose_device("auto").type == "mps"
    assert choose_dtype("auto", torch.device("mps")) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_device(None).type == "cuda"
    assert choose_dtype(None, torch.device("cuda")) == torch.bfloat16


def test_explicit_dtype_names() -> None:
    cpu = torch.device("cpu")
    assert choose_dtype("bf16", cpu) == torch.bfloat16
    assert choose_dtype("float16", cpu) == torch.float16
    assert choose_dtype("torch.float32", cpu) == torch.float32
    with pytest.raises(BackendError, match="unknown dtype"):
        choose_dtype("int3", cpu)


def test_missing_gpu_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(BackendError, match="no CUDA GPU"):
        choose_device("cuda")
    with pytest.raises(BackendError, match="MPS"):
        choose_device("mps")
    with pytest.raises(BackendError, match="device"):
        choose_device("tpu")


def test_unknown_options_are_listed() -> None:
    with pytest.raises(BackendError) as info:
        TransformersBackend().load("smollm2", n_gpu_layers=3, flash=True, progress=lambda _: None)
    assert "flash" in str(info.value) and "n_gpu_layers" in str(info.value)
    assert "device" in str(info.value)  # the known options are named


def test_directory_without_config_is_a_model_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="config.json"):
        TransformersBackend().load(str(tmp_path), progress=lambda _: None)


def test_a_file_inside_a_model_directory_points_to_the_directory(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"not really")
    with pytest.raises(ModelLoadError, match=f"pass {tmp_path}"):
        TransformersBackend().load(str(weights), progress=lambda _: None)


def test_unloaded_backend_says_so() -> None:
    with pytest.raises(BackendError, match="no model loaded"):
        TransformersBackend().tokenize_text("hi")


# ---- compare ------------------------------------------------------------------------------------


def _run(ids: list[int], top: list[list[int]], prompt: list[int] | None = None):  # type: ignore[no-untyped-def]
    from assistant.compare import EngineRun

    return EngineRun(
        backend="x", model="m", text="", token_ids=ids, tokens=[str(i) for i in ids],
        prompt_token_ids=prompt or [1, 2], finish_reason="stop", ttft_ms=1.0,
        tokens_per_second=2.0, load_seconds=0.1, top=top,
    )  # fmt: skip


def test_agreement_first_difference_and_overlap() -> None:
    from assistant.compare import measure_agreement

    a = _run([5, 6, 7, 8], [[5, 1, 2], [6, 1, 2], [7, 3, 4], [8, 0, 0]])
    b = _run([5, 6, 9, 8], [[5, 2, 1], [6, 1, 9], [9, 7, 3], [8, 0, 0]])
    agreement = measure_agreement(a, b, top_k=3)
    assert agreement.first_difference == 2
    assert agreement.compared_steps == 2
    assert agreement.top_overlap == pytest.approx([1.0, 2 / 3])
    assert agreement.same_prompt_ids


def test_agreement_identical_and_prefix() -> None:
    from assistant.compare import measure_agreement

    same = measure_agreement(_run([1, 2], [[1], [2]]), _run([1, 2], [[1], [2]], prompt=[9]), top_k=1)
    assert same.first_difference is None and same.top_overlap == [1.0, 1.0]
    assert not same.same_prompt_ids
    shorter = measure_agreement(_run([1, 2, 3], [[1], [2], [3]]), _run([1, 2], [[1], [2]]), top_k=1)
    assert shorter.first_difference == 2


def test_compare_command_with_fake_backends(fake_backend: None) -> None:
    from click.testing import CliRunner

    from assistant.cli import main

    result = CliRunner().invoke(main, ["compare", "hello", "-b", "fake", "-b", "fake", "--json", "-m", "tiny"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [run["backend"] for run in report["runs"]] == ["fake", "fake"]
    assert report["runs"][0]["text"] == "Echo: hello"
    assert report["agreement"]["first_difference"] is None
    assert report["agreement"]["top_k"] == 5
    assert report["params"]["temperature"] == 0.0 and report["params"]["logprobs"] == 5
    text = CliRunner().invoke(main, ["compare", "hello", "-b", "fake", "-b", "fake", "-m", "tiny"])
    assert text.exit_code == 0, text.output
    assert "Echo: hello" in text.output and "agreement:" in text.output
    assert "all 11 generated tokens identical" in text.output


def test_compare_needs_two_backends(fake_backend: None) -> None:
    from click.testing import CliRunner

    from assistant.cli import main

    result = CliRunner().invoke(main, ["compare", "hello", "-b", "fake"])
    assert result.exit_code != 0
    assert "exactly two backends" in result.output


def test_backends_without_attention_maps_say_so() -> None:
    from assistant.backends.fake import FakeBackend
    from assistant.errors import NotSupportedError

    backend = FakeBackend()
    backend.load("tiny")
    with pytest.raises(NotSupportedError, match="attention"):
        backend.attention("hi", GenerationParams())


def test_side_by_side_columns_respect_wide_characters() -> None:
    from assistant.cli.compare import display_width, wrap_cells

    assert display_width("进制") == 4 and display_width("e\u0301") == 1
    lines = wrap_cells("alpha 进制进制进制 beta gamma-delta-epsilon", 8)
    assert all(display_width(line) <= 8 for line in lines)
    assert "".join(lines).replace(" ", "") == "alpha进制进制进制betagamma-delta-epsilon"
    assert wrap_cells("", 10) == [""]
