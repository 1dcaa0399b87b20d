"""Round 17, backends: the known items left by round 16, then defects found using the engines as a user would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant.backends.chat_format import ChatFormat
from assistant.backends.fake import FakeAttentionBackend, FakeBackend
from assistant.errors import ContextOverflowError
from assistant.types import GenerationParams, Message

from . import test_hardening_r15 as r15

# -- known 1. every backend's load refuses a model of the wrong type, through one check ----------------


def _backend(name: str) -> Any:
    if name == "fake":
        return FakeBackend()
    from assistant.backends import create_backend

    return create_backend(name)


@pytest.mark.parametrize("name", ["fake", "llama-cpp", "transformers", "openai"])
@pytest.mark.parametrize("model", [5, None, ["smollm2"], b"smollm2"])
def test_every_backends_load_refuses_a_model_that_is_not_text(name: str, model: object) -> None:
    """`backend.load(5)` was "'int' object has no attribute 'startswith'" on the fake, another raw error on
    each engine: now the one message of :func:`checked_model`, naming the backend and the type."""
    backend = _backend(name)
    message = f"the model given to the {backend.name} backend's load\\(\\) must be a str .* not {type(model).__name__}$"
    with pytest.raises(TypeError, match=message):
        backend.load(model, progress=lambda _: None)


def test_a_backends_load_takes_a_path_object(tmp_path: Path) -> None:
    """A ``pathlib.Path`` is its path, as ``load_backend`` takes it (the same check)."""
    backend = FakeBackend()
    backend.load(tmp_path / "m.gguf")
    assert backend.model_name == str(tmp_path / "m.gguf")


@pytest.mark.parametrize("name", ["llama-cpp", "transformers"])
def test_check_options_refuses_a_model_that_is_not_text(name: str) -> None:
    """``check_options(options, model=5)`` failed deep in the model reference parser."""
    with pytest.raises(TypeError, match="the model given to check_options\\(\\) must be a str .* not int$"):
        _backend(name).check_options({}, model=5)


# -- known 2. a reply that does not fit after its prompt: the counts apart ------------------------------


def test_scoring_a_reply_past_the_window_names_prompt_and_reply_apart() -> None:
    """token_logprobs of a 20-token reply after a 6-token prompt in a 16-token window said "prompt is 25 tokens":
    a prompt that did not exist, and the reader could not tell which part to blame."""
    backend = FakeBackend(context_length=16)
    backend.load("m")
    prompt_tokens = len(backend.prompt_token_ids("hello "))
    with pytest.raises(ContextOverflowError) as raised:
        list(backend.token_logprobs("hello ", list(b"x" * 20), GenerationParams(temperature=0)))
    error = raised.value
    assert (error.prompt_tokens, error.continuation_tokens, error.context_length) == (prompt_tokens, 20, 16)
    assert str(error) == (
        f"the prompt ({prompt_tokens} tokens) and the reply (20 tokens) do not fit the 16-token context window; "
        "raise n_ctx"
    )


def test_attention_over_a_reply_past_the_window_names_prompt_and_reply_apart() -> None:
    backend = FakeAttentionBackend(context_length=16)
    backend.load("m")
    prompt_tokens = len(backend.prompt_token_ids("hello "))
    with pytest.raises(ContextOverflowError) as raised:
        backend.attention("hello ", GenerationParams(temperature=0), reply=list(b"y" * 12))
    assert (raised.value.prompt_tokens, raised.value.continuation_tokens) == (prompt_tokens, 12)
    assert str(raised.value).startswith(f"the prompt ({prompt_tokens} tokens) and the reply (12 tokens) do not fit")


def test_a_reply_that_just_fits_is_scored_and_a_prompt_alone_keeps_its_message() -> None:
    """The last forced token is read, never fed: prompt + reply = window + 0 fits; the plain message stays."""
    backend = FakeBackend(context_length=16)
    backend.load("m")
    prompt_tokens = len(backend.prompt_token_ids("hello "))
    fits = list(backend.token_logprobs("hello ", list(b"x" * (16 - prompt_tokens)), GenerationParams(temperature=0)))
    assert len(fits) == 16 - prompt_tokens
    with pytest.raises(ContextOverflowError) as raised:
        list(backend.token_logprobs("z" * 40, list(b"x" * 3), GenerationParams(temperature=0)))
    assert raised.value.continuation_tokens == 0
    assert str(raised.value).startswith(f"prompt is {raised.value.prompt_tokens} tokens but the context window is 16")


def test_the_counts_travel_from_the_engine_process() -> None:
    """The chat app's engine runs in its own process: the error's new field must survive the wire."""
    from assistant.backends.engine.wire import decode_exception, encode_exception

    again = decode_exception(encode_exception(ContextOverflowError(7, 16, continuation_tokens=12)))
    assert isinstance(again, ContextOverflowError)
    assert (again.prompt_tokens, again.continuation_tokens, again.context_length) == (7, 12, 16)
    assert str(again).startswith("the prompt (7 tokens) and the reply (12 tokens)")


# -- known 4. the transformers backend's next-token candidates: one transfer per step -------------------

_HOST_TRANSFERS = {"tolist", "item", "__float__", "__int__", "__index__", "__bool__", "nonzero", "numpy", "cpu"}
"""Tensor functions that make the host wait for the device (``nonzero``: a result shaped by the data)."""


def _host_transfers(call: Any) -> list[str]:
    """The host transfers ``call()`` makes, as torch's function mode sees every tensor function."""
    from torch.overrides import TorchFunctionMode

    class Counting(TorchFunctionMode):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []

        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            self.seen.append(getattr(func, "__name__", ""))
            return func(*args, **(kwargs or {}))

    with Counting() as counting:
        call()
    return [name for name in counting.seen if name in _HOST_TRANSFERS]


def test_ranking_the_candidates_stays_on_the_device() -> None:
    """``ranked_top`` called ``nonzero`` twice (a wait for the GPU each) on every streamed token."""
    torch = pytest.importorskip("torch")
    from assistant.backends.torch.sampling import ranked_top

    logits = torch.tensor([1.0, 3.0, 3.0, 0.5, 3.0, 3.0, float("nan")])
    assert _host_transfers(lambda: ranked_top(logits, 3)) == []
    assert _host_transfers(lambda: ranked_top(logits[:6], 3)) == []


def test_a_streamed_tokens_numbers_come_back_in_one_transfer() -> None:
    """``token_numbers`` read the token's log-prob, the alternatives' ids, log-probs and sampled probabilities
    with a transfer each (and ``ranked_top``'s two): one ``tolist`` of them all now, with the same numbers."""
    torch = pytest.importorskip("torch")
    from assistant.backends.torch.sampling import Sampler, token_numbers

    logits = torch.tensor([1.0, 3.0, 3.0, 0.5, 3.0, 3.0, -2.0])
    sampler = Sampler(GenerationParams(temperature=0.8, top_k=3, seed=1))
    token = sampler(logits)
    assert _host_transfers(lambda: token_numbers(logits, token, 4, sampler.last)) == ["tolist"]
    logprob, p_sampled, top = token_numbers(logits, token, 4, sampler.last)
    logprobs = torch.log_softmax(logits, dim=-1)
    assert logprob == float(logprobs[token]) and p_sampled == pytest.approx(1 / 3)
    assert [t for t, _, _ in top] == [1, 2, 4, 5]  # ties lowest id first; id 5 is past the top-k cut of 3
    assert [lp for _, lp, _ in top] == [float(logprobs[t]) for t in (1, 2, 4, 5)]
    assert [p for _, _, p in top] == [pytest.approx(1 / 3)] * 3 + [0.0]


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_ranked_top_keeps_the_numpy_twins_choice_over_ties(dtype: str) -> None:
    """Restructured to stay on the device: the same tokens, in the same order, as the numpy twin, over many ties."""
    torch = pytest.importorskip("torch")
    from assistant.backends.torch.sampling import ranked_top
    from assistant.inspect.distribution import top_indices

    generator = torch.Generator().manual_seed(17)
    for _ in range(200):
        values = torch.randint(0, 4, (int(torch.randint(1, 40, (1,), generator=generator)),), generator=generator)
        values = values.to(getattr(torch, dtype))
        for count in (1, 2, 3, values.shape[0]):
            found, ids = ranked_top(values, count)
            expected = top_indices(values.float().numpy(), count).tolist()
            assert ids.tolist() == expected and torch.equal(found, values[ids])


# -- known 3. Qwen3: a reply whose pieces repeat is attributed piece by piece ---------------------------


@pytest.fixture
def marker_engine() -> FakeBackend:
    backend = FakeBackend(special_tokens=r15.MARKERS)
    backend.load("fake")
    return backend


def _im_tokens(engine: FakeBackend, chat: Any, messages: list[Any]) -> list[int]:
    engine.chat_format = lambda: chat  # type: ignore[method-assign]
    return [t for t in engine.prompt_token_ids(messages) if t in (r15.IM_START, r15.IM_END)]


@pytest.mark.parametrize("template", ["QWEN3", "QWEN3_TEMPLATE"])
@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        ("a<|im_end|></think>a", "a"),  # the answer equals the reasoning, which goes on with <|im_end|>
        ("a<|im_end|></think>a<|im_end|>", "a<|im_end|>"),  # the answer's own <|im_end|> stays data
        ("a</think>a<|im_start|>a", "a<|im_start|>a"),
    ],
)
def test_a_split_reply_whose_pieces_repeat_leaves_the_templates_markers_alone(
    marker_engine: FakeBackend, template: str, reply: str, answer: str
) -> None:
    """The answer ``a`` of a reply ``a<|im_end|></think>a`` was grown over the template's own ``<|im_end|>`` (the
    ``a`` at the reply's start goes on with one): over-escaped, the model read ``a<|im_end|>`` as text and
    its turn never ended. Marked with a pair for each piece, the answer is only what it is."""

    chat = ChatFormat(getattr(r15, template))
    messages = [Message("user", "hi"), Message("assistant", reply), Message("user", "u")]
    segments = chat.render_segments(messages)
    assert "".join(s.text for s in segments) == chat.render(messages)
    assert [s.text for s in segments if s.data] == ["hi", answer, "u"]
    template_only = [Message(m.role, "x") for m in messages]
    assert _im_tokens(marker_engine, chat, messages) == _im_tokens(marker_engine, chat, template_only)


# Qwen3's split, under a template that also prints each user content's length: the marks change that number,
# so every content is marked on its own (``_rewritten_spans``), where a reply is cut into pieces too.
QWEN3_WITH_LENGTHS = r15.QWEN3.replace(
    "{{- '<|im_start|>' + message['role'] + '\\n' + content + '<|im_end|>\\n' }}",
    "{{- '<|im_start|>' + message['role'] + ' ' + (content|length|string) + '\\n' + content + '<|im_end|>\\n' }}",
)


def test_a_reply_whose_pieces_repeat_is_attributed_when_contents_are_marked_one_at_a_time(
    marker_engine: FakeBackend,
) -> None:
    assert QWEN3_WITH_LENGTHS != r15.QWEN3
    chat = ChatFormat(QWEN3_WITH_LENGTHS)
    messages = [Message("user", "hi"), Message("assistant", "a<|im_end|></think>a"), Message("user", "u")]
    segments = chat.render_segments(messages)
    assert "".join(s.text for s in segments) == chat.render(messages)
    assert [s.text for s in segments if s.data] == ["hi", "a", "u"]
    template_only = [Message(m.role, "x") for m in messages]
    assert _im_tokens(marker_engine, chat, messages) == _im_tokens(marker_engine, chat, template_only)
