"""Round 11: the documentation as a promise, checked against the code it describes.

A new user copies what README.md and docs/*.md show: the Quick start commands, the
config file examples, the environment variables, the plugin example, the module
paths a page sends a reader to. Each test here reads the page as that user would
and checks that what it shows still exists and still does what it says, so a
renamed variable, a config key dropped or a broken example fails here instead of
in a user's terminal.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]


def _read(page: str) -> str:
    return (ROOT / page).read_text(encoding="utf-8")


def _fenced_blocks(page: str, language: str) -> list[tuple[int, str]]:
    """(first line number, text) of each ```LANGUAGE block of the page."""
    blocks: list[tuple[int, str]] = []
    lines = _read(page).splitlines()
    inside: list[str] | None = None
    start = 0
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if inside is None and stripped == f"```{language}":
            inside, start = [], number + 1
        elif inside is not None and stripped.startswith("```"):
            blocks.append((start, "\n".join(inside) + "\n"))
            inside = None
        elif inside is not None:
            inside.append(line)
    return blocks


def _section(page: str, heading: str) -> str:
    text = _read(page)
    body = text.split(f"\n{heading}\n", 1)[1]
    level = heading.split(" ", 1)[0]
    return re.split(rf"\n{level} ", body, maxsplit=1)[0]


# --- Quick start -------------------------------------------------------------------------


def _make_target(name: str) -> tuple[list[str], list[str]]:
    """(prerequisites, recipe lines) of a Makefile target."""
    lines = (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        match = re.match(rf"^{re.escape(name)}:(?!=)(.*)$", line)
        if match:
            prerequisites = match.group(1).split("##", 1)[0].split()
            recipe = []
            for following in lines[index + 1:]:
                if not following.startswith("\t"):
                    break
                recipe.append(following.strip())
            return prerequisites, recipe
    raise AssertionError(f"the Makefile has no target {name!r}")


def test_the_quick_start_is_two_commands_one_opening_the_chat_one_running_the_whole_suite() -> None:
    """README's Quick start promises a fresh clone two commands: set up and chat, then test everything."""
    block = _section("README.md", "## Quick start").split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]
    assert commands == ["make chat", "make test"]

    chat_needs, chat_runs = _make_target("chat")
    assert "setup" in chat_needs
    assert chat_runs == ["$(BIN)/assistant chat"]
    setup_needs, _ = _make_target("setup")
    assert "models" in setup_needs  # "fetches the default model"
    _, models_runs = _make_target("models")
    assert "$(BIN)/assistant models pull smollm2" in models_runs

    test_needs, test_runs = _make_target("test")
    assert {"setup", "test-models", "test-tools"} <= set(test_needs)  # models and tmux, as README says
    _, test_models_runs = _make_target("test-models")
    assert "$(BIN)/assistant models pull gemma3-270m" in test_models_runs
    pytest_lines = [line for line in test_runs if "pytest" in line]
    assert len(pytest_lines) == 1
    # the whole suite: no marker filter, no path that would leave tests out
    assert shlex.split(pytest_lines[0]) == ["$(BIN)/python", "-m", "pytest", "-q"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1].strip() == "make test"  # CI runs the README's command, nothing else


# --- Config examples ----------------------------------------------------------------------


def _config_blocks() -> list[tuple[str, int, str]]:
    """Every ```toml block that is an assistant config (not a package's pyproject.toml)."""
    found = []
    for page in PAGES:
        for line, text in _fenced_blocks(page, "toml"):
            if re.search(r"^\[project", text, re.MULTILINE):
                continue
            found.append((page, line, text))
    return found


def test_the_docs_show_config_examples_to_check() -> None:
    pages = {page for page, _, _ in _config_blocks()}
    assert {"README.md", "docs/backends.md", "docs/scale.md"} <= pages


@pytest.mark.parametrize(("page", "line", "text"), _config_blocks(), ids=lambda v: str(v)[:40])
def test_every_config_file_example_is_one_the_assistant_reads_without_a_complaint(
    page: str, line: int, text: str, assistant_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copied into config.toml as shown, each example loads: known keys, valid values, known options.

    A key the assistant no longer reads would only be a warning on every command, and a
    backend option it refuses an error at the first load: both are the page's fault.
    """
    from assistant.backends import available_backends, check_options
    from assistant.backends.openai.settings import resolve_settings
    from assistant.config import (
        batch_parallel,
        config_warnings,
        default_backend,
        engine_process_enabled,
        load_config,
        paths,
        remotes,
    )
    from assistant.options import build_params

    config = tomllib.loads(text)  # the example is TOML at all
    for table in config.get("remotes", {}).values():
        if "api_key_env" in table:
            monkeypatch.setenv(table["api_key_env"], "sk-example")
    paths().config_file.parent.mkdir(parents=True, exist_ok=True)
    paths().config_file.write_text(text, encoding="utf-8")
    where = f"{page}:{line}"

    assert load_config(), where
    assert config_warnings() == [], where
    build_params()  # [params]
    assert batch_parallel() >= 1
    engine_process_enabled()
    backends = available_backends()
    assert default_backend() in backends, where
    for name in config.get("backends", {}):
        assert name in backends, f"{where}: [backends.{name}] names no backend"
        check_options(name, {})  # the table's options, as load would get them
    for name in remotes():
        settings = resolve_settings(name, {})  # every value of the table checked; nothing connects
        assert settings.remote == name, where
    if "base_url" in config.get("backends", {}).get("openai", {}):
        resolve_settings("some-model", {})


def test_every_top_level_config_key_is_shown_in_a_config_example() -> None:
    """A key the config reads that no page shows in a config example is one users cannot find."""
    from assistant.config import KNOWN_KEYS

    shown: set[str] = set()
    for _, _, text in _config_blocks():
        shown |= set(tomllib.loads(text))
    assert KNOWN_KEYS - shown == set()


# --- Environment variables ----------------------------------------------------------------

_VARIABLE = re.compile(r"\bASSISTANT_[A-Z][A-Z_]*[A-Z]\b")


def test_the_environment_variables_the_docs_name_are_the_ones_the_code_reads() -> None:
    """Every ``ASSISTANT_*`` variable a page names is read somewhere, and every one read is documented."""
    documented = {name for page in PAGES for name in _VARIABLE.findall(_read(page))}
    read = set()
    for folder in ("assistant", "plugins"):
        for source in (ROOT / folder).rglob("*.py"):
            read |= set(re.findall(r"[\"'](ASSISTANT_[A-Z][A-Z_]*[A-Z])[\"']", source.read_text(encoding="utf-8")))
    assert documented - read == set(), "documented but read nowhere"
    assert read - documented == set(), "read but documented nowhere"


# --- Paths the pages send readers to ------------------------------------------------------


def test_every_source_file_a_page_names_exists() -> None:
    """``assistant/…/x.py``, ``tests/test_x.py``, ``scripts/x.py``: a reader opens them, so they must be there.

    A page may name a file by the tail of its path (``screens/layout_pass.py``,
    ``torch/backend.py``); that tail must be the end of a file in the repository.
    """
    files = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.py") if ".venv" not in p.parts]
    missing = []
    for page in PAGES:
        for name in set(re.findall(r"`([\w./-]+\.py)`", _read(page))):
            if "*" in name or name.startswith(("NAME", "x.py")):
                continue
            if not any(f == name or f.endswith("/" + name) for f in files):
                missing.append(f"{page}: {name}")
    assert missing == []


# --- The plugin example -------------------------------------------------------------------


def test_the_one_file_plugin_example_runs_as_the_page_shows(assistant_home: Path) -> None:
    """docs/plugins.md's ``shout.py``, saved in the plugins directory, gives the output the page prints."""
    section = _section("docs/plugins.md", "## A plugin in one file")
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    console = section.split("```console\n", 1)[1].split("```", 1)[0].splitlines()
    plugins = assistant_home / "config" / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "shout.py").write_text(code, encoding="utf-8")

    listed = run_cli("tools")
    assert listed.returncode == 0, listed.stderr
    shown = console[console.index("$ assistant tools") + 1]
    assert re.sub(r"\s+", " ", shown) in [re.sub(r"\s+", " ", line) for line in listed.stdout.splitlines()]

    command = next(line for line in console if line.startswith("$ assistant tool shout"))
    ran = run_cli(*shlex.split(command)[2:])
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == console[console.index(command) + 1]


def test_every_name_a_page_places_in_a_source_file_is_defined_there() -> None:
    """"`read_input_file` in `assistant/input_files.py`": the reader looks there, so the name must be there."""
    files = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.py") if ".venv" not in p.parts]
    checked, missing = 0, []
    placed = re.compile(r"((?:`\w+`(?:,\s*|\s+and\s+|\s+or\s+)?)+)\s+in\s+`([\w./-]+\.py)`")
    for page in PAGES:
        for names, path in placed.findall(_read(page)):
            sources = [ROOT / f for f in files if f == path or f.endswith("/" + path)]
            for name in re.findall(r"`(\w+)`", names):
                checked += 1
                if not any(re.search(rf"\b{name}\b", s.read_text(encoding="utf-8")) for s in sources):
                    missing.append(f"{page}: {name} in {path}")
    assert checked >= 10  # the pattern still finds the pages' references
    assert missing == []


# --- Python names the pages use -----------------------------------------------------------


def _resolve(dotted: str) -> object:
    """The object ``assistant.a.b.C`` names: the longest importable module, then attributes."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ImportError(dotted)


def test_every_assistant_name_a_page_imports_or_names_exists() -> None:
    """``from assistant.tools import BaseTool``, `assistant.terminal_text.visible_text`: each resolves."""
    names: set[tuple[str, str]] = set()
    for page in PAGES:
        text = _read(page)
        names |= {(page, n) for n in re.findall(r"`(assistant(?:\.\w+)+)(?:\(\))?`", text) if n != "assistant.json"}
        for _, block in _fenced_blocks(page, "python"):
            for module, imported in re.findall(r"^\s*from (assistant[\w.]*) import ([\w, ]+)$", block, re.MULTILINE):
                names |= {(page, f"{module}.{name.strip()}") for name in imported.split(",")}
    assert len(names) >= 30
    missing = []
    for page, name in sorted(names):
        try:
            _resolve(name)
        except (ImportError, AttributeError) as exc:
            missing.append(f"{page}: {name} ({exc})")
    assert missing == []


def test_every_member_a_page_names_on_a_class_of_the_project_exists() -> None:
    """`ChatSession.mode`, `Capabilities.max_parallel`, `Backend.check_options`: members of the classes named."""
    import importlib
    import inspect

    classes: dict[str, list[str]] = {}
    for source in (ROOT / "assistant").rglob("*.py"):
        module = ".".join(source.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for name in re.findall(r"^class (\w+)", source.read_text(encoding="utf-8"), re.MULTILINE):
            classes.setdefault(name, []).append(module)
    references = {
        (page, owner, member)
        for page in PAGES
        for owner, member in re.findall(r"`([A-Z]\w+)\.(\w+)(?:\([^`]*\))?`", _read(page))
        if owner in classes
    }
    assert len(references) >= 15
    missing = []
    for page, owner, member in sorted(references):
        found = False
        for module in classes[owner]:
            cls = getattr(importlib.import_module(module), owner)
            fields = {*getattr(cls, "__dataclass_fields__", {}), *getattr(cls, "__annotations__", {})}
            found = found or hasattr(cls, member) or member in fields
            found = found or bool(re.search(rf"self\.{member}\b", inspect.getsource(cls)))
        if not found:
            missing.append(f"{page}: {owner}.{member}")
    assert missing == []


# --- Links ---------------------------------------------------------------------------------


def _prose(page: str) -> str:
    """The page without fenced blocks and code spans (where ``[x](y)`` is an example, not a link)."""
    text = re.sub(r"^\s*```.*?^\s*```", "", _read(page), flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but ``-``/``_`` dropped, spaces made ``-``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_relative_link_and_anchor_leads_somewhere() -> None:
    """``[docs/tui.md](docs/tui.md)``, ``(templates.md#python-api)``, images: the file, and the heading, exist."""
    broken = []
    links = 0
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", _prose(page)):
            if re.match(r"[a-z]+:", target):
                continue
            links += 1
            path, _, anchor = target.partition("#")
            linked = (ROOT / page).parent / path if path else ROOT / page
            if not linked.exists():
                broken.append(f"{page}: {target} (no such file)")
                continue
            if not anchor:
                continue
            headings = re.findall(r"^#+ (.*)$", linked.read_text(encoding="utf-8"), re.MULTILINE)
            if anchor not in {_anchor(heading) for heading in headings}:
                broken.append(f"{page}: {target} (no such heading)")
    assert links >= 30
    assert broken == []


# --- Option lists ---------------------------------------------------------------------------


def _sampling_parameters() -> set[str]:
    """What ``-o`` takes as sampling parameters: GenerationParams' fields (the schema comes from --schema)."""
    import dataclasses

    from assistant.types import GenerationParams

    return {f.name for f in dataclasses.fields(GenerationParams)} - {"json_schema"}


@pytest.mark.parametrize(
    ("page", "start", "end"),
    [
        ("README.md", "`-o key=value` sets sampling parameters", "which"),
        ("docs/tui.md", "| `-o key=value` | sampling parameter", "or backend option"),
        ("docs/templates.md", "| `params` | Default sampling parameters", "each of its type"),
    ],
)
def test_each_list_of_sampling_parameters_is_the_whole_list(page: str, start: str, end: str) -> None:
    """The pages that list the sampling parameters list every one ``-o`` takes, and nothing else."""
    text = _read(page).replace("\n", " ")
    listed = text.split(start, 1)[1].split(end, 1)[0]
    assert set(re.findall(r"`([a-z_]+)`", listed)) == _sampling_parameters()


def test_the_remote_options_table_is_what_a_remote_table_and_the_openai_backend_take() -> None:
    """docs/backends.md's option table: every key of a ``[remotes.NAME]`` table, each ``server`` name."""
    from assistant.backends.openai.servers import PROFILES
    from assistant.backends.openai.settings import OPTION_KEYS
    from assistant.config import REMOTE_KEYS

    table = _section("docs/backends.md", "### Options").split("\n\n", 1)[0]
    rows = [line.split("|")[1:4] for line in table.splitlines() if line.startswith("| `")]
    documented = {name for first, _, _ in rows for name in re.findall(r"`([a-z_]+)`", first)}
    assert documented == set(REMOTE_KEYS) == OPTION_KEYS | {"model"}
    server = next(meaning for first, _, meaning in rows if "`server`" in first)
    assert set(re.findall(r"`([a-z.-]+)`", server)) == set(PROFILES)


# --- Template examples ---------------------------------------------------------------------


def _template_examples(page: str) -> list[tuple[int, str]]:
    return _fenced_blocks(page, "jinja") + _fenced_blocks(page, "yaml")


@pytest.mark.parametrize(
    ("page", "index"),
    [(page, i) for page in ("docs/templates.md", "docs/structured.md") for i in range(len(_template_examples(page)))],
)
def test_every_template_example_loads_and_renders(page: str, index: int, assistant_home: Path) -> None:
    """A ``.jinja`` example saved as a file is a template the assistant accepts, and it renders its input.

    The ``tests:`` fragment goes into a front matter declaring the variable it uses; the
    ``{% extends "letter" %}`` example gets a ``letter`` template of the user's to extend.
    """
    from assistant.templates import render_template, template_from_string

    text = _template_examples(page)[index][1]
    if text.startswith("tests:"):
        declared = "---\nvariables:\n  - input\n  - name: style\n    default: plain\n"
        text = declared + text + "---\n{{ style }}: {{ input }}\n"
    if '{% extends "letter" %}' in text:
        own = assistant_home / "config" / "templates"
        own.mkdir(parents=True)
        letter = "---\nvariables: [input]\n---\nDear reader,\n{% block content %}{{ input }}{% endblock %}\n"
        (own / "letter.jinja").write_text(letter, encoding="utf-8")
    template = template_from_string(text, name="example")
    if "name: style" in text:
        assert len(template.tests) == 4 and template.tests[0].vars == {"style": "terse"}
    if "type: json" in text:
        assert template.output.type == "json" and template.output.schema["required"] == ["name", "tags"]
    messages = render_template(template, input="the sea")
    assert messages[-1].role == "user" and "the sea" in messages[-1].content


def test_the_readme_names_every_hook_a_plugin_can_implement() -> None:
    """README's Plugins section lists the hooks of ``assistant/hookspecs.py``: all of them, and only them."""
    import inspect

    from assistant import hookspecs

    hooks = {
        name for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if function.__module__ == hookspecs.__name__ and name.startswith("register_")
    }
    assert set(re.findall(r"`(register_\w+)`", _section("README.md", "## Plugins"))) == hooks
