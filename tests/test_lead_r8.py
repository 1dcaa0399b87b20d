"""Round 8, the lead's own fixes outside the helpers' areas: each test failed before its fix."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from assistant.cli import main


@pytest.mark.parametrize("raw", ["９", "1_0", "+5", "٣", " 1 2 "])
def test_a_conversation_id_is_ascii_digits_only(raw: str) -> None:
    """`history show ９` opened conversation 9: int() reads full-width and other digits, "1_0" and "+5"."""
    result = CliRunner().invoke(main, ["history", "show", raw])
    assert result.exit_code == 1
    assert "must be a whole number" in result.output


def test_render_and_run_template_name_a_variables_argument_that_is_not_a_mapping() -> None:
    """`run_template("zero-shot", backend)` said "'LlamaCppBackend' object is not iterable"."""
    from assistant import render_template, run_template

    class NotAMapping:
        pass

    for call in (render_template, run_template):
        with pytest.raises(TypeError, match="variables must be a mapping of name to value, not NotAMapping"):
            call("zero-shot", NotAMapping())  # type: ignore[arg-type]


def _wrong_calls(backend: object) -> list[tuple[object, str]]:
    from assistant.types import GenerationParams, Message

    params = GenerationParams(max_tokens=2)
    return [
        (lambda: backend.complete("Hi", None), "params must be a GenerationParams, not NoneType"),  # type: ignore[attr-defined]
        (
            lambda: list(backend.stream("Hi", {"temperature": 0})),  # type: ignore[attr-defined]
            r"params must be a GenerationParams \(GenerationParams\(\*\*values\) makes one from a dict\), not dict",
        ),
        (
            lambda: backend.complete([{"role": "user", "content": "Hi"}], params),  # type: ignore[attr-defined]
            r"Message objects \(Message.from_dict makes one from a dict\), not dict",
        ),
        (lambda: backend.count_tokens(5), "a prompt must be text \\(str\\) or a list of Message, not int"),  # type: ignore[attr-defined]
        (lambda: backend.count_tokens(b"Hi"), "not bytes"),  # type: ignore[attr-defined]
        (lambda: backend.count_tokens([Message("user", "Hi"), "Hi"]), "Message objects, not str"),  # type: ignore[attr-defined]
    ]


def test_a_backend_names_a_prompt_or_params_of_the_wrong_type() -> None:
    """`complete("Hi", None)` raised AttributeError "'NoneType' object has no attribute 'json_schema'", and a
    list of OpenAI-style dicts "'dict' object has no attribute 'to_dict'"."""
    from assistant.backends.fake import FakeBackend

    backend = FakeBackend()
    backend.load("fake-model")
    for call, message in _wrong_calls(backend):
        with pytest.raises(TypeError, match=message):
            call()  # type: ignore[operator]


def test_the_engine_process_names_them_before_anything_crosses(fake_backend_plugin_file: object) -> None:
    from assistant.backends.engine.process import load_in_engine_process

    backend = load_in_engine_process("fake", "fake-model")
    try:
        for call, message in _wrong_calls(backend):
            with pytest.raises(TypeError, match=message):
                call()  # type: ignore[operator]
        assert backend.count_tokens("Hi") > 0  # still serving
    finally:
        backend.unload()
