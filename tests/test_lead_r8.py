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
