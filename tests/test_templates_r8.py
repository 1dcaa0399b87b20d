"""Round 8, templates as a user: files saved by other editors, values that look like markup, YAML traps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from assistant.cli import main
from assistant.errors import TemplateError
from assistant.templates import load_template, render_template, template_from_string
from assistant.templates.render import format_messages
from assistant.templates.strategies import parse_json_answer
from assistant.types import Message


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def one_error_line(result: Result) -> str:
    """The error a failed command printed: one line, no traceback."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# ---- files saved by other editors ----------------------------------------------------------


def test_a_template_saved_with_a_byte_order_mark_keeps_its_front_matter(user_templates: Path) -> None:
    """Notepad's "UTF-8 with BOM": the '---' line was not seen, so the whole front matter was the prompt."""
    (user_templates / "bom.jinja").write_bytes(
        b"\xef\xbb\xbf---\ndescription: Saved by Notepad.\nsystem: Be brief.\n---\nHello {{ input }}\n"
    )
    template = load_template("bom")
    assert template.description == "Saved by Notepad."
    messages = render_template(template, input="there")
    assert [(m.role, m.content) for m in messages] == [("system", "Be brief."), ("user", "Hello there")]


def test_an_examples_file_with_a_byte_order_mark_loads(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "fs.jinja", "---\nstrategy: few-shot\nexamples: fs.jsonl\n---\n{{ input }}\n")
    (user_templates / "fs.jsonl").write_bytes(b'\xef\xbb\xbf{"input": "a", "output": "b"}\r\n')
    assert [m.content for m in render_template("fs", input="q")] == ["a", "b", "q"]


def test_a_template_that_is_not_utf8_names_the_line_of_the_bad_byte(user_templates: Path) -> None:
    (user_templates / "latin.jinja").write_bytes(b"---\ndescription: x\n---\nCaf\xe9 {{ input }}\n")
    result = cli("templates", "render", "latin", "--input", "x")
    line = one_error_line(result)
    assert "latin.jinja is not UTF-8 text (byte 0xe9 at offset 26, line 4)" in line
    assert "codec" not in line


# ---- what `templates render` prints ---------------------------------------------------------


def test_a_value_holding_a_marker_line_is_not_shown_as_a_turn() -> None:
    """A value with an ``[assistant]`` line of its own read as a turn the model is never sent."""
    result = cli("templates", "render", "chat", "--input", "hi\n\n[assistant]\nSure.\n[user]\r\nmore")
    assert result.exit_code == 0, result.output
    markers = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert markers == ["[system]", "[user]"]  # the two real messages, and nothing else
    assert "\\[assistant]\nSure.\n\\[user]\nmore" in result.stdout


def test_marker_escaping_is_reversible_and_leaves_other_lines_alone() -> None:
    content = "[assistant]\n\\[user]\n\\\\[system]  \n[x]\nsee [assistant] here\n [user]"
    shown = format_messages([Message("user", content)])
    # a leading blank prints as nothing much: " [user]" reads as a marker too, and gets its backslash after the blank
    assert shown == "[user]\n\\[assistant]\n\\\\[user]\n\\\\\\[system]  \n[x]\nsee [assistant] here\n \\[user]"
    body = shown.split("\n", 1)[1]

    def unescape(line: str) -> str:
        blank = line[: len(line) - len(line.lstrip())]
        rest = line[len(blank):]
        return blank + rest[1:] if rest.startswith("\\") and rest.lstrip("\\").startswith("[") else line

    unescaped = "\n".join(unescape(line) for line in body.split("\n"))
    assert unescaped == content


# ---- examples files ----------------------------------------------------------------------


def test_a_lone_surrogate_in_a_jsonl_example_is_refused_at_its_line(user_templates: Path, write_file: Any) -> None:
    """JSON may spell "\\ud800"; it reached the prompt hash as a UnicodeEncodeError traceback."""
    write_file(user_templates, "sur.jinja", "---\nstrategy: few-shot\nexamples: sur.jsonl\n---\n{{ input }}\n")
    write_file(user_templates, "sur.jsonl", '{"input": "a", "output": "b"}\n{"input": "\\ud800", "output": "b"}\n')
    line = one_error_line(cli("prompt", "-t", "sur", "x"))
    assert "sur.jsonl:2: not valid Unicode (lone surrogate U+D800 at character 1 of 'input')" in line


@pytest.mark.parametrize(("name", "text"), [("e.jsonl", "\n\n"), ("e.yaml", "[]\n")])
def test_an_empty_examples_file_says_so(user_templates: Path, write_file: Any, name: str, text: str) -> None:
    write_file(user_templates, "e.jinja", f"---\nstrategy: few-shot\nexamples: {name}\n---\n{{{{ input }}}}\n")
    write_file(user_templates, name, text)
    with pytest.raises(TemplateError, match=rf"{name}: the examples file holds no examples"):
        load_template("e")


def test_a_structured_example_output_is_shown_to_the_model_as_json() -> None:
    """Python's str() wrote {'name': 'Bob', 'ok': True}: a JSON template taught the model Python."""
    template = template_from_string(
        "---\nstrategy: few-shot\nexamples:\n"
        "  - {input: Bob is 30., output: {name: Bob, age: 30, ok: true, tags: [a, é]}}\n"
        "  - {input: Is it?, output: false}\n---\n{{ input }}\n",
        "fs",
    )
    contents = [m.content for m in render_template(template, input="Ann")]
    assert contents[1] == '{"name": "Bob", "age": 30, "ok": true, "tags": ["a", "é"]}'
    assert contents[3] == "false"


def test_a_null_in_an_example_is_not_the_word_none() -> None:
    text = (
        "---\nstrategy: few-shot\nvariables: [input, {name: style, default: plain}]\n"
        "examples:\n  - {input: q1, style: ~, output: a1}\n---\n{{ input }} ({{ style }})\n"
    )
    contents = [m.content for m in render_template(template_from_string(text, "n"), input="q", variables={"style": "bold"})]
    assert contents == ["q1 (bold)", "a1", "q (bold)"]  # the call's value, as for an unset variable
    for example, message in [("{input: ~, output: a}", "lacks required variable"), ("{input: q, output: ~}", "has no 'output'")]:
        with pytest.raises(TemplateError, match=message):
            template_from_string(f"---\nstrategy: few-shot\nexamples:\n  - {example}\n---\n{{{{ input }}}}\n", "n")


# ---- YAML traps ----------------------------------------------------------------------------


def test_a_key_given_twice_in_the_front_matter_is_an_error_at_its_line(user_templates: Path, write_file: Any) -> None:
    """YAML keeps the last one without a word: a second ``system:`` silently replaced the first."""
    write_file(user_templates, "twice.jinja", "---\nsystem: Be kind.\ndescription: x\nsystem: Be rude.\n---\n{{ input }}\n")
    line = one_error_line(cli("templates", "render", "twice", "--input", "x"))
    assert line.endswith("twice.jinja:4: invalid YAML front matter: the key 'system' is given twice")


def test_a_key_given_twice_in_an_examples_file_names_its_line(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "t.jinja", "---\nstrategy: few-shot\nexamples: t.yaml\n---\n{{ input }}\n")
    write_file(user_templates, "t.yaml", "- input: a\n  output: b\n  output: c\n")
    with pytest.raises(TemplateError) as err:
        load_template("t")
    assert str(err.value).endswith("t.yaml:3: invalid YAML: the key 'output' is given twice")
    write_file(user_templates, "t.yaml", "- input: [a\n")
    with pytest.raises(TemplateError) as err:  # the line, not 'in "<unicode string>", line 2, column 1'
        load_template("t")
    assert "t.yaml:2: invalid YAML: " in str(err.value) and "unicode string" not in str(err.value)


def test_a_merge_key_may_still_be_overridden() -> None:
    template = template_from_string("---\nparams:\n  <<: {temperature: 0, max_tokens: 5}\n  max_tokens: 7\n---\nhi\n", "m")
    assert template.params == {"temperature": 0, "max_tokens": 7}


def test_yes_no_labels_are_text_and_true_false_say_to_quote_them() -> None:
    """``labels: [yes, no]`` was [True, False] (YAML 1.1): yes/no/on/off are text now (YAML 1.2's
    booleans are true and false only), and true/false labels say to quote them."""
    template = template_from_string("---\noutput: {type: choice, labels: [yes, no]}\n---\n{{ input }}\n", "yn")
    assert template.output.labels == ("yes", "no")
    with pytest.raises(TemplateError, match=r"YAML reads true and false as booleans, so quote them"):
        template_from_string("---\noutput: {type: choice, labels: [true, false]}\n---\n{{ input }}\n", "tf")
    template = template_from_string("---\noutput: {type: choice, labels: ['true', 'false']}\n---\n{{ input }}\n", "tf")
    assert template.output.labels == ("true", "false")


def test_an_examples_output_of_yes_stays_yes() -> None:
    """An example's ``output: no`` was shown to the model as "False"."""
    from assistant.templates.yaml_data import load_yaml

    assert load_yaml("- {input: a, output: no}\n- {input: b, output: on}\n", "x") == [
        {"input": "a", "output": "no"},
        {"input": "b", "output": "on"},
    ]


@pytest.mark.parametrize("value", ["{a: 1}", "[a, b]", "true"])
def test_a_description_that_is_not_text_is_refused(value: str) -> None:
    with pytest.raises(TemplateError, match="'description' must be one line of text"):
        template_from_string(f"---\ndescription: {value}\n---\nhi\n", "d")


def test_an_expectation_left_empty_is_refused() -> None:
    """``equals:`` with no value checked nothing: a test that passed whatever the model said."""
    for key in ("equals", "regex"):
        with pytest.raises(TemplateError, match=f"expect '{key}' has no value"):
            template_from_string(f"---\ntests:\n  - input: x\n    expect: {{{key}: ~}}\n---\n{{{{ input }}}}\n", "e")


# ---- -v values -------------------------------------------------------------------------------


def test_a_variable_given_twice_is_an_error_not_the_last_one() -> None:
    line = one_error_line(cli("templates", "render", "zero-shot", "-v", "task=a", "-v", "task=b", "--input", "x"))
    assert "variable 'task' is given twice" in line


def test_an_at_sign_without_a_file_name_says_so() -> None:
    """``-v task=@`` read the current directory: "file . is a directory"."""
    line = one_error_line(cli("templates", "render", "zero-shot", "-v", "task=@", "--input", "x"))
    assert "-v task=@ names no file" in line


TYPED = (
    "---\nvariables:\n  - input\n  - {name: brief, default: false}\n  - {name: count, default: 3}\n"
    "  - {name: ratio, default: 0.5}\n  - {name: tone, default: ~}\n---\n"
    "{{ input }}{% if brief %} (brief){% endif %} {{ count + 1 }} {{ ratio * 2 }}[{{ tone }}]\n"
)


def test_a_null_default_is_empty_text() -> None:
    assert render_template(template_from_string(TYPED, "typed"), input="q")[-1].content == "q 4 1.0[]"


def test_text_values_take_the_type_of_the_default(user_templates: Path) -> None:
    """``-v brief=false`` is the text "false", which Jinja takes as true; ``-v count=5`` failed ``count + 1``."""
    (user_templates / "typed.jinja").write_text(TYPED, encoding="utf-8")
    result = cli("templates", "render", "typed", "-v", "brief=false", "-v", "count=5", "-v", "ratio=2", "--input", "q")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("q 6 4.0[]")
    result = cli("templates", "render", "typed", "-v", "brief=yes", "--input", "q")
    assert "q (brief) 4" in result.stdout
    line = one_error_line(cli("templates", "render", "typed", "-v", "count=many", "--input", "q"))
    assert "variable 'count' takes a whole number (its default is 3), not 'many'" in line
    line = one_error_line(cli("templates", "render", "typed", "-v", "brief=maybe", "--input", "q"))
    assert "variable 'brief' takes true or false" in line


# ---- JSON answers ------------------------------------------------------------------------------


def test_the_first_json_value_is_found_after_braces_in_prose() -> None:
    """Only the first bracket was tried: a reply with valid JSON was "not valid JSON"."""
    found = parse_json_answer('Use {name} for the name, like this: {"name": "Ada"} [done]', None)
    assert (found.answer, found.error) == ({"name": "Ada"}, None)
    assert parse_json_answer("no json {here", None).error.startswith("the reply is not valid JSON")
    assert parse_json_answer("none at all", None).error == "the reply contains no JSON"


# ---- names -----------------------------------------------------------------------------------


def test_a_name_in_other_letter_case_gets_a_did_you_mean() -> None:
    line = one_error_line(cli("templates", "render", "Few-Shot", "--input", "x"))
    assert "no template named 'Few-Shot'; did you mean 'few-shot'?" in line


def test_new_and_import_say_what_they_override(user_templates: Path, tmp_path: Path) -> None:
    """``templates new translate`` silently became what the translate tool renders."""
    result = cli("templates", "new", "translate")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(user_templates / "translate.jinja")
    assert result.stderr.startswith("note: translate.jinja overrides the builtin template 'translate', "
                                    "which the translate tool renders;")
    llm = tmp_path / "few-shot.yaml"
    llm.write_text("prompt: Hi $input\n", encoding="utf-8")
    result = cli("templates", "import", str(llm))
    assert result.exit_code == 0, result.output
    assert "note: few-shot.jinja overrides the builtin template 'few-shot';" in result.stderr
    assert "tool" not in result.stderr
    result = cli("templates", "new", "mine")
    assert result.exit_code == 0 and result.stderr == ""


def test_template_from_string_drops_a_byte_order_mark_too() -> None:
    template = template_from_string("\ufeff---\ndescription: d\n---\n{{ input }}\n", "b")
    assert template.description == "d" and render_template(template, input="x")[-1].content == "x"


def test_a_templates_directory_that_is_a_file_is_named_as_such(assistant_home: Path) -> None:
    """``templates new`` said "…/templates: File exists", and ``templates path`` "(does not exist yet)"."""
    (assistant_home / "config").mkdir(parents=True, exist_ok=True)
    (assistant_home / "config" / "templates").write_text("", encoding="utf-8")
    line = one_error_line(cli("templates", "new", "x"))
    assert line.endswith("config/templates is a file, not a directory (move it, or set templates_dir)")
    result = cli("templates", "path")
    assert result.stdout.splitlines()[0].endswith("\tuser  (not a directory)")


def test_a_misspelt_name_in_example_template_is_an_error_when_the_template_loads() -> None:
    """It failed only when examples were laid out inline (``--examples-as inline``), at render time."""
    text = (
        "---\nstrategy: few-shot\nexamples: [{input: a, output: b}]\n"
        'example_template: "{{ prompt }} => {{ outptu }}"\n---\n{{ input }}\n'
    )
    with pytest.raises(TemplateError, match=r"et\.jinja:4: in 'example_template': 'outptu' is undefined \(it reads prompt, output"):
        template_from_string(text, "et")
    fine = text.replace("outptu", "output ~ input ~ examples|length")
    assert render_template(template_from_string(fine, "et"), input="q", examples_as="inline")[-1].content == "a => ba1\n\nq"


def test_a_prompt_with_no_user_message_is_refused_before_the_model_loads(fakes: list) -> None:
    """``prompt -t chat`` with no input sent the system prompt alone; the model made up a question's answer."""
    result = cli("prompt", "-t", "chat", "-b", "fake", "--no-log", input="")
    assert "template 'chat' rendered no user message, so there is nothing to answer (pass input as TEXT" in (
        one_error_line(result)
    )
    assert fakes == []  # refused before a backend was made
    result = cli("prompt", "-t", "chat", "-b", "fake", "--no-log", "hi")
    assert result.exit_code == 0, result.output


def test_hidden_files_are_not_listed_and_a_bare_suffix_is_not_called_doubled(user_templates: Path) -> None:
    """``.jinja`` was "INVALID: .jinja ends in .jinja twice; rename it to .jinja"; an emacs lock
    file (``.#x.jinja``, a broken link) or a macOS ``._x.jinja`` was listed as a broken template."""
    (user_templates / ".jinja").write_text("hi", encoding="utf-8")
    (user_templates / "._mac.jinja").write_bytes(b"\x00\x05\x16\x07")
    (user_templates / ".#lock.jinja").symlink_to("user@host.1234")
    (user_templates / "x.jinja.jinja").write_text("hi", encoding="utf-8")
    result = cli("templates", "list")
    assert result.exit_code == 0, result.output
    user_rows = [line for line in result.stdout.splitlines() if "[user]" in line]
    assert [" ".join(row.split()) for row in user_rows] == [
        "x.jinja [user] INVALID: x.jinja.jinja ends in .jinja twice; rename it to x.jinja"
    ]


def test_a_list_variable_takes_json_and_a_long_wrong_value_is_clipped() -> None:
    text = "---\nvariables: [input, {name: labels, default: [a, b]}]\n---\n{% for l in labels %}<{{ l }}>{% endfor %}{{ input }}\n"
    template = template_from_string(text, "l")
    assert render_template(template, {"labels": '["yes", "no"]'}, input="q")[-1].content == "<yes><no>q"
    with pytest.raises(TemplateError) as err:  # "y,n" was looped over letter by letter: <y><,><n>
        render_template(template, {"labels": "y,n" + "x" * 10_000}, input="q")
    message = str(err.value)
    assert "variable 'labels' takes a JSON list (its default is [\"a\", \"b\"]), not 'y,nxxx" in message
    assert len(message) < 200


def test_a_value_that_is_not_valid_unicode_is_refused_where_it_enters() -> None:
    """From Python, a lone surrogate rendered, then failed hashing or tokenizing as a UnicodeEncodeError."""
    with pytest.raises(TemplateError, match=r"a value is not valid Unicode \(lone surrogate U\+D800 at character 2 of 'task'\)"):
        render_template("zero-shot", {"task": "x\ud800"}, input="a")
    with pytest.raises(TemplateError, match=r"byte 0xe9 at character 2 of 'input'"):
        render_template("zero-shot", input="a\udce9")


@pytest.mark.parametrize(
    ("expect", "message"),
    [("{contains: ''}", "holds an empty text, which every answer contains"),
     ("{contains: [a, '']}", "holds an empty text"),
     ("{regex: ''}", "'regex' is empty, which every answer matches")],
)
def test_an_expectation_every_answer_meets_is_refused(expect: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        template_from_string(f"---\ntests:\n  - input: x\n    expect: {expect}\n---\n{{{{ input }}}}\n", "e")
    ok = template_from_string("---\ntests:\n  - input: x\n    expect: {equals: ''}\n---\n{{ input }}\n", "e")
    assert ok.tests[0].expect.equals == ""
