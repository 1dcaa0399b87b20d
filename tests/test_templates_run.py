"""Running templates on the fake backend: answers, chain-of-thought, JSON, labels, params, tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pytest

import assistant
from assistant.backends.base import Prompt
from assistant.backends.fake import FakeBackend
from assistant.errors import NotSupportedError, TemplateError
from assistant.templates import load_template, run_template
from assistant.templates.spec import Expectation
from assistant.templates.strategies import parse_json_answer, split_answer_line
from assistant.templates.testing import check_expectation, run_tests


def loaded(reply: Any = None) -> FakeBackend:
    backend = FakeBackend(reply=reply)
    backend.load("fake-model")
    return backend


class ScoringFake(FakeBackend):
    """Scores from a table, remembering what it was asked."""

    def __init__(self, table: dict[str, float]) -> None:
        super().__init__()
        self.table = table
        self.scored: list[tuple[str, list[str]]] = []

    def score(self, prompt: Prompt, candidates: Sequence[str]) -> list[float]:
        text = prompt if isinstance(prompt, str) else self.render_prompt(prompt)  # messages: as the engine renders them
        self.scored.append((text, list(candidates)))
        return [self.table[c.strip()] for c in candidates]


class NoScoreFake(FakeBackend):
    def score(self, prompt: str, candidates: Sequence[str]) -> list[float]:
        raise NotSupportedError("this server cannot score")


CHOICE = """
---
strategy: few-shot
system: Is it good or bad?
examples:
  - {input: lovely, output: good}
  - {input: awful, output: bad}
output: {type: choice, labels: [good, bad]%s}
---
Review: {{ input }}
Verdict:
"""


def test_public_api_is_reexported_from_the_package() -> None:
    assert assistant.render_template is assistant.templates.render_template
    assert assistant.run_template is assistant.templates.run_template
    assert assistant.load_template is assistant.templates.load_template


def test_text_output_streams_and_answers(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "t.jinja", "---\nvariables: [input]\n---\nSay: {{ input }}\n")
    pieces: list[str] = []
    result = run_template("t", input="hello", backend=loaded(), on_text=pieces.append)
    assert result.ok and result.output == "Echo: Say: hello"
    assert result.answer == "Echo: Say: hello"
    assert "".join(pieces) == result.output
    assert result.usage.completion_tokens == len(result.output.encode())
    assert len(result.prompt_hash) == 64
    data = result.to_dict()
    assert data["answer"] == result.answer and data["error"] is None and "reasoning" not in data


def test_same_prompt_same_hash_different_prompt_different_hash(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "t.jinja", "---\nvariables: [input]\n---\n{{ input }}\n")
    backend = loaded()
    a = run_template("t", input="a", backend=backend).prompt_hash
    assert run_template("t", input="a", backend=backend).prompt_hash == a
    assert run_template("t", input="b", backend=backend).prompt_hash != a


def test_chain_of_thought_keeps_reasoning_apart_from_the_answer() -> None:
    reply = "First, 3 apples.\nThen 2 more: 3 + 2 = 5.\nAnswer: 5"
    result = run_template("chain-of-thought", input="apples?", backend=loaded(reply))
    assert result.answer == "5"
    assert result.reasoning == "First, 3 apples.\nThen 2 more: 3 + 2 = 5."
    assert result.output == reply


def test_chain_of_thought_without_an_answer_line_reports_it() -> None:
    result = run_template("chain-of-thought", input="apples?", backend=loaded("It is five, I think."))
    assert result.answer is None and not result.ok
    assert "no final line starting with 'Answer:'" in (result.error or "")
    assert result.reasoning == "It is five, I think."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\nb\nAnswer: 42", ("a\nb", "42")),
        ("step\n**Answer:** Paris", ("step", "Paris")),
        ("step\nanswer: yes\n", ("step", "yes")),
        ("step\nAnswer:\n  7  \n", ("step", "7")),
        ("Answer: wrong\nmore thinking\nAnswer: right", ("Answer: wrong\nmore thinking", "right")),
        ("- Answer: `x`", ("", "x")),
        ("no marker here", ("no marker here", None)),
        ("Answer:", ("Answer:", None)),
    ],
)
def test_answer_line_extraction(text: str, expected: tuple[str, str | None]) -> None:
    assert split_answer_line(text, "Answer:") == expected


def test_json_output_is_parsed_and_checked_against_the_schema(user_templates: Path, write_file: Any) -> None:
    write_file(
        user_templates,
        "j.jinja",
        """
        ---
        variables: [input]
        output:
          type: json
          schema:
            type: object
            required: [name, age]
            properties: {name: {type: string}, age: {type: integer}}
          constrain: false
        ---
        {{ input }}
        """,
    )
    good = run_template("j", input="x", backend=loaded('Sure!\n```json\n{"name": "Ada", "age": 36}\n```'))
    assert good.ok and good.answer == {"name": "Ada", "age": 36}
    bad = run_template("j", input="x", backend=loaded('{"name": "Ada", "age": "old"}'))
    assert bad.answer is None and "$.age: expected integer" in (bad.error or "")
    broken = run_template("j", input="x", backend=loaded("no json at all"))
    assert broken.error == "the reply contains no JSON"


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ('{"a": 1}', {"a": 1}),
        ('Here: [1, 2] and more', [1, 2]),
        ('prefix {"a": {"b": [true, null]}} suffix {"c": 2}', {"a": {"b": [True, None]}}),
        ("```\n{\"a\": 1}\n```", {"a": 1}),
    ],
)
def test_json_answer_parsing(text: str, answer: Any) -> None:
    assert parse_json_answer(text, None).answer == answer


def test_choice_scores_labels_against_plain_text_by_default(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "c.jinja", CHOICE % "")
    backend = ScoringFake({"good": -3.0, "bad": -0.5})
    result = run_template("c", input="meh", backend=backend)
    assert result.answer == "bad" and result.output == "bad"
    assert result.scores == {"good": -3.0, "bad": -0.5}
    prompt, candidates = backend.scored[0]
    assert candidates == [" good", " bad"]
    assert prompt == (
        "Is it good or bad?\n\nReview: lovely\nVerdict: good\n\nReview: awful\nVerdict: bad\n\nReview: meh\nVerdict:"
    )
    assert result.usage.completion_tokens == 0 and result.usage.prompt_tokens == len(prompt.encode()) + 1
    assert backend.calls == []  # nothing was generated


def test_choice_with_chat_scoring_uses_the_chat_template(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "c.jinja", CHOICE % ", scoring: chat")
    backend = ScoringFake({"good": -0.1, "bad": -2.0})
    result = run_template("c", input="meh", backend=backend)
    assert result.answer == "good"
    prompt, candidates = backend.scored[0]
    assert candidates == ["good", "bad"]
    assert prompt.endswith("<|im_start|>user\nReview: meh\nVerdict:<|im_end|>\n<|im_start|>assistant\n")
    assert "<|im_start|>assistant\ngood<|im_end|>" in prompt  # examples as turns


def test_text_scoring_refuses_example_turns(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "c.jinja", CHOICE % "")
    with pytest.raises(TemplateError, match="needs the examples inline"):
        run_template("c", input="meh", backend=ScoringFake({"good": 0, "bad": 0}), examples_as="turns")
    write_file(user_templates, "d.jinja", (CHOICE % "").replace("system:", "examples_as: turns\nsystem:"))
    with pytest.raises(TemplateError, match="set examples_as: inline or scoring: chat"):
        load_template("d")


def test_choice_falls_back_to_matching_a_generated_label(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "c.jinja", CHOICE % "")
    backend = NoScoreFake(reply="I would say: BAD, not good.")
    backend.load("m")
    result = run_template("c", input="meh", backend=backend)
    assert result.answer == "bad" and result.ok
    backend.reply = "No idea."
    assert "names none of the labels" in (run_template("c", input="meh", backend=backend).error or "")


def test_params_precedence_defaults_config_template_call(
    user_templates: Path, write_file: Any, assistant_home: Path
) -> None:
    (assistant_home / "config" / "config.toml").write_text("[params]\nmax_tokens = 100\ntop_k = 7\n")
    write_file(user_templates, "p.jinja", "---\nvariables: [input]\nparams: {max_tokens: 30, temperature: 0}\n---\n{{ input }}\n")
    backend = loaded()
    run_template("p", input="x", backend=backend)
    run_template("p", input="x", backend=backend, params={"max_tokens": 5})
    first, second = backend.calls[0]["params"], backend.calls[1]["params"]
    assert (first.max_tokens, first.temperature, first.top_k) == (30, 0, 7)
    assert second.max_tokens == 5


def test_system_override(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "s.jinja", "---\nsystem: original\nvariables: [input]\n---\n{{ input }}\n")
    backend = loaded()
    result = run_template("s", input="x", backend=backend, system="replaced")
    assert [m.content for m in result.messages] == ["replaced", "x"]
    result = run_template("s", input="x", backend=backend, system="")
    assert [m.role for m in result.messages] == ["user"]


def test_run_template_loads_and_unloads_a_named_backend(fake_backend: None) -> None:
    result = run_template("chat", input="ping", backend="fake", model="tiny")
    assert result.output == "Echo: ping" and result.model == "tiny" and result.backend == "fake"


def test_output_cut_at_max_tokens_says_so() -> None:
    result = run_template("chain-of-thought", input="q", backend=loaded("x" * 50), params={"max_tokens": 5})
    assert result.finish_reason == "length"
    assert "stopped at max_tokens" in (result.error or "")


@pytest.mark.parametrize(
    ("expect", "answer", "ok"),
    [
        (Expectation(equals="Paris"), " paris ", True),
        (Expectation(equals="Paris", case_sensitive=True), "paris", False),
        (Expectation(contains=("paris", "france")), "Paris is in France", True),
        (Expectation(contains=("paris", "spain")), "Paris is in France", False),
        (Expectation(regex=r"^\d+$"), "42", True),
        (Expectation(regex=r"^\d+$"), "42 apples", False),
        (Expectation(one_of=("yes", "no")), "No", True),
        (Expectation(one_of=("yes", "no")), "maybe", False),
        (Expectation(equals='{"a": 1}'), {"a": 1}, True),
        # JSON answers compare by value: spacing and key order do not matter
        (Expectation(equals='{"b":2,  "a":1}'), {"a": 1, "b": 2}, True),
        (Expectation(equals={"a": [1, 2]}), {"a": [1, 2]}, True),
        (Expectation(equals={"a": [1, 2]}), {"a": [2, 1]}, False),
        (Expectation(equals='{"a": 1}'), {"a": 1.5}, False),
    ],
)
def test_expectations(expect: Expectation, answer: Any, ok: bool) -> None:
    assert (check_expectation(expect, answer) is None) is ok


def test_yaml_mapping_expectation_is_a_json_value() -> None:
    from assistant.templates.spec import parse_expectation

    expect = parse_expectation("t", {"equals": {"name": "Ada", "age": 36}})
    assert check_expectation(expect, {"age": 36, "name": "Ada"}) is None
    assert "expected {" in (check_expectation(expect, {"name": "Ada"}) or "")


def test_run_tests_reports_pass_rate_and_reasons(user_templates: Path, write_file: Any) -> None:
    write_file(
        user_templates,
        "cap.jinja",
        """
        ---
        variables: [input]
        params: {temperature: 0.9}
        tests:
          - name: france
            input: France
            expect: {contains: Paris}
          - name: italy
            input: Italy
            expect: {equals: Rome}
          - input: Spain
            expect: {one_of: [Madrid]}
        ---
        Capital of {{ input }}?
        """,
    )
    capitals = {"France": "Paris!", "Italy": "Milan", "Spain": "Madrid"}
    backend = loaded(lambda prompt: next(v for k, v in capitals.items() if k in prompt.rsplit("user", 1)[-1]))
    report = run_tests(load_template("cap"), backend)
    assert [(c.name, c.passed) for c in report.cases] == [("france", True), ("italy", False), ("test 3", True)]
    assert report.passed == 2 and report.pass_rate == pytest.approx(2 / 3)
    assert "expected 'Rome', got 'Milan'" in report.cases[1].reason
    assert all(call["params"].temperature == 0 for call in backend.calls)  # tests run greedy
    assert report.to_dict()["total"] == 3


def test_a_choice_generated_instead_of_scored_is_cut_short(user_templates: Path, write_file: Any) -> None:
    """Against a server that cannot score, a choice template's reply ran to max_tokens (512): a small model
    rambled "however, however, ..." past every label, at 512 tokens' cost per row (round 8)."""
    from assistant.templates.run import CHOICE_REPLY_TOKENS

    write_file(user_templates, "c.jinja", CHOICE % "")
    backend = NoScoreFake(reply="good")
    backend.load("m")
    assert run_template("c", input="meh", backend=backend).answer == "good"
    assert backend.calls[-1]["params"].max_tokens == CHOICE_REPLY_TOKENS == 32
    run_template("c", input="meh", backend=backend, params={"max_tokens": 8})
    assert backend.calls[-1]["params"].max_tokens == 8  # a smaller limit stays
