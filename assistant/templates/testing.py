"""``assistant templates test``: run a template's own test cases against a model.

Each case gives variables (and/or ``input``) and an expectation on the extracted
answer: ``equals``, ``contains`` (one string or all of a list), ``regex``
(searched, not anchored) and ``one_of``. Comparisons ignore surrounding
whitespace and, unless ``case_sensitive: true``, letter case.

Cases run greedily (``temperature 0``) unless the caller overrides it, so a
pass rate means the same thing on every run of the same model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..backends.base import Backend
from ..errors import AssistantError
from .run import execute, resolve_params
from .render import render_template
from .spec import Expectation, PromptTemplate


@dataclass
class CaseResult:
    name: str
    passed: bool
    answer: Any = None
    output: str = ""
    reason: str = ""  # why it failed
    expect: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "answer": self.answer,
            "output": self.output,
            "reason": self.reason,
            "expect": self.expect,
        }


@dataclass
class TestReport:
    template: str
    model: str
    backend: str
    cases: list[CaseResult]

    __test__ = False

    @property
    def passed(self) -> int:
        return sum(1 for case in self.cases if case.passed)

    @property
    def pass_rate(self) -> float:
        return self.passed / len(self.cases) if self.cases else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "model": self.model,
            "backend": self.backend,
            "passed": self.passed,
            "total": len(self.cases),
            "pass_rate": self.pass_rate,
            "cases": [case.to_dict() for case in self.cases],
        }


def _text(value: Any) -> str:
    """What a check reads: a text answer trimmed, a JSON answer as compact JSON (``{"a":1}``, documented)."""
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json_value(expected: Any) -> tuple[bool, Any]:
    """(True, value) when ``expected`` is a JSON value or JSON text, so JSON answers compare by value."""
    if not isinstance(expected, str):
        return True, expected
    try:
        return True, json.loads(expected)
    except ValueError:
        return False, None


def check_expectation(expect: Expectation, answer: Any) -> str | None:
    """None if ``answer`` meets every check in ``expect``, else the first reason it does not.

    A JSON answer (``output: json``) is compared by value with ``equals``, so key
    order and spacing do not matter; text answers compare as text.
    """
    text = _text(answer)
    fold = (lambda s: s) if expect.case_sensitive else str.casefold
    if expect.equals is not None:
        as_json, expected = _json_value(expect.equals) if not isinstance(answer, str) else (False, None)
        if as_json:
            if answer != expected:
                shown = json.dumps(expected, ensure_ascii=False, separators=(",", ":"))
                return f"expected {shown}, got {text}"
        elif fold(text) != fold(_text(expect.equals)):
            return f"expected {expect.equals!r}, got {text!r}"
    for needle in expect.contains:
        if fold(needle) not in fold(text):
            return f"expected the answer to contain {needle!r}, got {text!r}"
    if expect.regex is not None:
        flags = 0 if expect.case_sensitive else re.IGNORECASE
        if re.search(expect.regex, text, flags) is None:
            return f"expected a match for /{expect.regex}/, got {text!r}"
    if expect.one_of and fold(text) not in {fold(option.strip()) for option in expect.one_of}:
        return f"expected one of {list(expect.one_of)!r}, got {text!r}"
    return None


def run_tests(
    template: PromptTemplate, backend: Backend, params: Mapping[str, Any] | None = None
) -> TestReport:
    """Run every test case; a case that errors (render or output problem) fails with the reason."""
    overrides = {"temperature": 0.0, **(params or {})}
    generation = resolve_params(template, overrides, backend)
    results: list[CaseResult] = []
    for case in template.tests:
        expect = case.expect.to_dict()
        try:
            messages = render_template(
                template, case.vars, input=case.input, input_hint="give the test case an 'input'",
                variables_hint="set them in the test case's 'vars'",
            )
            result = execute(template, messages, backend, generation)
        except AssistantError as exc:
            results.append(CaseResult(case.name, False, reason=str(exc), expect=expect))
            continue
        if result.error is not None:
            results.append(CaseResult(case.name, False, None, result.output, result.error, expect))
            continue
        reason = check_expectation(case.expect, result.answer)
        results.append(CaseResult(case.name, reason is None, result.answer, result.output, reason or "", expect))
    return TestReport(template.name, backend.model_name, backend.name, results)
