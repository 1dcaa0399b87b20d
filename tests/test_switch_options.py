"""True/false backend options mean the same from -o, the config and the Python API."""

from __future__ import annotations

import pytest

from assistant.errors import BackendError
from assistant.option_values import switch_option


@pytest.mark.parametrize(
    ("given", "expected"),
    [(True, True), (False, False), ("false", False), ("off", False), ("no", False), ("true", True), ("on", True)],
)
def test_a_switch_takes_booleans_and_their_usual_words(given: object, expected: bool) -> None:
    assert switch_option({"native": given}, "native", not expected) is expected


def test_a_missing_or_none_switch_is_its_default() -> None:
    assert switch_option({}, "native", True) is True
    assert switch_option({"native": None}, "native", False) is False


@pytest.mark.parametrize("given", ["maybe", 1, 0, 2.5, "1x", []])
def test_anything_else_is_refused_by_name(given: object) -> None:
    """``bool("false")`` is True: the Python API's ``native="false"`` ran the native decoder."""
    with pytest.raises(BackendError, match=r"^native must be true or false, not "):
        switch_option({"native": given}, "native", True)
