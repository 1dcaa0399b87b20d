"""Round 19, the Python API: schemas built in Python, what a send leaves in ``last`` and in the history."""

from __future__ import annotations

import math
from typing import Any

import pytest

from assistant.backends import load_backend
from assistant.errors import BackendError, ConfigError
from assistant.session import ChatSession
from assistant.types import GenerationParams


def _nested(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("schema", "said"),
    [
        # a decoder held to enum [nan] wrote ``NaN``: no JSON document at all
        ({"enum": [math.nan]}, r"schema\.enum\[0\] is nan, which is no JSON number"),
        ({"type": "array", "items": {"enum": [[1, math.inf]]}}, r"schema\.items\.enum\[0\]\[1\] is inf"),
        # written as JSON these became other values ([..], {"1": ..}), so a reply matching them failed validation
        ({"enum": [("a", "b")]}, r"schema\.enum\[0\] is a tuple, not a JSON value"),
        ({"enum": [{1: "a"}]}, r"schema\.enum\[0\]: the key 1 is not text"),
        ({"type": "object", "properties": {1: {"type": "string"}}}, r"schema\.properties: the key 1 is not text"),
        # a lone surrogate in a property name reached the constraint engine (in an enum it was refused there)
        ({"type": "object", "properties": {"\ud800": {"type": "string"}}}, r"schema\.properties: a key is not valid"),
        ({"type": "object", "required": ["\udce9"]}, r"schema\.required\[0\] is not valid Unicode \(byte 0xe9"),
    ],
)
def test_a_schema_value_json_cannot_hold_is_refused_naming_its_place(schema: dict[str, Any], said: str) -> None:
    with pytest.raises(ConfigError, match=r"^json_schema: " + said) as info:
        GenerationParams(json_schema=schema)
    assert "\n" not in str(info.value)


def test_an_enum_value_nested_deeper_than_the_limit_is_one_error_not_a_recursion_error() -> None:
    # 100,000 lists deep was a RecursionError traceback from json.dumps; 150 deep is refused by its depth
    with pytest.raises(ConfigError, match=r"^json_schema: the schema has more than 2000 enum values"):
        GenerationParams(json_schema={"enum": [_nested(100_000)]})
    with pytest.raises(ConfigError, match=r"^json_schema: the schema nests more than 100 arrays and objects deep$"):
        GenerationParams(json_schema={"enum": [_nested(150)]})


def test_what_an_enums_values_hold_counts_towards_the_enum_budget() -> None:
    # one enum value of 100,000 numbers held the caller 17 s in the constraint engine, 20,000 keys 10 s
    with pytest.raises(ConfigError, match=r"more than 2000 enum values \(with what their arrays and objects hold\)"):
        GenerationParams(json_schema={"enum": [list(range(5000))]})
    with pytest.raises(ConfigError, match=r"more than 2000 enum values"):
        GenerationParams(json_schema={"enum": [{f"k{i}": i for i in range(3000)}]})


def test_json_schemas_of_every_kind_are_still_taken() -> None:
    schema = {
        "type": "object",
        "title": "Dog",
        "properties": {
            "name": {"type": "string", "maxLength": 20},
            "age": {"type": ["integer", "null"], "minimum": 0, "maximum": 30.5},
            "tags": {"type": "array", "items": {"enum": ["a", 1, 2.5, True, None, [1, {"k": "v"}]]}, "maxItems": 3},
        },
        "required": ["name"],
        "additionalProperties": False,
    }
    assert GenerationParams(json_schema=schema).json_schema == schema
    GenerationParams(json_schema={"enum": list(range(2000))})


@pytest.mark.usefixtures("fake_backend")
def test_a_session_refuses_a_nan_enum_before_anything_is_sent() -> None:
    backend = load_backend("fake", "m")
    with pytest.raises(ConfigError, match=r"is nan, which is no JSON number"):
        ChatSession(backend, params={"json_schema": {"enum": [math.nan]}})
    assert backend.calls == []


@pytest.mark.usefixtures("fake_backend")
def test_last_is_never_the_previous_reply_after_a_send_that_failed() -> None:
    backend = load_backend("fake", "m")
    session = ChatSession(backend)
    assert "".join(chunk.text for chunk in session.send("hi")) == "Echo: hi"
    assert session.last is not None and session.last.text == "Echo: hi"
    backend.unload()
    with pytest.raises(BackendError, match="no model loaded"):
        list(session.send("again"))
    # was the previous reply, finish_reason "stop", read by a script as this send's
    assert session.last is None
    assert [m.content for m in session.messages] == ["hi", "Echo: hi"]


@pytest.mark.usefixtures("fake_backend")
@pytest.mark.parametrize(
    ("schema", "said"),
    [
        ("name, age int", r"schema must be a mapping"),
        ({"type": "string", "pattern": "x"}, r"unsupported schema keyword 'pattern'"),
        ({"enum": []}, r"cannot be compiled for constrained decoding"),
    ],
)
def test_a_schema_session_checks_the_schema_it_shows_the_model(schema: object, said: str) -> None:
    from assistant.structured.session import SchemaSession

    backend = load_backend("fake", "m")
    with pytest.raises(ConfigError, match=r"^SchemaSession's schema: .*" + said):
        SchemaSession(backend, schema=schema)  # type: ignore[arg-type]
    session = SchemaSession(backend, schema={"type": "object", "properties": {"a": {"type": "string"}}})
    list(session.send("hi"))
    assert "Reply with one JSON document" in backend.calls[-1]["prompt"]


@pytest.mark.parametrize("value", [None, 5, b"name"])
def test_resolve_schema_refuses_what_is_not_text_in_words(value: object) -> None:
    from assistant.structured.concise import resolve_schema

    with pytest.raises(TypeError, match=r"^--schema needs the schema as text \(JSON, a file, or fields\), not "):
        resolve_schema(value)  # type: ignore[arg-type]


@pytest.mark.usefixtures("fake_backend")
def test_a_reply_read_up_to_its_final_chunk_is_stored_complete(tmp_path: Any) -> None:
    from assistant.history import ConversationRecorder, HistoryStore

    store = HistoryStore.open(tmp_path / "h.db")
    session = ChatSession(load_backend("fake", "m"), recorder=ConversationRecorder(store))
    for chunk in session.send("hello"):
        if chunk.finish_reason is not None:
            break  # the loop a script writes: stop at the chunk that says the reply ended
    assert session.last is not None and session.last.finish_reason == "stop"
    conversation = store.list_conversations()[0]
    stored = store.messages(conversation.id)
    # was "interrupted" (the consumer stopped) while last said "stop": -c then left the turn out
    assert [(m.role, m.content, m.status, m.finish_reason) for m in stored] == [
        ("user", "hello", "complete", None),
        ("assistant", "Echo: hello", "complete", "stop"),
    ]
    assert [m.content for m in store.context_messages(conversation.id)] == ["hello", "Echo: hello"]


@pytest.mark.usefixtures("fake_backend")
def test_a_reply_left_before_its_final_chunk_is_still_stored_interrupted(tmp_path: Any) -> None:
    from assistant.history import ConversationRecorder, HistoryStore

    store = HistoryStore.open(tmp_path / "h.db")
    session = ChatSession(load_backend("fake", "m"), recorder=ConversationRecorder(store))
    stream = session.send("hello")
    next(stream), next(stream)
    stream.close()
    assert session.last is not None and session.last.finish_reason == "cancelled"
    stored = store.messages(store.list_conversations()[0].id)
    assert [(m.content, m.status) for m in stored] == [("hello", "complete"), ("Ec", "interrupted")]


@pytest.mark.usefixtures("fake_backend")
def test_a_session_given_no_params_samples_as_the_config_says(assistant_home: Any) -> None:
    config = assistant_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[params]\ntemperature = 0\nmax_tokens = 33\n", encoding="utf-8")
    backend = load_backend("fake", "m")
    # ChatSession(backend) sampled at 0.7 with 512 tokens, while params=None or {} (and every
    # command, template and tool) took the config's [params]
    for session in (ChatSession(backend), ChatSession(backend, params=None), ChatSession(backend, params={})):
        assert (session.params.temperature, session.params.max_tokens) == (0.0, 33)
    list(ChatSession(backend).send("hi"))
    assert backend.calls[-1]["params"].max_tokens == 33


@pytest.mark.usefixtures("fake_backend")
def test_a_session_on_a_base_model_continues_text_as_the_commands_do() -> None:
    base = load_backend("fake", "gemma3-270m")  # the catalog's base model: no chat turns
    assert base.capabilities.chat_turns is False
    session = ChatSession(base, system="Be brief.")
    # was "chat": the base model got ChatML turns it never learned (gemma3-270m then wrote "mejorar")
    assert session.mode == "completion"
    list(session.send("The capital of France is"))
    assert base.calls[-1]["prompt"] == "The capital of France is"
    assert ChatSession(base, mode="chat").mode == "chat"  # said outright, it is kept
    assert ChatSession(load_backend("fake", "smollm2")).mode == "chat"
