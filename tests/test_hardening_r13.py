"""Round 13 hardening: untrusted text and allocation limits, each case a defect that once got through."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.backends.chat_format import render_chat_template
from assistant.backends.llama_limits import check_llama_limits
from assistant.cli import main
from assistant.errors import ModelLoadError, TemplateError
from assistant.files import write_replacing
from assistant.models import gguf
from assistant.models.gguf import read_metadata
from assistant.terminal_text import json_text, visible_text, without_invisible_controls
from assistant.types import Message

from .gguf_files import gguf_string, write_gguf_header


def _header(path: Path, n_kv: int, body: bytes) -> Path:
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, n_kv) + body)
    return path


# ---- GGUF headers: work and memory are bounded by what a model holds, not by the file's size ----
def test_many_small_numeric_arrays_are_refused_before_they_are_kept(tmp_path: Path) -> None:
    """82 MB of 1024-number arrays under distinct keys took 800 MB of memory to read."""
    array = struct.pack("<IQ", 4, 1024) + struct.pack("<1024I", *range(100_000, 101_024))
    count = 80  # 81,920 numbers: past the 65,536 a header may keep
    body = b"".join(gguf_string(f"k{i}") + struct.pack("<I", 9) + array for i in range(count))
    with pytest.raises(ModelLoadError, match="more numbers than any model's header holds"):
        read_metadata(_header(tmp_path / "x.gguf", count, body))


def test_a_few_per_layer_arrays_are_still_kept(tmp_path: Path) -> None:
    array = struct.pack("<IQ", 4, 512) + struct.pack("<512I", *range(512))
    body = b"".join(gguf_string(f"k{i}") + struct.pack("<I", 9) + array for i in range(8))
    assert read_metadata(_header(tmp_path / "x.gguf", 8, body))["k7"] == list(range(512))


def test_millions_of_empty_keys_are_refused_before_they_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each key is read one by one: a gigabyte of empty keys kept ``models list`` busy for minutes."""
    monkeypatch.setattr(gguf, "MAX_HEADER_ITEMS", 1000)
    body = (gguf_string("") + struct.pack("<IB", 0, 1)) * 1001
    with pytest.raises(ModelLoadError, match="over 1,000 keys and array items"):
        read_metadata(_header(tmp_path / "x.gguf", 1001, body))


@pytest.mark.parametrize("item", [struct.pack("<IQ", 0, 0), gguf_string("")], ids=["arrays", "strings"])
def test_a_skipped_array_of_millions_of_empty_items_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, item: bytes
) -> None:
    monkeypatch.setattr(gguf, "MAX_HEADER_ITEMS", 1000)
    kind = 9 if len(item) == 12 else 8
    body = gguf_string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, kind, 1000) + item * 1000
    with pytest.raises(ModelLoadError, match="keys and array items"):
        read_metadata(_header(tmp_path / "x.gguf", 1, body))


# ---- llama.cpp header asserts: refused before Llama() aborts the process --------------------------------
def _llama_header(path: Path, extra: list[tuple[str, int, bytes]]) -> Path:
    """A llama GGUF header with the keys llama.cpp reads before its asserts, then ``extra`` (overriding)."""
    keys = {key for key, _, _ in extra}
    base = [
        ("general.architecture", 8, gguf_string("llama")),
        ("llama.context_length", 4, struct.pack("<I", 2048)),
        ("llama.embedding_length", 4, struct.pack("<I", 64)),
        ("llama.block_count", 4, struct.pack("<I", 2)),
    ]
    return write_gguf_header(path, [pair for pair in base if pair[0] not in keys] + extra)


def _u32(key: str, value: int) -> tuple[str, int, bytes]:
    return (f"llama.{key}", 4, struct.pack("<I", value))


def _groups(count: int, used: int) -> list[tuple[str, int, bytes]]:
    return [_u32("expert_group_count", count), _u32("expert_group_used_count", used)]


ABORTING = {
    "no layers": ([_u32("block_count", 0)], "llama.block_count is 0"),
    "more predicted layers than layers": ([_u32("nextn_predict_layers", 3)], "nextn_predict_layers 3 is more than"),
    "expert groups without experts": ([_u32("expert_group_count", 2)], "expert_group_count 2 does not fit"),
    "groups that do not divide the experts": (
        [_u32("expert_count", 8), _u32("expert_used_count", 2), *_groups(3, 1)],
        "expert_group_count 3 does not fit llama.expert_count 8",
    ),
    "no expert group used": (
        [_u32("expert_count", 8), _u32("expert_used_count", 2), _u32("expert_group_count", 4)],
        "expert_group_used_count 0",
    ),
    "misspelt rope scaling": ([("llama.rope.scaling.type", 8, gguf_string("YARN"))], "'YARN' is none of"),
    "empty rope scaling": ([("llama.rope.scaling.type", 8, gguf_string(""))], "'' is none of"),
}


@pytest.mark.parametrize("case", list(ABORTING))
def test_more_header_values_llama_cpp_asserts_on_are_one_line_errors(tmp_path: Path, case: str) -> None:
    """Was: ``assistant prompt -m x.gguf`` died with status 134 and no message (GGML_ASSERT in llama.cpp's
    hyperparameter reading). Loaded in a child, so an unfixed abort fails the test, not the test run."""
    extra, expected = ABORTING[case]
    path = _llama_header(tmp_path / "x.gguf", extra)
    code = (
        "from assistant.backends.llama_cpp import LlamaCppBackend\n"
        "from assistant.errors import ModelLoadError\n"
        "try:\n"
        f"    LlamaCppBackend().load({str(path)!r}, progress=lambda _: None)\n"
        "except ModelLoadError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-500:]
    assert expected in done.stdout and "corrupt GGUF header" in done.stdout
    assert done.stdout.count("\n") == 1


@pytest.mark.parametrize(
    "extra",
    [
        [_u32("nextn_predict_layers", 2)],
        [_u32("expert_count", 8), _u32("expert_used_count", 2), *_groups(4, 2)],
        [_u32("expert_count", 8), _u32("expert_used_count", 2), _u32("expert_group_count", 1)],
        *([("llama.rope.scaling.type", 8, gguf_string(name))] for name in ("none", "linear", "yarn", "longrope")),
        [("llama.rope.scaling.type", 4, struct.pack("<I", 3))],  # another type: llama.cpp's clean "wrong type"
    ],
)
def test_header_values_llama_cpp_takes_pass_the_check(tmp_path: Path, extra: list[tuple[str, int, bytes]]) -> None:
    path = _llama_header(tmp_path / "ok.gguf", extra)
    check_llama_limits(path, read_metadata(path))


# ---- invisible characters that hid text were not in HIDDEN_FORMAT ----------------------------------------
@pytest.mark.parametrize(
    "char",
    ["\u034f", "\u17b4", "\u17b5", "\u2065", "\U0001d173", "\U0001d17a"],
    ids=["grapheme joiner", "khmer aq", "khmer aa", "u2065", "begin beam", "end phrase"],
)
def test_every_invisible_character_shows_as_an_escape(char: str) -> None:
    """``pay\\u034fpal`` printed as "paypal": the combining grapheme joiner, the Khmer inherent vowels and the
    musical beam and phrase controls draw nothing, like the zero-width space already escaped."""
    escape = f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"
    assert visible_text(f"pay{char}pal") == f"pay{escape}pal"
    assert char not in json_text(f"pay{char}pal") and json.loads(json_text(f"pay{char}pal")) == f"pay{char}pal"
    assert without_invisible_controls(f"pay{char}pal") == "paypal"


def test_an_invisible_character_in_a_template_value_reaches_the_terminal_as_an_escape(tmp_path: Path) -> None:
    value = tmp_path / "v.txt"
    value.write_text("pay\u034fpal\U0001d173", encoding="utf-8")
    result = CliRunner().invoke(main, ["templates", "render", "summarize", "-v", f"input=@{value}", "--raw"])
    assert result.exit_code == 0, result.output
    assert "pay\\u034fpal\\U0001d173" in result.output and "\u034f" not in result.output


# ---- chat templates: an error quoting the template's own characters keeps them ----------------------------
def test_a_chat_template_error_keeps_its_control_characters_for_the_cli_to_show() -> None:
    """``" ".join(str(exc).split())`` turned VT and FS into spaces, silently (docs/security.md: one_line)."""
    with pytest.raises(TemplateError) as caught:
        render_chat_template("{{ '{:\\x0b\\x1c}'.format(1) }}", [Message("user", "x")])
    assert "'\x0b\x1c'" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("value", [float("nan"), -1e-5])
@pytest.mark.parametrize("key", ["layer_norm_rms_epsilon", "layer_norm_epsilon"])
def test_a_negative_or_nan_norm_epsilon_is_refused_before_the_first_decode_aborts(
    tmp_path: Path, key: str, value: float
) -> None:
    """Was: the model loaded, then ``GGML_ASSERT(eps >= 0.0f)`` in ggml's rms_norm aborted the process while the
    first prompt was read (``assistant prompt`` status 134, no message; measured with SmolLM2's header)."""
    path = _llama_header(tmp_path / "x.gguf", [(f"llama.attention.{key}", 6, struct.pack("<f", value))])
    with pytest.raises(ModelLoadError, match=f"corrupt GGUF header \\(llama.attention.{key} .* at least 0\\)"):
        check_llama_limits(path, read_metadata(path))


@pytest.mark.parametrize("value", [0.0, 1e-6])  # inf: refused since round 20 (noise replies)
def test_a_norm_epsilon_ggml_takes_passes(tmp_path: Path, value: float) -> None:
    path = _llama_header(tmp_path / "x.gguf", [("llama.attention.layer_norm_rms_epsilon", 6, struct.pack("<f", value))])
    check_llama_limits(path, read_metadata(path))


# ---- piped stdin in UTF-16/32 ---------------------------------------------------------------------------
@pytest.mark.usefixtures("fake_backend")
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_piped_utf16_text_is_refused_not_sent_as_nul_separated_letters(encoding: str) -> None:
    """``cat notes.txt | assistant prompt`` with a Notepad "Unicode" file: the model got ``\\ufffd\\ufffdS\\0u\\0m\\0…``,
    silently (strict file reading already refused it; piped stdin took any bytes)."""
    text = "Summarize: the cat sat on the mat.\n".encode(encoding)
    result = CliRunner().invoke(main, ["prompt", "-b", "fake", "-m", "fake-model", "--no-log"], input=text)
    assert result.exit_code == 1, result.output
    name = encoding.upper()[:6]
    assert f"error: the input on stdin is {name} text, not UTF-8; convert it first (iconv -f {name} -t UTF-8)" in (
        result.output
    )
    assert result.output.count("\n") == 1


@pytest.mark.usefixtures("fake_backend")
def test_piped_text_that_is_not_utf8_still_runs_with_replacement_characters() -> None:
    result = CliRunner().invoke(main, ["prompt", "-b", "fake", "-m", "fake-model", "--no-log"], input=b"caf\xe9 ok")
    assert result.exit_code == 0, result.output


def test_a_huge_chat_template_is_refused_before_jinja_compiles_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A GGUF header may hold 64 MB of chat template; compiling 3.6 MB of ``{{ 'a' }}`` took 26 s."""
    from assistant.templates import sandbox

    monkeypatch.setattr(sandbox, "MAX_RENDERED_CHARS", 1000)
    template = "{{ 'a' }}" * 112  # 1,008 characters
    with pytest.raises(TemplateError, match="model chat template is 1,008 characters, past the 1,000"):
        render_chat_template(template, [Message("user", "x")])
    assert render_chat_template(template[:999], [Message("user", "x")]).startswith("a" * 100)


# ---- files.replacing: a legal long name in a script of multi-byte characters ------------------------------
@pytest.mark.parametrize(
    "name", ["😀" * 63, "日本語のファイル名" * 9 + ".md", "é" * 127], ids=["emoji", "japanese", "accents"]
)
def test_a_long_name_of_multibyte_characters_is_written(tmp_path: Path, name: str) -> None:
    """The temporary file kept the name's first 64 *characters*: 63 emoji (252 bytes, a legal name) made a
    270-byte temporary name, and ``history export -o`` to it failed with "File name too long"."""
    assert len(name.encode()) <= 255
    write_replacing(tmp_path / name, "kept")
    assert (tmp_path / name).read_text(encoding="utf-8") == "kept"
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind


def test_strftime_now_refuses_a_format_longer_than_any_date_format() -> None:
    """``strftime_now('%c' * 500000)`` built 12 million characters from a million, unmeasured."""
    with pytest.raises(TemplateError, match="strftime_now takes a date format of at most 100 characters, not 1,000"):
        render_chat_template("{{ strftime_now('%c' * 500)|length }}", [Message("user", "x")])
    assert render_chat_template("{{ strftime_now('%Y') }}", [Message("user", "x")]).isdigit()


def test_strftime_now_is_charged_to_the_render_step_budget() -> None:
    """Each call was one step however many directives it formatted: a loop of them ran 23 s for a budget
    meant as about one second (and over five minutes with longer formats)."""
    template = "{% set f = '%c' * 50 %}{% for i in range(25000) %}{% set x = strftime_now(f) %}{% endfor %}"
    with pytest.raises(TemplateError, match="steps of work"):
        render_chat_template(template, [Message("user", "x")])


def test_small_arrays_inside_a_skipped_array_are_skipped_not_kept(tmp_path: Path) -> None:
    """An array of 70,000 one-number arrays is one skipped value (its length), not 70,000 numbers to keep."""
    body = gguf_string("x") + struct.pack("<IIQ", 9, 9, 70_000) + struct.pack("<IQB", 0, 1, 7) * 70_000
    assert read_metadata(_header(tmp_path / "x.gguf", 1, body))["x"] == 70_000
