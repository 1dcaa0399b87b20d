"""Round 10 (wave 2): the tools' plumbing as a demanding user meets it. Each test failed before its fix."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from click.testing import CliRunner

from assistant.backends.fake import FakeBackend
from assistant.cli import main
from assistant.errors import ConfigError
from assistant.tools import get_tool
from assistant.tools.base import Parameter, ParameterSet, missing_parameter
from assistant.tools.results import LabelResult
from assistant.types import Message

MISSING_MODEL = "/nonexistent/model.gguf"  # loading it fails: a command that gets past its checks says so


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


# ---- 1. a missing parameter is named as the user types it --------------------------------------------------
def test_the_chat_app_names_a_missing_parameter_in_its_slash_syntax() -> None:
    """Before: `/translate` said "needs the parameter 'to/target'", a name nobody can type."""
    from assistant.tui.tool_calls import prepare_tool_call

    with pytest.raises(ConfigError) as caught:
        prepare_tool_call("/translate", [Message("user", "Good morning.")])
    message = str(caught.value)
    assert "to/target" not in message
    assert message == "tool 'translate' needs the parameter 'to' (/translate TO …, or to=… or target=…)"


def test_the_command_line_and_the_python_api_name_it_their_own_way() -> None:
    from assistant.cli.tools import cli_spelling

    to = Parameter("to", required=True, aliases=("target",))
    assert missing_parameter("translate", to, cli_spelling) == "tool 'translate' needs the parameter 'to' (--to / --target)"
    with pytest.raises(ConfigError, match=r"^tool 'translate' needs the parameter 'to' \(or 'target'\)$"):
        ParameterSet("translate", (to,)).resolve({})
    with pytest.raises(ConfigError, match=r"^tool 't' needs the parameter 'n'$"):  # no other name: nothing to add
        ParameterSet("t", (Parameter("n", required=True),)).resolve({})


def test_a_parameter_whose_flag_a_common_option_holds_is_named_by_the_flag_that_works() -> None:
    """A tool parameter `input_field` cannot be `--input-field` (the batch option's): -p is named instead."""
    from assistant.cli.tools import _option_for, cli_spelling

    clash = Parameter("input_field", required=True)
    assert _option_for(clash) is None
    assert cli_spelling(clash) == "-p input_field=VALUE"


def test_the_generic_tool_command_says_the_same_as_the_shortcut() -> None:
    """Before: `assistant tool translate hi` said "-p to=VALUE" though --to works there too."""
    for command in (("translate",), ("tool", "translate")):
        result = _invoke(*command, "-m", MISSING_MODEL, "Hello")
        assert result.exit_code == 2
        assert "tool 'translate' needs the parameter 'to' (--to / --target)" in result.output


# ---- 2. `assistant tool` with options before NAME -----------------------------------------------------------
@pytest.mark.parametrize(
    "before",
    [("--json",), ("-p", "calibrate=no"), ("-m", MISSING_MODEL), (f"--model={MISSING_MODEL}",), ("--no-log", "--json")],
)
def test_options_before_the_tool_name_still_give_the_tool_its_options(before: tuple[str, ...]) -> None:
    """Before: `assistant tool --json sentiment --labels a,b TEXT` failed "No such option '--labels'"."""
    result = _invoke("tool", *before, "sentiment", "--labels", "a,A", "-m", MISSING_MODEL, "hi")
    assert "No such option" not in result.output
    assert result.exit_code == 1
    assert "sentiment labels must be distinct: 'a' and 'A' given twice" in result.output  # --labels was taken


# ---- 3. probabilities that sum to 1 in the JSON --------------------------------------------------------------
class FixedScores(FakeBackend):
    """Scores each candidate label with a fixed log-likelihood, in order."""

    def __init__(self, scores: list[float]) -> None:
        super().__init__(context_length=2048)
        self.load("fake-model")
        self.fixed = scores

    def score(self, prompt: Any, candidates: Any) -> list[float]:
        return list(self.fixed[: len(candidates)])


def test_the_json_probabilities_of_many_labels_sum_to_one() -> None:
    """Before: each was rounded on its own to 4 places: five labels summed to 1.0001, 200 to 0.9998."""
    labels = ["great", "good", "ok", "bad", "awful"]
    scores = [math.log(p) for p in (0.14374, 0.28084, 0.37344, 0.18734, 0.01464)]
    result = get_tool("sentiment").run("The soup was cold.", FixedScores(scores), labels=labels)
    shown = json.loads(result.to_json())["probabilities"]
    assert list(shown) == labels
    assert sum(round(value * 10_000) for value in shown.values()) == 10_000
    assert result.label == "ok" and max(shown, key=shown.__getitem__) == "ok"
    assert all(abs(shown[k] - result.probabilities[k]) < 1e-4 for k in labels)  # less than one unit moved


def test_two_hundred_labels_still_sum_to_one() -> None:
    weights = [1.0 + (index * 37 % 101) for index in range(200)]
    total = sum(weights)
    result = LabelResult("l0", {f"l{i}": w / total for i, w in enumerate(weights)})
    shown = result.to_dict()["probabilities"]
    assert len(shown) == 200
    assert sum(round(value * 10_000) for value in shown.values()) == 10_000
    one_hot = LabelResult("a", {"a": 1.0, "b": 0.0}, method="generation").to_dict()["probabilities"]
    assert one_hot == {"a": 1.0, "b": 0.0}


# ---- 4. labels the prompt cannot use ----------------------------------------------------------------------
@pytest.mark.parametrize("label", ["pos\x1b[31m", "po\rs", "a\tb", "x\x00y", "a\u2028b"])
def test_a_label_with_a_control_character_is_refused_before_a_model_loads(label: str) -> None:
    """Before: an escape sequence or tab pasted into a label was scored as part of it, after "Sentiment:"."""
    result = _invoke("sentiment", "--labels", f"{label},neg", "-m", MISSING_MODEL, "The soup was cold.")
    assert result.exit_code == 1
    assert "control characters" in result.output and repr(label) in result.output
    assert "\x1b" not in result.output


def test_a_duplicate_among_many_labels_is_named_alone() -> None:
    """Before: the message quoted the whole list: with 200 labels, one error was thousands of characters."""
    labels = [f"label{i}" for i in range(200)] + ["Label7"]
    with pytest.raises(ConfigError) as caught:
        get_tool("sentiment").resolve_params(labels=labels)
    message = str(caught.value)
    assert message == "sentiment labels must be distinct: 'label7' and 'Label7' given twice (case is ignored)"
    long = "x" * 500
    with pytest.raises(ConfigError) as caught:
        get_tool("sentiment").resolve_params(labels=[long, "y", long])
    assert len(str(caught.value)) < 150


# ---- 5. a plugin's parameter defaults ------------------------------------------------------------------------
def test_tools_json_lists_a_default_of_any_type_as_the_value_the_tool_gets() -> None:
    """Before: a plugin's `Parameter("where", default=Path("/tmp"))` made `tools --json` a TypeError traceback."""
    from pathlib import Path

    where = Parameter("where", default=Path("/tmp"))
    labels = Parameter("labels", "list", default=("a", "b"))
    assert where.to_dict()["default"] == "/tmp" and labels.to_dict()["default"] == ["a", "b"]
    assert json.dumps([where.to_dict(), labels.to_dict()])  # JSON, whatever the plugin wrote


ODD_PLUGIN = """
from pathlib import Path
from assistant import hookimpl
from assistant.tools import BaseTool, Parameter, TextResult

class Where(BaseTool):
    name = "where"
    description = "Says where."
    needs_model = False
    parameters = (Parameter("place", default=Path("/tmp")),)
    def run(self, text, params, backend):
        return TextResult(params["place"])

class Broken(BaseTool):
    name = "broken"
    description = "An int parameter whose default is no number."
    needs_model = False
    parameters = (Parameter("n", "int", default="x"),)
    def run(self, text, params, backend):
        return TextResult(text)

@hookimpl
def register_tools(register):
    register(Where())
    register(Broken())
"""


def test_a_plugin_default_of_another_type_lists_and_a_default_the_tool_refuses_is_named(assistant_home: Any) -> None:
    """Before: `tools --json` crashed on the Path default, and the bad int default surfaced only when
    `assistant broken TEXT` ran, as "parameter 'n' needs a whole number" with no word of whose it was."""
    plugins = assistant_home / "config" / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    (plugins / "odd_defaults.py").write_text(ODD_PLUGIN, encoding="utf-8")
    result = _invoke("tools", "--json")
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    where = next(tool for tool in listing["tools"] if tool["name"] == "where")
    assert where["parameters"][0]["default"] == "/tmp"
    assert "broken" not in {tool["name"] for tool in listing["tools"]}
    failure = " ".join(json.dumps(f) for f in listing["failures"])
    assert "tool 'broken' declares a default it refuses: parameter 'n' needs a whole number, got 'x'" in failure


def test_the_text_of_a_result_over_many_labels_lists_the_likeliest_and_counts_the_rest() -> None:
    """Before: 200 labels printed one line of some 3,000 characters, nearly all of them "0.00"."""
    weights = {f"l{i}": 2.0 ** -i for i in range(200)}
    total = sum(weights.values())
    text = LabelResult("l0", {k: v / total for k, v in weights.items()}).to_text()
    assert text.startswith("l0  (l0 0.50, l1 0.25, l2 0.1")
    assert text.endswith(", l9 0.00, and 190 more labels, none above 0.00)")
    assert len(text) < 200
    few = LabelResult("negative", {"positive": 0.14, "negative": 0.86}).to_text()
    assert few == "negative  (negative 0.86, positive 0.14)"  # a short list is unchanged


# ---- 6. a Parameter a plugin builds wrong is refused where it is built ---------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"help": None}, "parameter 'x': help must be a string, got NoneType"),
        ({"aliases": "target"}, "aliases must be a tuple of strings, got 'target'; for one, write ('target',)"),
        ({"type": "choice", "choices": ("a", 1)}, "choices must be a tuple of strings"),
    ],
)
def test_a_parameter_built_with_the_wrong_types_is_refused_when_built(kwargs: dict[str, Any], message: str) -> None:
    """Before: `Parameter("x", help=None)` made `assistant NAME`, its --help and `tool NAME` a TypeError
    traceback; `aliases="target"` made the names t, a, r, g, e, t."""
    with pytest.raises(ConfigError) as caught:
        Parameter("x", **kwargs)
    assert message in str(caught.value)


def test_a_plugin_with_such_a_parameter_is_a_named_failure_not_a_traceback(assistant_home: Any) -> None:
    plugins = assistant_home / "config" / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    (plugins / "nohelp.py").write_text(
        ODD_PLUGIN.replace('Parameter("place", default=Path("/tmp"))', 'Parameter("place", help=None)'),
        encoding="utf-8",
    )
    result = _invoke("tools", "--json")
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    failure = next(f for f in listing["failures"] if f["name"] == "nohelp")
    assert "parameter 'place': help must be a string, got NoneType" in json.dumps(failure)
    assert "sentiment" in {tool["name"] for tool in listing["tools"]}  # the other tools stay
