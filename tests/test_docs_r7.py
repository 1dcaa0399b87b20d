"""Round 7: the Python API as a script uses it (ChatSession's arguments checked where they are given)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.backends.fake import FakeBackend
from assistant.errors import ConfigError
from assistant.history import ConversationRecorder, HistoryStore
from assistant.session import ChatSession
from assistant.types import GenerationParams, Message


def loaded() -> FakeBackend:
    backend = FakeBackend(reply="Hello.")
    backend.load("fake-model")
    return backend


@pytest.mark.parametrize("text", [None, 5, b"Hi", ["Hi"]])
def test_a_message_that_is_not_text_is_refused_before_anything_is_sent_or_recorded(
    tmp_path: Path, text: object
) -> None:
    store = HistoryStore.open(tmp_path / "h.db")
    session = ChatSession(loaded(), recorder=ConversationRecorder(store))
    with pytest.raises(ConfigError, match=r"ChatSession.send needs the user's text \(a str\), got "):
        list(session.send(text))  # type: ignore[arg-type]
    assert session.messages == [] and session.last is None
    assert store.list_conversations() == []  # no turn with a None (or a number) for its text


def test_params_given_as_a_mapping_are_built_like_run_templates() -> None:
    session = ChatSession(loaded(), params={"temperature": 0, "max_tokens": 3})  # type: ignore[arg-type]
    assert isinstance(session.params, GenerationParams)
    assert session.params.temperature == 0 and session.params.max_tokens == 3
    assert "".join(c.text for c in session.send("Hi")) == "Hel"  # the fake engine counts characters
    session.params = {"max_tokens": 7}  # type: ignore[assignment]  # a script changing its settings mid-way
    list(session.send("again"))
    assert isinstance(session.params, GenerationParams) and session.params.max_tokens == 7


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"params": {"temprature": 0}}, "unknown generation parameter 'temprature'"),
        ({"params": "temperature=0"}, "params must be a GenerationParams or a mapping, not str"),
        ({"system": 5}, "system prompt must be a str or None, not int"),
        ({"mode": "base"}, "mode must be 'chat' or 'completion', not 'base'"),
        ({"messages": ["Hi"]}, "messages must be a list of Message"),
    ],
)
def test_wrong_arguments_are_one_line_errors_naming_them(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ChatSession(loaded(), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["llama-cpp", None])
def test_a_backend_name_instead_of_a_loaded_backend_says_how_to_load_one(backend: object) -> None:
    with pytest.raises(ConfigError, match=r"needs a loaded backend \(load_backend\(NAME, MODEL\)\)"):
        ChatSession(backend)  # type: ignore[arg-type]


def test_a_resumed_conversation_keeps_its_messages() -> None:
    history = [Message("user", "Hi"), Message("assistant", "Hello.")]
    session = ChatSession(loaded(), messages=history)
    assert session.prompt_messages("more")[:2] == history


def test_dir_of_the_package_offers_the_public_api_not_its_own_imports() -> None:
    import assistant

    names = dir(assistant)
    assert set(assistant.__all__) <= set(names)
    assert "Any" not in names and "annotations" not in names  # typing / __future__ imports of __init__.py
    import assistant.history  # a submodule stays reachable by completion

    assert "history" in dir(assistant)


def test_a_second_send_while_a_reply_is_streaming_is_refused_and_the_conversation_stays_whole() -> None:
    session = ChatSession(loaded())
    first = session.send("A")
    next(first)
    with pytest.raises(ConfigError, match="still streaming a reply"):
        next(session.send("B"))
    assert [m.content for m in session.messages] == ["A"]  # no second user turn in a row
    "".join(c.text for c in first)  # the first reply reads to its end
    assert [m.role for m in session.messages] == ["user", "assistant"]
    list(session.send("B"))  # and the session is free again
    assert [m.content for m in session.messages if m.role == "user"] == ["A", "B"]


def test_a_closed_stream_frees_the_session() -> None:
    session = ChatSession(loaded())
    stream = session.send("A")
    next(stream)
    stream.close()
    assert "".join(c.text for c in session.send("B")) == "Hello."


def test_a_refused_message_does_not_leave_the_session_busy() -> None:
    session = ChatSession(loaded())
    with pytest.raises(ConfigError):
        list(session.send(None))  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        session.params = {"temprature": 0}  # type: ignore[assignment]
        list(session.send("Hi"))
    session.params = GenerationParams()
    assert "".join(c.text for c in session.send("Hi")) == "Hello."


def readme_python_block() -> str:
    """README's "Python" section's code, as a user copies it."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.model
def test_the_readmes_python_example_runs_as_written(smollm2_path: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "example.py"
    script.write_text(
        readme_python_block()
        + "assert session.last.finish_reason == 'stop'\n"
        + "assert [m.role for m in session.messages] == ['user', 'assistant']\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, str(script)], check=False, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "The capital of France is Paris."  # what its comment says
