"""The ner tool's prompt for custom type sets (plugins/ner.py), on the fake backend.

A custom set must not make the prompt worse for the types it shares with the
default set: the same examples, labelled the same way, and no description that
contradicts a requested type.
"""

from __future__ import annotations

from typing import Sequence

from assistant.backends.fake import FakeBackend
from assistant.tools import get_tool

TEXT = "Ana Lopez flew to Paris on Tuesday."
OTHER_IN_FULL = "- other: any other kind of name: a nationality, religion, language, event, product, title"


class PromptRecorder(FakeBackend):
    def __init__(self) -> None:
        super().__init__()
        self.load("fake-model")
        self.calls: list[tuple[str, list[str]]] = []

    def score(self, prompt: str, candidates: Sequence[str]) -> list[float]:
        self.calls.append((prompt, list(candidates)))
        return super().score(prompt, candidates)


def prompts(types: list[str], text: str = TEXT) -> dict[str, tuple[str, list[str]]]:
    """The last line of each prompt ("Paris:", "Paris is a") -> the prompt and its candidates."""
    backend = PromptRecorder()
    get_tool("ner").run(text, backend, types=types, view="kind")
    return {prompt.rsplit("\n", 1)[-1]: (prompt, candidates) for prompt, candidates in backend.calls}


def lines(prompt: str) -> list[str]:
    return prompt.splitlines()


def test_default_types_describe_other_in_full() -> None:
    prompt, candidates = prompts(["PERSON", "LOCATION", "ORGANIZATION"])["Paris:"]
    assert OTHER_IN_FULL in lines(prompt)
    assert candidates == [" person", " place", " organization", " other", " none"]


def test_a_date_type_leaves_the_prompt_for_names_as_with_the_default_types() -> None:
    default = prompts(["PERSON", "LOCATION", "ORGANIZATION"])
    custom = prompts(["PERSON", "LOCATION", "DATE"])
    for name in ("Ana Lopez:", "Paris:", "Ana Lopez is a", "Paris is a"):
        assert custom[name] == default[name]
    date_prompt, date_candidates = custom["Tuesday:"]
    assert date_candidates == [" date", " none"]
    assert "Friday: date" in lines(date_prompt) and "2019: date" in lines(date_prompt)
    assert "Maria Lopez: person" in lines(date_prompt), "the name examples stay labelled"


def test_short_spellings_label_the_examples_like_the_full_names() -> None:
    full = prompts(["PERSON", "LOCATION", "ORGANIZATION", "DATE"])
    short = prompts(["PER", "LOC", "ORG", "DATE"])
    assert short["Paris:"] == full["Paris:"] and short["Tuesday:"] == full["Tuesday:"]
    assert "Siemens: organization" in lines(short["Paris:"][0])


def test_a_requested_kind_of_other_is_not_described_as_other() -> None:
    found = prompts(["ORGANIZATION", "PRODUCT"])
    prompt, candidates = found["Paris:"]
    assert "- other: any other kind of name: a nationality, religion, language, event, title" in lines(prompt)
    assert "- product" in lines(prompt) and OTHER_IN_FULL not in lines(prompt)
    assert candidates == [" person", " place", " organization", " other", " product", " none"]
    assert "Barack Obama: person" in lines(prompt) and "Siemens: organization" in lines(prompt)
    kind_candidates = found["Paris is a"][1]
    assert " product" in kind_candidates and kind_candidates.count(" product") == 1


def test_other_keeps_only_the_kinds_no_requested_type_claims() -> None:
    prompt = prompts(["PERSON", "NORP", "EVENT", "LANGUAGE"])["Paris:"][0]
    assert "- other: any other kind of name: a religion, product, title" in lines(prompt)
    assert "- nationality: a nationality, religious or political group" in lines(prompt)
    every_kind = ["PERSON", "NORP", "RELIGION", "LANGUAGE", "EVENT", "PRODUCT", "TITLE"]
    assert "- other: any other kind of name" in lines(prompts(every_kind)["Paris:"][0])


def test_a_made_up_type_is_offered_and_is_its_own_kind() -> None:
    found = prompts(["PERSON", "LOCATION", "DISEASE"], "Doctors in Lima treated Zika.")
    prompt, candidates = found["Zika:"]
    assert "- disease" in lines(prompt) and OTHER_IN_FULL in lines(prompt)
    assert candidates == [" person", " place", " organization", " other", " disease", " none"]
    assert " disease" in found["Zika is a"][1]
