"""Attention maps: memory budget, window, labels, terminal heatmap, pictures and `assistant attention`.

Fast tests use the fake backend with attention maps (``fake-attention``); the
model-marked ones check the real weights of SmolLM2 on the transformers
backend (rows are distributions, causal, the same given or generated reply).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.backends.fake import FakeAttentionBackend
from assistant.errors import BackendError, NotSupportedError
from assistant.inspect import attention as att
from assistant.inspect.pictures import save_attention_picture
from assistant.types import AttentionMaps, GenerationParams, Message

from .conftest import run_cli

PROMPT = [Message("user", "The capital of France is")]
PARAMS = GenerationParams(temperature=0, max_tokens=12)


@pytest.fixture
def fake() -> Iterator[FakeAttentionBackend]:
    backend = FakeAttentionBackend(reply=" Paris.")
    backend.load("fake-model")
    yield backend
    backend.unload()


def _assert_distributions(maps: AttentionMaps) -> None:
    for layer in maps.layers:
        assert np.allclose(layer.sum(axis=-1), 1.0, atol=1e-4)
        assert float(np.triu(layer, k=1).max()) == 0.0


# ---- memory ---------------------------------------------------------------------------------------


def test_memory_estimate_counts_kept_windows_and_one_layers_working_matrices() -> None:
    estimate = att.estimate_memory(layers=30, heads=9, tokens=1000, window=64)
    assert estimate.window == 64
    assert estimate.kept_bytes == 30 * 9 * 64 * 64 * 4
    assert estimate.working_bytes == att.EAGER_WORKING_MATRICES * 9 * 1000 * 1000 * 4
    assert att.estimate_memory(30, 9, 50, None).window == 50  # no window: every token
    assert att.estimate_memory(30, 9, 50, 64).window == 50


def test_memory_refusal_is_one_line_with_the_estimate_and_the_remedies() -> None:
    estimate = att.estimate_memory(layers=30, heads=9, tokens=20_000, window=64)
    with pytest.raises(BackendError) as info:
        att.check_memory(estimate, limit=2 * 1024**3)
    message = str(info.value)
    assert "\n" not in message
    assert "20000 tokens" in message and att.format_bytes(estimate.total_bytes) in message
    assert "--max-new-tokens" in message and "--window" in message and "--max-memory" in message
    att.check_memory(estimate, limit=None)  # no limit: no refusal


def test_refused_before_generating_and_before_the_forward(
    fake: FakeAttentionBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_run(*_: object) -> None:
        raise AssertionError("the forward ran")

    monkeypatch.setattr(fake, "attention_weights", must_not_run)
    with pytest.raises(BackendError, match="would need about"):
        fake.attention(PROMPT, PARAMS, memory_limit=1000)
    assert fake.calls == []  # nothing was generated either
    with pytest.raises(BackendError, match="would need about"):
        fake.attention(PROMPT, PARAMS, reply=" Paris.", memory_limit=1000)


# ---- the backend side ------------------------------------------------------------------------------


def test_generated_reply_maps_cover_prompt_and_reply(fake: FakeAttentionBackend) -> None:
    maps = fake.attention(PROMPT, PARAMS)
    prompt_ids = fake.prompt_token_ids(PROMPT)
    assert maps.completion is not None and maps.completion.text == " Paris."
    assert maps.token_ids == prompt_ids + maps.completion.token_ids
    assert maps.prompt_tokens == len(prompt_ids) and maps.window_start == 0
    assert att.layer_count(maps) == 4 and att.head_count(maps) == 3
    _assert_distributions(maps)


def test_a_given_reply_is_not_generated_again(fake: FakeAttentionBackend) -> None:
    maps = fake.attention(PROMPT, PARAMS, reply=" Lyon, <|im_end|>")
    assert fake.calls == [] and maps.completion is None
    reply = maps.token_ids[maps.prompt_tokens :]
    assert bytes(reply).decode() == " Lyon, <|im_end|>"  # special-token text stays text
    as_ids = fake.attention(PROMPT, PARAMS, reply=reply)
    assert as_ids.token_ids == maps.token_ids
    assert all(np.array_equal(a, b) for a, b in zip(as_ids.layers, maps.layers))


def test_window_keeps_the_last_tokens_rows_and_columns(fake: FakeAttentionBackend) -> None:
    full = fake.attention(PROMPT, PARAMS, reply=" Paris.")
    window = fake.attention(PROMPT, PARAMS, reply=" Paris.", window=10)
    n = len(full.token_ids)
    assert window.window_start == n - 10 and window.token_ids == full.token_ids[-10:]
    assert window.prompt_tokens == full.prompt_tokens
    for kept, whole in zip(window.layers, full.layers):
        assert kept.shape == (3, 10, 10)
        assert np.array_equal(kept, whole[:, -10:, -10:])  # the model's numbers, not renormalised
    outside = att.outside_window(att.select_map(window, 0, None))
    assert float(outside[-1]) > 0  # the weight on earlier tokens is what the rows lack


@pytest.mark.usefixtures("fake_backend_plugin_file")
def test_the_engine_process_computes_them_too() -> None:
    """The chat app's engine: shape, a given reply and a window cross the pipe; numpy arrays come back."""
    from assistant.backends.engine.process import load_in_engine_process

    backend = load_in_engine_process("fake-attention", "m")
    try:
        assert backend.capabilities.attention and backend.attention_shape() == (4, 3)
        maps = backend.attention(PROMPT, PARAMS, reply=" Paris.", window=8)
        assert maps.completion is None and len(maps.token_ids) == 8 and maps.pieces
        assert [layer.shape for layer in maps.layers] == [(3, 8, 8)] * 4
    finally:
        backend.unload()


def test_backends_without_attention_refuse_in_one_line() -> None:
    from assistant.backends.fake import FakeBackend

    backend = FakeBackend()
    backend.load("m")
    assert not backend.capabilities.attention
    with pytest.raises(NotSupportedError, match="-b transformers"):
        backend.attention(PROMPT, PARAMS)


def test_negative_layers_count_from_the_last() -> None:
    assert att.resolve_layer(-1, layers=30, heads=9) == 29
    assert att.resolve_layer(None, layers=30, heads=9) is None
    with pytest.raises(BackendError, match="layer -31 does not exist"):
        att.resolve_layer(-31, layers=30, heads=9)
    with pytest.raises(BackendError, match="head 9 does not exist"):
        att.resolve_layer(0, layers=30, heads=9, head=9)


def test_selection_errors_name_the_range(fake: FakeAttentionBackend) -> None:
    maps = fake.attention(PROMPT, PARAMS)
    with pytest.raises(BackendError, match="layers 0 to 3"):
        att.select_map(maps, 4, None)
    with pytest.raises(BackendError, match="heads 0 to 2"):
        att.select_map(maps, 0, 3)
    mean = att.select_map(maps, 1, None)
    assert np.allclose(mean, maps.layers[1].mean(axis=0))
    assert np.allclose(
        att.combined_map(maps, None, None), np.mean([m.mean(axis=0) for m in maps.layers], axis=0)
    )


# ---- labels and the terminal heatmap ----------------------------------------------------------------


@given(st.text(max_size=40), st.integers(min_value=1, max_value=20))
def test_token_labels_are_short_and_safe(text: str, width: int) -> None:
    maps = AttentionMaps(token_ids=[1], tokens=[text], prompt_tokens=1, layers=[])
    (label,) = att.token_labels(maps, width)
    assert 1 <= len(label) <= max(width, 1)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in label)
    assert " " not in label  # spaces are visible


def test_heatmap_text_is_causal_and_marks_the_reply(fake: FakeAttentionBackend) -> None:
    maps = fake.attention(PROMPT, PARAMS, window=12)
    view = att.heatmap_view(maps, att.select_map(maps, 0, None), label_width=8)
    lines = att.heatmap_text(view, colour=False).plain.split("\n")
    assert len(lines) == 1 + 12  # header + one row per token
    rows = lines[1:]
    margin = len(rows[0]) - 12
    for index, row in enumerate(rows):
        cells = row[margin:]
        assert cells[: index + 1].strip(" ") == cells[: index + 1]  # every allowed cell has a glyph
        assert cells[index + 1 :].strip() == ""  # the future is blank
    reply_rows = [row for row in rows if "▸" in row]
    assert len(reply_rows) == len(maps.completion.token_ids)  # type: ignore[union-attr]
    assert "\x1b" not in "\n".join(lines)
    narrow = att.tail_view(view, 5)
    assert len(att.heatmap_text(narrow, colour=False).plain.split("\n")) == 6


def test_shades_follow_the_probability_scales_glyphs() -> None:
    assert att.shade_glyph(0.001) == "·"
    assert [att.shade_glyph(w) for w in (0.05, 0.3, 0.7, 0.95)] == ["░", "▒", "▓", "█"]
    assert att.shade_rgb(0.0) == att.COLOUR_ANCHORS[0] and att.shade_rgb(1.0) == att.COLOUR_ANCHORS[-1]
    assert att.shade_level(0.25) == pytest.approx(0.5)


def test_json_gives_tokens_and_weights(fake: FakeAttentionBackend) -> None:
    maps = fake.attention(PROMPT, PARAMS, window=8)
    one = att.maps_to_json(maps, 2, 1)
    assert one["window_start"] == maps.window_start and len(one["tokens"]) == 8
    assert one["maps"][0]["layer"] == 2 and one["maps"][0]["head"] == 1
    assert np.allclose(one["maps"][0]["weights"], maps.layers[2][1], atol=1e-6)
    every = att.maps_to_json(maps, None, None)
    assert [m["layer"] for m in every["maps"]] == [0, 1, 2, 3] and every["maps"][0]["head"] == "mean"
    json.dumps(every)


# ---- pictures -------------------------------------------------------------------------------------------


def _hostile_maps() -> AttentionMaps:
    backend = FakeAttentionBackend(reply="$x^2$ <script>alert(1)</script> \x1b[31m")
    backend.load("m")
    return backend.attention(PROMPT, PARAMS, window=40)


@pytest.mark.parametrize("layer", [1, None])
def test_pictures_are_valid_files_of_the_asked_kind(tmp_path: Path, layer: int | None) -> None:
    maps = _hostile_maps()
    png, svg, page = tmp_path / "a.png", tmp_path / "a.svg", tmp_path / "a.html"
    for path in (png, svg, page):
        save_attention_picture(maps, path, layer, None, "m <b>")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    root = ElementTree.parse(svg).getroot()
    assert root.tag.endswith("svg")
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "<?xml" not in html
    assert "m &lt;b&gt;" in html and "<b>" not in html.split("<svg", 1)[0]
    assert "<script>" not in html
    body = html[html.index("<svg") : html.index("</svg>") + 6]
    ElementTree.fromstring(body)  # the embedded SVG is well-formed XML


def test_a_picture_needs_a_known_suffix(tmp_path: Path) -> None:
    from assistant.errors import AssistantError

    with pytest.raises(AssistantError, match=r"\.png, \.svg, \.html"):
        save_attention_picture(_hostile_maps(), tmp_path / "a.jpg", 0, None)
    assert not (tmp_path / "a.jpg").exists()


# ---- the command -------------------------------------------------------------------------------------

FAKE = ("-b", "fake-attention", "-m", "fake-model")


@pytest.mark.usefixtures("fake_backend_plugin_file")
def test_cli_json_and_picture(tmp_path: Path) -> None:
    out = tmp_path / "map.png"
    proc = run_cli(
        "attention", *FAKE, "--layer", "2", "--head", "1", "--window", "16", "--json", "--out", str(out), "hi"
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["backend"] == "fake-attention" and data["text"] == "Echo: hi"
    assert len(data["tokens"]) == 16 and data["maps"][0]["layer"] == 2 and data["maps"][0]["head"] == 1
    assert out.read_bytes()[:4] == b"\x89PNG" and f"wrote {out}" in proc.stderr


@pytest.mark.usefixtures("fake_backend_plugin_file")
def test_cli_prints_a_heatmap_with_a_legend() -> None:
    proc = run_cli("attention", *FAKE, "--window", "20", "hi")
    assert proc.returncode == 0, proc.stderr
    assert "fake-model · layer 3 · head mean" in proc.stdout  # default: the last layer
    assert "reply: Echo: hi" in proc.stdout and "shade = attention weight" in proc.stdout
    assert "\x1b" not in proc.stdout  # piped: glyphs, no colour


@pytest.mark.usefixtures("fake_backend_plugin_file")
@pytest.mark.parametrize(
    "args, message",
    [
        (("--layer", "x"), "--layer takes a layer number or 'all'"),
        (("--layer", "9"), "layer 9 does not exist"),
        (("--layer", "-5"), "layer -5 does not exist"),
        (("--head", "7"), "head 7 does not exist"),
        (("--out", "map.jpg"), "must end in .png, .svg, .html"),
        (("--max-memory", "1"), "would need about"),
        (("--window", "-3"), "--window must be 0"),
        (("-b", "fake"), "cannot return attention weights"),
    ],
)
def test_cli_errors_are_one_line(args: tuple[str, ...], message: str) -> None:
    proc = run_cli("attention", *FAKE, *args, "x" * 400)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ") and message in proc.stderr
    assert "Traceback" not in proc.stderr


# ---- a real model --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2_transformers(smollm2_path: Path) -> Iterator[Any]:
    pytest.importorskip("torch")
    from assistant.backends import load_backend

    backend = load_backend("transformers", str(smollm2_path), n_ctx=512, progress=lambda _: None)
    yield backend
    backend.unload()


@pytest.mark.model
def test_real_rows_are_distributions_and_causal(smollm2_transformers: Any) -> None:
    backend = smollm2_transformers
    maps = backend.attention(PROMPT, GenerationParams(temperature=0, max_tokens=6))
    config = backend._model.config
    n = len(maps.token_ids)
    assert len(maps.layers) == config.num_hidden_layers
    for layer in maps.layers:
        assert layer.shape == (config.num_attention_heads, n, n)
    _assert_distributions(maps)
    assert "<|im_start|>" in maps.tokens  # control tokens labelled by name
    # The same reply given (ids, then text) gives the same numbers without generating again,
    # and a window is exactly the corner of the full maps.
    reply_ids = maps.completion.token_ids
    again = backend.attention(PROMPT, GenerationParams(), reply=reply_ids, window=5)
    assert again.completion is None and again.token_ids == maps.token_ids[-5:]
    for kept, whole in zip(again.layers, maps.layers):
        assert np.allclose(kept, whole[:, -5:, -5:], atol=1e-5)
    as_text = backend.attention(PROMPT, GenerationParams(), reply=maps.completion.text)
    assert as_text.prompt_tokens == maps.prompt_tokens
    _assert_distributions(as_text)
    assert backend._model.config._attn_implementation == "sdpa"


@pytest.mark.model
def test_real_cancel_stops_between_layers(smollm2_transformers: Any) -> None:
    backend = smollm2_transformers
    backend.cancel()
    calls = []
    original = backend.attention_weights

    def cancel_then_run(ids: list[int], start: int) -> list[object]:
        calls.append(len(ids))
        backend.cancel()
        return original(ids, start)

    backend.attention_weights = cancel_then_run
    try:
        with pytest.raises(BackendError, match="cancelled"):
            backend.attention(PROMPT, GenerationParams(), reply=" Paris.")
    finally:
        del backend.attention_weights
    assert calls
    assert backend.attention(PROMPT, GenerationParams(), reply=" Paris.").layers


@pytest.mark.model
def test_real_cli_writes_an_svg_and_the_numbers(tmp_path: Path, smollm2_path: Path) -> None:
    out = tmp_path / "map.svg"
    proc = run_cli(
        "attention",
        "-m",
        str(smollm2_path),
        "--max-new-tokens",
        "4",
        "--layer",
        "all",
        "--json",
        "--out",
        str(out),
        "What is the capital of France?",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["backend"] == "transformers" and len(data["maps"]) == data["layers"] == 30
    n = data["total_tokens"]
    assert len(data["tokens"]) == n and n < att.DEFAULT_WINDOW  # a short exchange: the window holds it all
    for drawn in data["maps"]:
        assert np.allclose(
            np.sum(drawn["weights"], axis=1), 1.0, atol=1e-4
        )  # head means are distributions too
    assert ElementTree.parse(out).getroot().tag.endswith("svg")
