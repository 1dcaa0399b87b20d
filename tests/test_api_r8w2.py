"""Round 8 (second wave), the public Python API: each test failed before its fix."""

from __future__ import annotations

import fractions
from pathlib import Path

import pytest

from assistant import ChatSession, GenerationParams, Message, load_backend
from assistant.backends.fake import FakeBackend
from assistant.errors import BackendError, ConfigError


def _fake(reply: str = "Hello there.") -> FakeBackend:
    backend = FakeBackend(reply=reply)
    backend.load("fake-model")
    return backend


# ---- GenerationParams ---------------------------------------------------------------------------


def test_numpy_and_fraction_numbers_are_numbers() -> None:
    """`GenerationParams(temperature=np.float32(0.5))` said "temperature must be a number, not np.float32(0.5)",
    and `max_tokens=np.int64(5)` (a DataFrame's column) "needs a whole number"."""
    np = pytest.importorskip("numpy")
    params = GenerationParams(temperature=np.float32(0.5), top_p=fractions.Fraction(1, 2), max_tokens=np.int64(5),
                              top_k=np.int32(3), seed=np.uint32(7))
    assert (params.temperature, params.top_p, params.max_tokens, params.top_k, params.seed) == (0.5, 0.5, 5, 3, 7)
    assert {type(params.temperature), type(params.top_p)} == {float}
    assert {type(params.max_tokens), type(params.top_k), type(params.seed)} == {int}
    with pytest.raises(ConfigError, match="max_tokens needs a whole number"):
        GenerationParams(max_tokens=np.float64(2.5))
    assert GenerationParams(max_tokens=np.float32(8.0)).max_tokens == 8


def test_a_number_too_large_for_a_float_is_a_config_error() -> None:
    """`GenerationParams(temperature=10**400)` was an OverflowError from math.isfinite."""
    with pytest.raises(ConfigError, match="temperature must be a finite number, not one too large for a float"):
        GenerationParams(temperature=10**400)


# ---- Message.from_dict --------------------------------------------------------------------------


@pytest.mark.parametrize("content", [None, 5, [{"type": "text", "text": "hi"}]])
def test_message_from_dict_refuses_content_that_is_not_text(content: object) -> None:
    """`Message.from_dict({"role": "user", "content": None})` was the message "None", and an OpenAI
    content list its Python repr: sent to the model as the user's words."""
    with pytest.raises(ConfigError, match="message content must be text"):
        Message.from_dict({"role": "user", "content": content})
    assert Message.from_dict({"role": "user"}) == Message("user", "")


@pytest.mark.parametrize("data", [None, "user: hi", [("role", "user")]])
def test_message_from_dict_names_data_that_is_not_a_dict(data: object) -> None:
    """It was AttributeError "'NoneType' object has no attribute 'get'"."""
    with pytest.raises(TypeError, match="Message.from_dict needs a dict with role and content"):
        Message.from_dict(data)  # type: ignore[arg-type]


# ---- ChatSession ----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", [5, 2.5, {"name": "llama-cpp"}, ["llama-cpp"]])
def test_chat_session_refuses_a_number_or_a_dict_for_a_backend(backend: object) -> None:
    """`ChatSession(5)` was taken and failed at the first send, blamed on "the backend"."""
    with pytest.raises(ConfigError, match="ChatSession needs a loaded backend"):
        ChatSession(backend)  # type: ignore[arg-type]


def test_chat_session_refuses_a_recorder_that_is_not_one() -> None:
    """`recorder="x"` was taken; send then failed with "'str' object has no attribute 'start'"."""
    with pytest.raises(ConfigError, match="recorder must be a ConversationRecorder .* not 'x'"):
        ChatSession(_fake(), recorder="x")  # type: ignore[arg-type]


def test_params_changed_after_the_session_was_made_are_checked_at_send() -> None:
    """`session.params.temperature = -5` skipped every check: the engine was asked to sample at -5."""
    backend = _fake()
    session = ChatSession(backend, params={"max_tokens": 4})
    session.params.temperature = -5
    with pytest.raises(ConfigError, match="temperature must be >= 0"):
        list(session.send("Hi"))
    assert session.messages == [] and backend.calls == []
    session.params.temperature = 0
    assert "".join(chunk.text for chunk in session.send("Hi"))  # the session still works


def test_a_reply_cut_short_by_its_reader_counts_its_tokens() -> None:
    """A stream closed after its first chunk left `last.usage` at 0 prompt and 0 reply tokens,
    next to a reply text of several characters."""
    session = ChatSession(_fake("Hello there."), params={"max_tokens": 20, "temperature": 0})
    stream = session.send("Hi")
    first = [next(stream), next(stream), next(stream)]
    stream.close()
    assert session.last is not None and session.last.finish_reason == "cancelled"
    assert session.last.text == "".join(chunk.text for chunk in first)
    assert session.last.usage.completion_tokens == sum(len(chunk.token_ids) for chunk in first) > 0
    assert session.last_fit is not None
    assert session.last.usage.prompt_tokens == session.last_fit.prompt_tokens > 0


def test_a_message_with_a_lone_surrogate_is_refused_in_its_own_positions() -> None:
    """It was "the prompt the model chat template rendered is not valid Unicode (… at character 408)":
    a position in a text the user never wrote."""
    session = ChatSession(_fake(), system="Be brief.")
    with pytest.raises(ConfigError, match=r"the message is not valid Unicode \(lone surrogate U\+D800 at character 4\)"):
        list(session.send("abc\ud800"))
    assert session.messages == []
    with pytest.raises(ConfigError, match=r"system prompt is not valid Unicode \(byte 0xe9 at character 4\)"):
        ChatSession(_fake(), system="caf\udce9")


# ---- load_backend -------------------------------------------------------------------------------


@pytest.mark.usefixtures("fake_backend")
@pytest.mark.parametrize("name", [None, 5, b"fake"])
def test_load_backend_names_a_backend_name_that_is_not_text(name: object) -> None:
    """`load_backend(None, "smollm2")` said "unknown backend None", as if it were a name."""
    with pytest.raises(TypeError, match="a backend's name must be a str"):
        load_backend(name, "fake-model")  # type: ignore[arg-type]


@pytest.mark.usefixtures("fake_backend")
@pytest.mark.parametrize("model", [None, 5, b"smollm2"])
def test_load_backend_names_a_model_that_is_not_text(model: object) -> None:
    """`load_backend("llama-cpp", None)` was "the llama-cpp backend failed to load None: AttributeError:
    'NoneType' object has no attribute 'strip'"."""
    with pytest.raises(TypeError, match="load_backend's model must be a str"):
        load_backend("fake", model)  # type: ignore[arg-type]


@pytest.mark.usefixtures("fake_backend")
def test_load_backend_takes_a_path_object(tmp_path: Path) -> None:
    """A `pathlib.Path` to a model failed as "'PosixPath' object has no attribute 'strip'"."""
    backend = load_backend("fake", tmp_path / "model.gguf")
    assert backend.model_name == str(tmp_path / "model.gguf")


@pytest.mark.usefixtures("fake_backend")
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_ctx": "abc"}, "n_ctx in load_backend\\(\\) must be a whole number, not 'abc'"),
        ({"n_ctx": 2.5}, "n_ctx in load_backend\\(\\) must be a whole number, not 2.5"),
        ({"n_ctx": float("nan")}, "n_ctx in load_backend\\(\\) must be a whole number, not nan"),
        ({"n_threads": 10**6}, "n_threads in load_backend\\(\\) must be at most 512"),
    ],
)
def test_load_backend_checks_its_options_as_o_and_the_config_do(options: dict, message: str) -> None:
    """`load_backend("llama-cpp", "smollm2", n_ctx="abc")` was "failed to load smollm2: ValueError: invalid
    literal for int()", `n_ctx=2.5` loaded a 2-token window, and `n_threads=10**6` (past what llama.cpp
    survives: it aborts the process) was taken."""
    with pytest.raises(ConfigError, match=message):
        load_backend("fake", "fake-model", **options)


@pytest.mark.usefixtures("fake_backend")
def test_load_backend_names_a_progress_that_cannot_be_called() -> None:
    with pytest.raises(TypeError, match="progress must be a function of one message"):
        load_backend("fake", "fake-model", progress="loud")


def test_a_sampling_parameter_given_to_load_is_not_told_to_mean_itself() -> None:
    """`load_backend("llama-cpp", "smollm2", temperature=0)` said "(did you mean temperature?)"."""
    from assistant.option_values import unknown_options_error

    error = unknown_options_error("llama-cpp", ["temperature"], ["n_ctx", "n_threads"])
    assert isinstance(error, BackendError)
    assert "did you mean" not in str(error)
    assert "temperature: a sampling parameter" in str(error) and "not when loading" in str(error)
    assert "did you mean n_ctx?" in str(unknown_options_error("llama-cpp", ["n_ctxx"], ["n_ctx"]))


def test_a_stop_sequence_that_is_not_valid_unicode_is_refused() -> None:
    """`GenerationParams(stop=["\\ud800"])` was taken (a stop no reply can ever contain); `-o` refused it."""
    with pytest.raises(ConfigError, match=r"stop sequence 2 is not valid Unicode \(lone surrogate U\+D800 at character 2\)"):
        GenerationParams(stop=["ok", "a\ud800"])


def test_fields_set_between_sends_are_checked_before_anything_is_sent() -> None:
    """docs/history.md sets `session.recorder = ConversationRecorder(store)` after construction: a wrong
    recorder set so failed mid-send with "'str' object has no attribute 'start'"."""
    backend = _fake()
    session = ChatSession(backend)
    for name, value, message in [
        ("recorder", "history.db", "recorder must be a ConversationRecorder"),
        ("backend", "llama-cpp", "ChatSession needs a loaded backend"),
        ("messages", [{"role": "user", "content": "Hi"}], "messages must be a list of Message"),
    ]:
        fresh = ChatSession(backend)
        setattr(fresh, name, value)
        with pytest.raises(ConfigError, match=message):
            list(fresh.send("Hi"))
    assert backend.calls == [] and session.messages == []
