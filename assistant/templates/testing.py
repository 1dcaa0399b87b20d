"""``assistant templates test``: run a template's own test cases against a model.

Each case gives variables (and/or ``input``) and an expectation on the extracted
answer: ``equals``, ``contains`` (one string or all of a list), ``regex``
(searched, not anchored) and ``one_of``. Comparisons ignore surrounding
whitespace and, unless ``case_sensitive: true``, letter case.

Cases run greedily (``temperature 0``) unless the caller overrides it, so a
pass rate means the same thing on every run of the same model.

A ``regex`` runs in a child Python with a time limit (:data:`REGEX_TIME_LIMIT`):
Python's ``re`` backtracks, and a pattern such as ``(a+)+$`` against
``aaaa…b`` takes longer than the age of the universe, with no timeout to give
and no way to stop it in a thread. A child process can be killed; the case then
fails with a line naming the pattern, and the other cases still run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..backends.base import Backend
from ..errors import AssistantError, TemplateError
from .render import render_template
from .run import execute, resolve_params
from .spec import Expectation, PromptTemplate
from .value_checks import TEST_INPUT_HINT, TEST_VARIABLES_HINT


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
    except (ValueError, RecursionError):
        return False, None


REGEX_TIME_LIMIT = 5.0
"""Seconds a ``regex`` expectation may take on one answer. A sane pattern on a reply of any
length a model writes takes milliseconds; one past this backtracks catastrophically."""

# What the child runs: only the standard library (-I -S: no site-packages, no
# current directory on the path, no PYTHON* variables), so it starts in ~20 ms.
_REGEX_CHILD = (
    "import json, re, sys\n"
    "job = json.load(sys.stdin)\n"
    "sys.stdout.write('1' if re.search(job['pattern'], job['text'], job['flags']) else '0')\n"
)


class RegexTimeLimit(TemplateError):
    """A ``regex`` expectation ran past :data:`REGEX_TIME_LIMIT` on an answer."""


def regex_search(pattern: str, text: str, flags: int = 0, limit: float | None = None) -> bool:
    """Whether ``pattern`` is found in ``text`` within ``limit`` seconds (:data:`REGEX_TIME_LIMIT` if None).

    Past the limit: :class:`RegexTimeLimit`; a child that fails otherwise: :class:`TemplateError`.

    Why a process: ``re`` has no timeout, holds the GIL while it matches (a thread
    cannot be stopped, nor wait beside it), and ``SIGALRM`` exists only on Unix and
    in the main thread. A child process is the one thing that can be stopped anywhere;
    ``subprocess.run`` kills it on the timeout and on Ctrl-C.
    """
    limit = REGEX_TIME_LIMIT if limit is None else limit
    if not sys.executable or getattr(sys, "frozen", False):  # no python to start (embedded, a frozen
        return re.search(pattern, text, flags) is not None  # app's executable is the app): here, unbounded
    job = json.dumps({"pattern": pattern, "text": text, "flags": flags})  # ASCII: lone surrogates travel too
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _REGEX_CHILD],
            input=job, capture_output=True, text=True, encoding="utf-8", timeout=limit,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise RegexTimeLimit(f"the regex /{pattern}/ ran past {limit:g} s on the answer") from None
    except OSError as exc:  # no process could start (a process limit, memory)
        problem = exc.strerror or exc
        raise TemplateError(f"the regex /{pattern}/ could not be run on the answer: {problem}") from None
    if done.returncode != 0 or done.stdout not in ("0", "1"):
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise TemplateError(f"the regex /{pattern}/ could not be run on the answer: {last}")
    return done.stdout == "1"


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
        try:
            found = regex_search(expect.regex, text, flags)
        except RegexTimeLimit as exc:  # the pattern's fault, not the model's: say so, and how to fix it
            return f"{exc}: it backtracks without end (nested repeats such as (a+)+); simplify it"
        except TemplateError as exc:  # the child could not start or failed: the case cannot pass
            return str(exc)
        if not found:
            return f"expected a match for /{expect.regex}/, got {text!r}"
    if expect.one_of and fold(text) not in {fold(option.strip()) for option in expect.one_of}:
        return f"expected one of {list(expect.one_of)!r}, got {text!r}"
    return None


def run_tests(
    template: PromptTemplate,
    backend: Backend,
    params: Mapping[str, Any] | None = None,
    before_case: Callable[[], None] | None = None,
) -> TestReport:
    """Run every test case; a case that errors (render or output problem) fails with the reason.

    ``before_case`` is called before each case, and may raise to stop the run: the CLI's
    Ctrl-C check, for a press the engine answered by cancelling the case in flight
    (which would otherwise fail as a cut reply while the next cases ran on).
    """
    overrides = {"temperature": 0.0, **(params or {})}
    generation = resolve_params(template, overrides, backend)
    results: list[CaseResult] = []
    for case in template.tests:
        if before_case is not None:
            before_case()
        expect = case.expect.to_dict()
        try:
            messages = render_template(
                template, case.vars, input=case.input, input_hint=TEST_INPUT_HINT, variables_hint=TEST_VARIABLES_HINT
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
