"""Template injection: every payload raises TemplateError and nothing runs; output is bounded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant.errors import TemplateError
from assistant.templates import load_template, render_template

# Each payload, if it escaped the sandbox, would create MARKER (or read secrets).
PAYLOADS = {
    "__class__ walk": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "__globals__ via a global": "{{ namespace.__init__.__globals__['os'].system('touch MARKER') }}",
    "cycler globals": "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "|attr filter": "{{ ''|attr('__class__')|attr('__mro__') }}",
    "|attr chained to os": "{{ (range|attr('__init__')|attr('__globals__'))['os'] }}",
    "str.format field access": "{{ '{0.__class__.__mro__}'.format('') }}",
    "str.format_map": "{{ '{x.__class__}'.format_map({'x': 1}) }}",
    "self template reference": "{{ self.__init__.__globals__ }}",
    "request-style getitem": "{{ ''['__class__'] }}",
    "joiner func_globals": "{{ joiner.__call__.__globals__ }}",
    "mutating a list": "{% set xs = [1] %}{{ xs.append(2) }}",
    "mutating a dict": "{% set d = {} %}{{ d.update({'a': 1}) }}",
    "private attribute": "{{ namespace()._Namespace__attrs }}",
    "loop internals": "{% for x in [1] %}{{ loop.__class__.__init__.__globals__ }}{% endfor %}",
    "function code object": "{{ range.__code__ }}",
}


def _write(directory: Path, body: str) -> None:
    (directory / "evil.jinja").write_text(f"---\nvariables: []\n---\n{body}\n", encoding="utf-8")


@pytest.mark.parametrize("payload", list(PAYLOADS.values()), ids=list(PAYLOADS))
def test_injection_payloads_raise_and_execute_nothing(
    payload: str, user_templates: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(user_templates, payload.replace("MARKER", str(tmp_path / "MARKER")))
    with pytest.raises(TemplateError) as err:
        render_template("evil")
    message = str(err.value)
    assert "evil.jinja:4: unsafe operation blocked by the template sandbox" in message, message
    assert not (tmp_path / "MARKER").exists()


def test_sandbox_errors_say_what_was_blocked(user_templates: Path) -> None:
    _write(user_templates, "{{ ''.__class__ }}")
    with pytest.raises(TemplateError, match=r"evil.jinja:4: unsafe operation blocked by the template sandbox"):
        render_template("evil")


def test_payload_in_the_system_prompt_is_blocked_too(user_templates: Path) -> None:
    (user_templates / "evil.jinja").write_text(
        "---\nvariables: []\nsystem: \"{{ ''.__class__.__mro__ }}\"\n---\nhi\n", encoding="utf-8"
    )
    with pytest.raises(TemplateError, match="unsafe"):
        render_template("evil")


def test_payload_in_an_include_is_blocked(user_templates: Path) -> None:
    (user_templates / "_part.jinja").write_text("{{ ''.__class__.__mro__ }}", encoding="utf-8")
    _write(user_templates, "{% include '_part' %}")
    with pytest.raises(TemplateError, match="_part.jinja:1: unsafe"):
        render_template("evil")


@pytest.mark.parametrize(
    "body",
    [
        "{{ 'x' * 100000000 }}",
        "{{ [0] * 100000000 }}",
        "{{ 10 ** 100000000 }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ 'x'|center(999999999) }}",
        "{{ 'x'|indent(999999999, true) }}",
        "{{ '%0999999999d'|format(1) }}",
    ],
)
def test_allocation_bombs_are_refused_before_they_run(user_templates: Path, body: str) -> None:
    _write(user_templates, body)
    with pytest.raises(TemplateError, match="refused by the template sandbox"):
        render_template("evil")


def test_rendered_output_is_capped(user_templates: Path) -> None:
    _write(user_templates, "{% for i in range(100000) %}{{ 'abcdefghij' * 10 }}{% endfor %}")
    with pytest.raises(TemplateError, match="exceeds 1,000,000 characters"):
        render_template("evil")
    with pytest.raises(TemplateError, match="exceeds 50 characters"):
        render_template("evil", max_chars=50)


def test_a_huge_input_counts_against_the_cap(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "echo.jinja", "---\nvariables: [input]\n---\n{{ input }}\n")
    assert render_template("echo", input="x" * 100, max_chars=100)[0].content == "x" * 100
    with pytest.raises(TemplateError, match="exceeds"):
        render_template("echo", input="x" * 101, max_chars=100)


def test_normal_python_string_methods_still_work(user_templates: Path) -> None:
    _write(user_templates, "{{ 'a,b'.split(',')|join('+') }} {{ 'Hi'.upper() }} {{ '%s=%d'|format('n', 3) }} {{ 2 ** 10 }}")
    assert render_template("evil")[0].content == "a+b HI n=3 1024"


def test_include_cannot_escape_the_template_directories(user_templates: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("SECRET")
    _write(user_templates, "{% include '../../../secret.txt' %}")
    with pytest.raises(TemplateError, match="not found"):
        render_template("evil")
    assert load_template("evil")  # loading is fine; only rendering reaches for the file


def test_a_symbolic_link_cannot_lead_an_include_or_a_template_out_of_its_directory(
    user_templates: Path, tmp_path: Path
) -> None:
    """A cloned template pack's ``_footer.jinja -> ~/.ssh/id_rsa`` pulled the file into the prompt."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jinja").write_text("SECRET")
    (user_templates / "_footer.jinja").symlink_to(outside / "secret.jinja")
    (user_templates / "parts").mkdir()
    (user_templates / "parts" / "linked").symlink_to(outside, target_is_directory=True)
    (user_templates / "leak.jinja").symlink_to(outside / "secret.jinja")
    for include in ("_footer", "parts/linked/secret.jinja"):
        _write(user_templates, f"{{% include '{include}' %}}")
        with pytest.raises(TemplateError, match="symbolic link leading outside") as err:
            render_template("evil")
        assert "SECRET" not in str(err.value)
    with pytest.raises(TemplateError, match="symbolic link leading outside"):
        load_template("leak")
    # A link that stays inside the directory is an ordinary alias.
    (user_templates / "_real.jinja").write_text("inner")
    (user_templates / "_alias.jinja").symlink_to(user_templates / "_real.jinja")
    _write(user_templates, "{% include '_alias' %}")
    assert render_template("evil")[0].content == "inner"
