"""Help text offers only what the command accepts."""

from __future__ import annotations

from click.testing import CliRunner

from assistant.cli import main


def _option_help(args: list[str]) -> str:
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    return text[text.index("-o, --option") : text.index("--verbose")]


def test_a_tools_o_help_does_not_offer_the_sampling_it_refuses(assistant_home: object) -> None:
    """Tools refuse -o temperature=… (they set their own); their help listed it anyway."""
    for tool in ("sentiment", "summarize"):
        shown = _option_help([tool])
        assert "temperature" not in shown and "the tool sets its own sampling" in shown
    assert "temperature" in _option_help(["prompt"])
