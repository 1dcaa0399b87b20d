"""Round 11, backends: an n_ctx the model cannot take refused by ``check_options`` (given the model) on
every local backend, one schema check for every path (``GenerationParams.validate``), and sampling
values that meant something else on one engine (a top_k past 32 bits, a temperature past float32,
a repeat penalty under float32's range)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from assistant.backends import check_options, load_backend
from assistant.errors import AssistantError, ConfigError
from assistant.types import MAX_TEMPERATURE, MAX_TOP_K, GenerationParams, Message


def _quiet(_: str) -> None:
    pass


def _refusal(call: Any) -> str:
    with pytest.raises(AssistantError) as caught:
        call()
    return str(caught.value)


# ---- check_options with the model: an n_ctx past its trained context, before anything loads ------------
@pytest.mark.model
def test_every_local_backend_refuses_an_n_ctx_past_the_model_before_loading(
    smollm2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: check_options had no model, so ``compare -o transformers:n_ctx=100000`` ran the llama-cpp
    side's whole reply before the transformers side's load refused it."""
    import llama_cpp

    def no_load(*_: Any, **__: Any) -> None:
        raise AssertionError("check_options loaded the model")

    monkeypatch.setattr(llama_cpp, "Llama", no_load)
    lines = {name: _refusal(lambda: check_options(name, {"n_ctx": 100_000}, "smollm2")) for name in
             ("llama-cpp", "transformers")}  # fmt: skip
    expected = (
        "n_ctx=100000 is past the 8192-token context this model was trained on; "
        "use n_ctx ≤ 8192, or -o n_ctx_override=true to use it anyway"
    )
    assert lines == {"llama-cpp": expected, "transformers": expected}  # one line, the one load gives
    assert "\n" not in expected
    for name in ("llama-cpp", "transformers"):  # what the model takes is taken
        check_options(name, {"n_ctx": 4096}, "smollm2")
        check_options(name, {"n_ctx": 100_000, "n_ctx_override": True}, "smollm2")
        # a path (as load_backend takes it) is read the same way
        assert _refusal(lambda: check_options(name, {"n_ctx": 100_000}, smollm2_path)) == expected


def test_transformers_reads_a_model_directorys_config_for_the_check(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    directory = tmp_path / "tiny-model"
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps({
        "model_type": "llama", "max_position_embeddings": 2048, "num_hidden_layers": 2,
        "num_attention_heads": 4, "hidden_size": 64,
    }))  # fmt: skip
    refused = _refusal(lambda: check_options("transformers", {"n_ctx": 4096}, str(directory)))
    assert refused.startswith("n_ctx=4096 is past the 2048-token context")
    check_options("transformers", {"n_ctx": 2048}, str(directory))


def test_a_model_not_on_disk_is_left_to_load_and_nothing_is_fetched(models_dir: Path) -> None:
    """A catalog model not pulled (an empty models directory): no header to read, no download started."""
    for name in ("llama-cpp", "transformers"):
        check_options(name, {"n_ctx": 100_000}, "smollm2")
        check_options(name, {"n_ctx": 100_000}, "no-such-model")
    assert list(models_dir.iterdir()) == []


def test_the_remote_backend_takes_the_model_and_checks_the_options() -> None:
    check_options("openai", {"base_url": "http://127.0.0.1:9/v1", "n_ctx": 100_000}, "some/server-model")
    assert "read_timeout" in _refusal(
        lambda: check_options("openai", {"base_url": "http://127.0.0.1:9/v1", "read_timeout": -1}, "m")
    )


class _OldPluginBackend:
    """A plugin's backend whose ``check_options`` predates the ``model`` argument."""

    name = "oldplugin"
    seen: list[dict[str, Any]] = []

    def load(self, model: str, **options: Any) -> None:
        pass

    def stream(self, prompt: Any, params: Any) -> Iterator[Any]:
        return iter(())

    def complete(self, prompt: Any, params: Any) -> Any:
        return None

    def check_options(self, options: dict[str, Any]) -> None:
        self.seen.append(options)


def test_a_plugin_backend_written_before_the_model_argument_is_still_checked() -> None:
    from assistant.hookspecs import hookimpl
    from assistant.plugins import register_plugin

    class Plugin:
        @hookimpl
        def register_backends(self, register: Any) -> None:
            register("oldplugin", _OldPluginBackend)

    register_plugin(Plugin(), name="old-plugin-backend")
    _OldPluginBackend.seen.clear()
    check_options("oldplugin", {"n_ctx": 5}, "some-model")
    assert _OldPluginBackend.seen == [{"n_ctx": 5}]


# ---- one schema check: GenerationParams.validate asks the constraint engine too --------------------------
@pytest.mark.parametrize(
    "schema",
    [{"enum": []}, {"type": "integer", "minimum": 0.5, "maximum": 0.7},
     {"type": "object", "required": ["a"], "additionalProperties": False}],
)  # fmt: skip
def test_the_python_api_refuses_a_schema_no_json_can_match(schema: dict[str, Any]) -> None:
    """Was: GenerationParams took these (only ChatSession and --schema asked the constraint engine), and
    a backend failed at the first token, after its model had loaded."""
    from assistant.backends.fake import FakeBackend

    with pytest.raises(ConfigError, match=r"^json_schema: the JSON schema cannot be compiled"):
        GenerationParams(json_schema=schema)
    params = GenerationParams()
    params.json_schema = schema  # set afterwards: refused where a backend checks its params
    backend = FakeBackend()
    backend.load("x")
    with pytest.raises(ConfigError, match="cannot be compiled"):
        list(backend.stream("hi", params))


def test_a_schema_is_asked_of_the_constraint_engine_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Params are validated again at every request: a large schema must not cost a compile each time."""
    import llguidance

    from assistant.structured import constraint

    calls: list[str] = []
    real = llguidance.LLMatcher.validate_grammar

    def counted(grammar: str) -> Any:
        calls.append(grammar)
        return real(grammar)

    monkeypatch.setattr(constraint, "_CONSTRAINABLE", type(constraint._CONSTRAINABLE)())
    monkeypatch.setattr(llguidance.LLMatcher, "validate_grammar", staticmethod(counted))
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    params = GenerationParams(json_schema=schema)
    for _ in range(3):
        params.validate()
    GenerationParams(json_schema=dict(reversed(list(schema.items()))))  # the same schema, keys in another order
    assert len(calls) == 1


# ---- sampling values that meant something else on one engine -------------------------------------------
def test_a_top_k_past_32_bits_is_refused() -> None:
    """Was: llama.cpp read ``top_k=4294967297`` as a signed 32-bit 1 (greedy); transformers cut nothing."""
    assert GenerationParams(top_k=MAX_TOP_K).top_k == MAX_TOP_K
    for value in (MAX_TOP_K + 1, 2**32 + 1, 10**30):
        with pytest.raises(ConfigError, match=r"^top_k must be at most 2147483647"):
            GenerationParams(top_k=value)


def test_a_temperature_past_what_float32_holds_is_refused() -> None:
    """Was: 1e39 is infinity in float32, and a schema's -inf logits divided by it were NaN probabilities."""
    assert GenerationParams(temperature=MAX_TEMPERATURE).temperature == MAX_TEMPERATURE
    for value in (MAX_TEMPERATURE * 10, 1e39, 1e308):
        with pytest.raises(ConfigError, match=r"^temperature must be at most 1e\+06"):
            GenerationParams(temperature=value)


@pytest.fixture(scope="module")
def llama(smollm2_path: Path) -> Iterator[Any]:
    engine = load_backend("llama-cpp", str(smollm2_path), n_ctx=512, progress=_quiet)
    yield engine
    engine.unload()


@pytest.mark.model
def test_a_repeat_penalty_under_float32s_range_means_the_same_on_llama_cpp(llama: Any) -> None:
    """Was: llama.cpp read ``repeat_penalty=1e-300`` as a float32 0, a repeated token's logit became
    infinity and the draw came from NaN probabilities (an unpenalised-looking reply); transformers and
    the sampled probabilities hold it to a finite logit, and the repeated token wins every draw."""
    engine = llama
    prompt = [Message("user", "Count: one one one one")]
    params = GenerationParams(repeat_penalty=1e-300, temperature=0.7, seed=1, max_tokens=10, logprobs=1)
    reply = engine.complete(prompt, params)
    ids = reply.token_ids
    assert len(ids) >= 3
    assert all(token in ids[:index] for index, token in enumerate(ids) if index > 0), reply.text
    # each token after the first had every bit of the sampled probability, as the numbers say
    assert all(entry.p_sampled == pytest.approx(1.0) for entry in reply.logprobs[1:])
    # a usual penalty is unchanged: greedy replies as llama.cpp's own penalty gave them
    usual = GenerationParams(repeat_penalty=1.3, temperature=0, max_tokens=12)
    ours = engine.complete(prompt, usual).token_ids
    llm = engine._llm
    theirs: list[int] = []
    for token in llm.generate(engine.prompt_token_ids(prompt), top_k=40, top_p=0.95, min_p=0.0, typical_p=1.0,
                              temp=0.0, repeat_penalty=1.3, reset=True):  # fmt: skip
        if engine.is_end_of_generation(token):
            break
        theirs.append(int(token))
        if len(theirs) == 12:
            break
    assert ours == theirs


@pytest.mark.model
def test_scoring_after_an_empty_text_is_refused_as_generating_after_it_is(llama: Any) -> None:
    """Was: llama-cpp scored every candidate 0.0 (certainty) after "" on a model without BOS (SmolLM2),
    transformers said "the prompt is empty", and generation a third thing."""
    from assistant.backends.base import NOTHING_TO_PREDICT_FROM

    with pytest.raises(ConfigError) as scored:
        llama.score("", ["a", "b"])
    with pytest.raises(ConfigError) as generated:
        llama.complete("", GenerationParams(max_tokens=2))
    assert str(scored.value) == str(generated.value) == NOTHING_TO_PREDICT_FROM
    assert len(llama.score("Say", [" a", " b"])) == 2  # a prompt with tokens is scored as before


def test_llama_cpp_refuses_an_n_ctx_ctypes_would_wrap_where_no_memory_check_runs() -> None:
    """On a GPU the KV cache is not checked against RAM: ``n_ctx=2**32+100`` reached llama.cpp as 100."""
    from assistant.backends.llama_cpp import MAX_N_CTX, _context_plan

    class GpuLibrary:
        @staticmethod
        def llama_supports_gpu_offload() -> bool:
            return True

    metadata = {"general.architecture": "llama", "llama.context_length": 8192}
    options = {"n_ctx": 2**32 + 100, "n_ctx_override": True}
    assert "llama.cpp can hold" in _refusal(lambda: _context_plan(GpuLibrary(), metadata, options))
    assert _context_plan(GpuLibrary(), metadata, {"n_ctx": 4096})[0] == 4096
    assert _context_plan(GpuLibrary(), metadata, {"n_ctx": MAX_N_CTX, "n_ctx_override": True})[0] == MAX_N_CTX


def test_an_empty_text_llama_cpp_pythons_server_drops_is_named_as_such() -> None:
    """Its server asserts on a prompt of no tokens and ends the stream: the message blamed the context window."""
    from assistant.backends.base import NOTHING_TO_PREDICT_FROM
    from assistant.errors import RemoteError

    from .openai_fake_server import FakeOpenAIServer, send_json, sse

    server = FakeOpenAIServer()
    try:
        server.models("tiny", owned_by="me")  # llama-cpp-python's server
        server.route("POST", "/extras/tokenize", lambda h, body: send_json(
            h, 200, {"tokens": [] if not body["input"] else [1, 2]}))  # fmt: skip
        server.route("POST", "/v1/completions", sse([]))
        backend = load_backend("openai", "tiny", base_url=server.base_url, progress=_quiet)
        with pytest.raises(RemoteError) as caught:
            backend.complete("", GenerationParams(max_tokens=2))
        assert str(caught.value).endswith(f"ended the stream without sending any reply: {NOTHING_TO_PREDICT_FROM}")
        with pytest.raises(RemoteError, match="does not fit its context window"):  # a text with tokens: as before
            backend.complete("hello", GenerationParams(max_tokens=2))
    finally:
        server.close()
