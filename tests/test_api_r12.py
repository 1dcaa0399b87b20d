"""Round 12, the Python API: arguments a script gets wrong, refused in one line before anything loads."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.compare import Side, compare
from assistant.errors import ConfigError
from assistant.types import GenerationParams

TWO = [Side("llama-cpp", "smollm2"), Side("transformers", "smollm2")]


def _never_load(*args: object, **kwargs: object) -> None:
    raise AssertionError("a side was loaded for arguments that were wrong from the start")


@pytest.mark.parametrize("top_k", [0, -1, 21, "5", 2.0, True, None])
def test_compare_refuses_a_top_k_out_of_range_before_either_side_runs(
    monkeypatch: pytest.MonkeyPatch, top_k: object
) -> None:
    # top_k=0 ran both engines, then failed with ZeroDivisionError while measuring the overlap;
    # top_k=50 failed as "logprobs must be at most 20", which names nothing the caller passed.
    monkeypatch.setattr("assistant.compare.run_engine", _never_load)
    monkeypatch.setattr("assistant.compare.check_side", _never_load)
    with pytest.raises(ConfigError, match=r"^compare's top_k must be a whole number from 1 to 20, not ") as info:
        compare("Hi", GenerationParams(), TWO, top_k=top_k)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "sides",
    [TWO[:1], TWO * 2, "ab", ["llama-cpp", "transformers"], None],
)
def test_compare_refuses_wrong_sides_with_an_assistant_error(monkeypatch: pytest.MonkeyPatch, sides: object) -> None:
    # one side was a bare ValueError, outside assistant.errors; names instead of Sides failed deep inside
    monkeypatch.setattr("assistant.compare.run_engine", _never_load)
    monkeypatch.setattr("assistant.compare.check_side", _never_load)
    with pytest.raises(ConfigError, match=r"^compare"):
        compare("Hi", GenerationParams(), sides)  # type: ignore[arg-type]


def test_compare_still_takes_two_sides_and_a_top_k_in_range(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    def fake_run(side: Side, prompt: object, params: GenerationParams, progress: object, on_engine: object) -> object:
        from assistant.compare import EngineRun

        ran.append(side.backend)
        return EngineRun(side.backend, side.model, "Paris.", [1, 2], ["Par", "is."], [7], "stop", None, None, 0.0,
                         top=[[1, 3], [2, 4]], top_tokens=[["Par", "x"], ["is.", "y"]])

    monkeypatch.setattr("assistant.compare.run_engine", fake_run)
    monkeypatch.setattr("assistant.compare.check_side", lambda side: None)
    monkeypatch.setattr("assistant.compare.check_sides_options", lambda sides: None)
    runs, agreement = compare("Hi", GenerationParams(), tuple(TWO), top_k=20)
    assert ran == ["llama-cpp", "transformers"]
    assert agreement.first_difference is None and agreement.top_k == 20



def _type_checking_imports(tree: ast.AST) -> dict[str, str]:
    """``{name: module}`` of the ``from .module import name`` statements under ``if TYPE_CHECKING:``."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom):
                    for alias in statement.names:
                        assert alias.asname in (None, alias.name)
                        found[alias.name] = f"assistant.{statement.module}"
    return found


def test_type_checkers_see_every_lazy_name_of_the_package_as_what_it_is() -> None:
    # `from assistant import ChatSession` was typed Any (module __getattr__): mypy passed
    # `session.sned("hi")` and editors completed nothing. Each lazy name is now imported for
    # checkers only, from the very module it is loaded from at run time, as an explicit re-export.
    import assistant

    source = Path(assistant.__file__).read_text(encoding="utf-8")
    imports = _type_checking_imports(ast.parse(source))
    assert imports == assistant._LAZY
    assert re.findall(r"import (\w+) as (\w+)", source) == [(name, name) for name in imports]
    for name, module in imports.items():
        assert getattr(assistant, name) is getattr(importlib.import_module(module), name)


def test_the_package_is_marked_typed_for_scripts_that_run_a_type_checker() -> None:
    # Without py.typed, mypy on a script said 'Skipping analyzing "assistant": module is installed,
    # but missing library stubs or py.typed marker' and typed the whole API as Any.
    import assistant

    assert (Path(assistant.__file__).parent / "py.typed").is_file()


def test_chat_session_signature_for_checkers_matches_the_dataclass_and_takes_a_mapping() -> None:
    # The README's ChatSession(backend, params={"temperature": 0}) runs, but the generated
    # __init__ typed params as GenerationParams only: the documented call failed mypy.
    import dataclasses

    from assistant import session

    tree = ast.parse(Path(session.__file__).read_text(encoding="utf-8"))
    cls = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "ChatSession")
    declared = next(
        f for n in cls.body if isinstance(n, ast.If) for f in n.body
        if isinstance(f, ast.FunctionDef) and f.name == "__init__"
    )  # fmt: skip
    names = [a.arg for a in declared.args.args[1:]]
    assert names == [f.name for f in dataclasses.fields(session.ChatSession) if f.init]
    params = next(a for a in declared.args.args if a.arg == "params")
    assert "Mapping" in ast.unparse(params.annotation)
    assert "__init__" in vars(session.ChatSession)  # the dataclass still writes the real one at run time
    assert list(inspect.signature(session.ChatSession).parameters) == names


def test_import_assistant_stays_light_with_the_checker_only_imports() -> None:
    code = (
        "import sys, assistant\n"
        "heavy = {'torch', 'transformers', 'llama_cpp', 'textual', 'numpy', 'assistant.session',"
        " 'assistant.backends', 'assistant.templates', 'assistant.tools'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_send_is_typed_as_the_generator_it_is_so_a_script_may_close_it() -> None:
    # The refusal of a second send says "close() it", but send() was typed Iterator[Chunk]:
    # mypy rejected `reply.close()` ('"Iterator[Chunk]" has no attribute "close"').
    import collections.abc
    import typing

    from assistant.session import ChatSession

    hints = typing.get_type_hints(ChatSession.send)
    assert typing.get_origin(hints["return"]) is collections.abc.Generator
    from assistant.backends.fake import FakeBackend

    backend = FakeBackend(reply="x")
    backend.load("m")
    reply = ChatSession(backend).send("hi")  # checked at the call since round 20, so no generator function
    assert inspect.isgenerator(reply)
    reply.close()
