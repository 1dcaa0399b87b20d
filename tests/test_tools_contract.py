"""The tool contract: parameters, results, the registry, and failure isolation naming the plugin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.backends.fake import FakeBackend
from assistant.errors import ConfigError, ToolError
from assistant.hookspecs import hookimpl
from assistant.plugins import list_plugins, plugin_failures, register_plugin
from assistant.tools import (
    BaseTool,
    EntitiesResult,
    Entity,
    LabelResult,
    Parameter,
    SummaryResult,
    TextResult,
    TranslationResult,
    available_tools,
    get_tool,
)
from assistant.tools.base import ParameterSet

FIRST_PARTY = {"summarize", "translate", "ner", "sentiment"}


@pytest.fixture
def fake() -> FakeBackend:
    backend = FakeBackend()
    backend.load("fake-model")
    return backend


class EchoTool(BaseTool):
    name = "echo"
    description = "Return the input."
    parameters = (Parameter("upper", "bool", default=False),)

    def run(self, text: str, params: Any, backend: Any) -> TextResult:
        return TextResult(text.upper() if params["upper"] else text)


class ToolsPlugin:
    """A runtime plugin registering the given tool objects."""

    def __init__(self, *tools: Any) -> None:
        self.tools = tools

    @hookimpl
    def register_tools(self, register: Any) -> None:
        for tool in self.tools:
            register(tool)


# ---- registry -------------------------------------------------------------------------------
def test_first_party_tools_are_plugins_from_the_shipped_directory() -> None:
    tools = available_tools()
    assert FIRST_PARTY <= set(tools)
    sources = {p["name"]: p["source"] for p in list_plugins()}
    for name in FIRST_PARTY:
        assert tools[name].plugin == name
        assert Path(sources[name]).parent.name == "plugins", "first-party tools load like dir plugins"
        assert tools[name].description and "\n" not in tools[name].description
        assert tools[name].templates, "a tool names the prompts it uses"


def test_get_tool_is_public_api_and_unknown_names_list_the_known(fake: FakeBackend) -> None:
    from assistant import get_tool as public_get_tool

    assert public_get_tool("sentiment").name == "sentiment"
    with pytest.raises(ToolError, match="unknown tool 'nope'.*sentiment"):
        get_tool("nope")


def test_no_tools_when_plugins_are_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.plugins import reset_plugins

    monkeypatch.setenv("ASSISTANT_PLUGINS", "")
    reset_plugins()
    assert available_tools() == {}


def test_a_later_plugin_replaces_a_first_party_tool_by_name(fake: FakeBackend) -> None:
    class MySummarize(EchoTool):
        name = "summarize"

    register_plugin(ToolsPlugin(MySummarize()), name="my-summarize")
    tool = get_tool("summarize")
    assert tool.plugin == "my-summarize"
    assert tool.run("abc", fake).to_text() == "abc"


# ---- failure isolation -----------------------------------------------------------------------
def test_a_plugin_whose_hook_raises_is_named_and_the_others_keep_working(fake: FakeBackend) -> None:
    class Broken:
        @hookimpl
        def register_tools(self, register: Any) -> None:
            raise RuntimeError("boom in register")

    register_plugin(Broken(), name="broken-plugin")
    tools = available_tools()
    assert FIRST_PARTY <= set(tools)
    failure = [f for f in plugin_failures() if f.name == "broken-plugin"]
    assert failure and failure[0].stage == "register_tools" and "boom in register" in failure[0].error
    assert get_tool("sentiment").run("good", fake).label in ("positive", "negative")


def test_a_tool_that_raises_is_reported_with_its_plugin_name(fake: FakeBackend) -> None:
    class Crashing(BaseTool):
        name = "crashy"
        description = "Always fails."

        def run(self, text: str, params: Any, backend: Any) -> TextResult:
            raise ValueError("bad things")

    register_plugin(ToolsPlugin(Crashing()), name="crash-plugin")
    with pytest.raises(ToolError, match=r"tool 'crashy' \(plugin 'crash-plugin'\) failed: ValueError: bad things") as info:
        get_tool("crashy").run("x", fake)
    assert isinstance(info.value.__cause__, ValueError)
    assert get_tool("sentiment").run("fine", fake).label in ("positive", "negative")


@pytest.mark.parametrize(
    "bad, message",
    [
        (object(), "tool name"),
        (type("NoRun", (), {"name": "norun", "description": "x"})(), "no run"),
        (type("BadName", (), {"name": "Bad Name", "description": "x", "run": lambda *a: None})(), "tool name"),
        (type("BadParams", (), {"name": "bp", "description": "x", "run": lambda *a: None, "parameters": ("x",)})(),
         "Parameter"),
    ],
)
def test_invalid_registrations_are_the_plugins_failure(bad: Any, message: str) -> None:
    register_plugin(ToolsPlugin(bad), name="bad-tool-plugin")
    assert FIRST_PARTY <= set(available_tools())
    failure = [f for f in plugin_failures() if f.name == "bad-tool-plugin"]
    assert failure and message in failure[0].error


def test_results_are_checked(fake: FakeBackend) -> None:
    class ReturnsStr(EchoTool):
        name = "strtool"

        def run(self, text: str, params: Any, backend: Any) -> Any:
            return "plain"

    class ReturnsInt(EchoTool):
        name = "inttool"

        def run(self, text: str, params: Any, backend: Any) -> Any:
            return 42

    register_plugin(ToolsPlugin(ReturnsStr(), ReturnsInt()), name="odd-results")
    assert get_tool("strtool").run("x", fake).to_dict() == {"text": "plain"}
    with pytest.raises(ToolError, match="'inttool' \\(plugin 'odd-results'\\) returned int"):
        get_tool("inttool").run("x", fake)


def test_progress_is_passed_only_to_tools_that_accept_it(fake: FakeBackend) -> None:
    seen: list[str] = []

    class WithProgress(EchoTool):
        name = "withprogress"

        def run(self, text: str, params: Any, backend: Any, progress: Any = None) -> TextResult:
            progress(1, 1, "done")
            return TextResult(text)

    register_plugin(ToolsPlugin(WithProgress(), EchoTool()), name="progress-plugin")
    report = lambda done, total, message: seen.append(message)  # noqa: E731
    get_tool("withprogress").run("x", fake, progress=report)
    get_tool("echo").run("x", fake, progress=report)  # EchoTool.run has no progress argument
    assert seen == ["done"]


def test_the_default_backend_is_loaded_when_none_is_given(fake_backend: None, assistant_home: Path) -> None:
    config = assistant_home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text('default_backend = "fake"\ndefault_model = "anything"\n')
    register_plugin(ToolsPlugin(EchoTool()), name="echo-plugin")
    tool = get_tool("echo")
    assert tool.run("hi", upper=True).to_text() == "HI"
    assert tool.default_backend().name == "fake"


# ---- parameters ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind, raw, expected",
    [
        ("int", "3", 3),
        ("float", "0.5", 0.5),
        ("bool", "yes", True),
        ("bool", "off", False),
        ("bool", True, True),
        ("str", 5, "5"),
        ("list", "A, B, C", ["A", "B", "C"]),
        ("list", ("x", "y"), ["x", "y"]),
    ],
)
def test_parameter_coercion(kind: str, raw: Any, expected: Any) -> None:
    assert Parameter("p", kind).coerce(raw) == expected


@pytest.mark.parametrize("kind, raw", [("int", "three"), ("float", "x"), ("bool", "maybe"), ("list", " , "), ("int", True)])
def test_bad_parameter_values_name_the_parameter(kind: str, raw: Any) -> None:
    with pytest.raises(ConfigError, match="'p'"):
        Parameter("p", kind).coerce(raw)


def test_choice_parameters_are_case_insensitive_and_checked() -> None:
    length = Parameter("length", "choice", choices=("sentence", "short"))
    assert length.coerce("SHORT") == "short"
    with pytest.raises(ConfigError, match="one of sentence, short"):
        length.coerce("long")
    with pytest.raises(ConfigError):
        Parameter("x", "choice")
    with pytest.raises(ConfigError):
        Parameter("x", "matrix")


def test_parameter_sets_fill_defaults_resolve_aliases_and_reject_unknowns() -> None:
    declared = ParameterSet(
        "translate",
        (Parameter("to", required=True), Parameter("source", default="auto", aliases=("from",))),
    )
    assert declared.resolve({"to": "fr"}) == {"to": "fr", "source": "auto"}
    assert declared.resolve({"to": "fr", "from": "de"}) == {"to": "fr", "source": "de"}
    with pytest.raises(ConfigError, match="needs the parameter 'to'"):
        declared.resolve({})
    with pytest.raises(ConfigError, match="no parameter 'colour'.*to, source"):
        declared.resolve({"to": "fr", "colour": "red"})
    with pytest.raises(ConfigError, match="given twice"):
        declared.resolve({"to": "fr", "source": "de", "from": "it"})


def test_keyword_parameters_in_the_python_api(fake: FakeBackend) -> None:
    tool = get_tool("translate")
    assert tool.resolve_params(to="fr", from_="German") == {"to": "French", "source": "German"}  # the check's spelling
    with pytest.raises(ConfigError):
        tool.run("hello", fake)  # no target language
    with pytest.raises(ConfigError, match="needs text"):
        tool.run(b"bytes", fake, to="fr")  # type: ignore[arg-type]


# ---- results ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "result",
    [
        TextResult("hello"),
        SummaryResult("A summary.", "short", chunks=3, rounds=2),
        TranslationResult("Bonjour", "auto", "French"),
        EntitiesResult([Entity("Paris", "LOCATION", 3, 8, 0.9)], ["LOCATION"]),
        EntitiesResult([], ["PERSON"]),
        LabelResult("positive", {"positive": 0.75, "negative": 0.25}),
    ],
)
def test_results_serialise_to_json_and_render_as_text(result: Any) -> None:
    data = json.loads(result.to_json())
    assert data == json.loads(json.dumps(result.to_dict()))
    assert isinstance(result.to_text(), str) and result.to_text()
    assert str(result) == result.to_text()


def test_tool_descriptions_serialise() -> None:
    data = json.loads(json.dumps([t.to_dict() for t in available_tools().values()]))
    translate = next(t for t in data if t["name"] == "translate")
    to = next(p for p in translate["parameters"] if p["name"] == "to")
    assert to["required"] is True and to["type"] == "str"


# ---- templates ---------------------------------------------------------------------------------
def test_every_template_a_tool_names_exists_and_loads() -> None:
    from assistant.templates import load_template

    for tool in available_tools().values():
        for name in tool.templates:
            assert load_template(name).description, f"{tool.name}: template {name}"


def test_a_users_template_overrides_the_tools_prompt(assistant_home: Path, fake: FakeBackend) -> None:
    templates = assistant_home / "config" / "templates"
    templates.mkdir(parents=True)
    (templates / "summarize.jinja").write_text(
        "---\nvariables: [input, length]\n---\nCondense this ({{ length }}): {{ input }}\n", encoding="utf-8"
    )
    words = "Some words, enough of them to be worth a summary: twelve or more in all."
    result = get_tool("summarize").run(words, fake, length="sentence")
    assert result.summary.startswith("Echo: Condense this (sentence): Some words, enough")


def test_numeric_parameters_refuse_values_below_their_minimum_and_non_finite_floats() -> None:
    from assistant.tools import Parameter

    count = Parameter("chunk_tokens", "int", default=2048, minimum=0)
    assert count.coerce("0") == 0 and count.coerce(5) == 5
    with pytest.raises(ConfigError, match="'chunk_tokens' must be at least 0, not -5"):
        count.coerce("-5")
    share = Parameter("share", "float")
    for bad in ("nan", "inf", "-inf"):
        with pytest.raises(ConfigError, match="needs a number"):
            share.coerce(bad)
    with pytest.raises(ConfigError, match="at least 0"):
        get_tool("summarize").resolve_params({"chunk_tokens": -5})
    with pytest.raises(ConfigError, match="chunk_tokens must be 0 .* or at least 64, not 1"):
        get_tool("summarize").resolve_params({"chunk_tokens": 1})  # one-token parts: thousands of calls
    assert get_tool("summarize").resolve_params({"chunk_tokens": 64})["chunk_tokens"] == 64


def test_a_parameter_check_refuses_a_value_before_any_model_runs() -> None:
    translate = get_tool("translate")
    with pytest.raises(ConfigError, match="unknown language code 'zz'"):
        translate.resolve_params({"to": "zz"})
    with pytest.raises(ConfigError, match="unknown language code 'xx'"):
        translate.resolve_params({"to": "fr", "from": "xx"})
    assert translate.resolve_params({"to": "fr", "from": "auto"})["source"] == "auto"
