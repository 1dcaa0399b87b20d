"""Round 7 of user testing the inspect views: invisible pieces, attention JSON bytes, picture files, bad text."""

from __future__ import annotations

import os
import resource
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from assistant.backends.fake import FakeAttentionBackend
from assistant.errors import AssistantError
from assistant.inspect import attention as att
from assistant.inspect.distribution import Candidate, NextToken
from assistant.inspect.pieces import TokenPiece
from assistant.types import GenerationParams, Message

from .conftest import run_cli

ZERO_WIDTH = ("\ufe0f", "\u0301", "\u200d")
"""The emoji variation selector (❤ + U+FE0F = ❤️; token 31752 of SmolLM2's vocabulary), a combining acute and
a zero-width joiner: characters of no width, each a token of its own in some vocabulary (a zero-width space is
shown as ``\\u200b`` since round 9, as every hidden format character is)."""


# ---- a piece that starts with a character of no width is drawn so it can be seen ------------------------------------------


@pytest.mark.parametrize("char", ZERO_WIDTH)
def test_a_piece_without_width_is_drawn_on_a_dotted_circle_everywhere(char: str) -> None:
    """`assistant tokenize "❤️"` printed the U+FE0F token as "[️]": an invisible piece glued to a bracket."""
    from rich.cells import cell_len

    from assistant.cli.inspect_tokens import next_lines, tokenize_lines
    from assistant.inspect.token_view import token_label

    piece = TokenPiece(31752, char.encode("utf-8"))
    assert piece.shown() == "◌" + char and cell_len(piece.shown()) == 1
    assert token_label(piece) == piece.shown() == token_label(char)  # the chat app draws it the same
    assert f"[◌{char}]" in tokenize_lines([piece], 8192, {"model": "m", "backend": "b"})[1]
    candidate = Candidate(31752, char, -0.5, 0.6)
    result = NextToken(3, 49152, 1.0, candidate, [candidate], 1, 0.6, GenerationParams())
    assert f"◌{char}" in next_lines(result, {31752: piece})[2]
    # a byte piece whose whole characters take no cells is seen too; visible pieces are left alone
    assert TokenPiece(1, char.encode("utf-8") + b"\xe2").shown() == f"◌{char}<0xE2>"
    assert TokenPiece(2, b" e").shown() == "␣e" and TokenPiece(3, "❤".encode()).shown() == "❤"


def test_attention_labels_show_a_zero_width_piece() -> None:
    backend = FakeAttentionBackend(reply="x")
    backend.load("m")
    maps = backend.attention([Message("user", "hi")], GenerationParams(temperature=0, max_tokens=2))
    maps.pieces = [TokenPiece(7, "\u0301".encode("utf-8")), *maps.pieces[1:]]
    assert att.token_labels(maps)[0] == "◌\u0301"


# ---- attention --json keeps each token's bytes -----------------------------------------------------------


def test_attention_json_gives_each_token_as_tokenize_does_bytes_included() -> None:
    """The JSON said "text": "\\ufffd" for each half of a split emoji: the bytes were lost."""
    backend = FakeAttentionBackend(reply="🙂 ok")  # a byte-level vocabulary: the emoji is four tokens
    backend.load("m")
    maps = backend.attention([Message("user", "hi")], GenerationParams(temperature=0, max_tokens=32), window=None)
    data = att.maps_to_json(maps, 0, None)
    reply = [token for token in data["tokens"] if token["reply"]]
    assert bytes.fromhex("".join(token["bytes"] for token in reply)).decode("utf-8") == "🙂 ok"
    assert [token["text"] for token in reply[:4]] == [None] * 4  # not a character on its own: no text
    assert [token["text"] for token in reply[4:]] == [" ", "o", "k"]
    assert all(set(token) == {"index", "id", "text", "bytes", "special", "reply"} for token in data["tokens"])
    assert [token["index"] for token in data["tokens"]] == list(range(len(data["tokens"])))


# ---- --out: what cannot be written fails before the work, and a file there is replaced whole ----------


def test_picture_path_refuses_a_folder_that_cannot_take_a_file(tmp_path: Path) -> None:
    """`assistant attention --out /proc/x.png …` ran the model for minutes, then failed to write."""
    from assistant.inspect.pictures import check_picture_path

    if sys.platform.startswith("linux"):
        with pytest.raises(AssistantError, match=r"^cannot write /proc/x\.png: "):
            check_picture_path("/proc/x.png")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(AssistantError, match="exists and is not a regular file"):  # writing would block
        check_picture_path(fifo)
    assert check_picture_path(tmp_path / "map.png") == "png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.png"]  # the probe leaves nothing behind


def test_picture_path_refuses_a_read_only_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.inspect.pictures import check_picture_path

    existing = tmp_path / "map.svg"
    existing.write_text("mine")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == existing else real_access(path, mode))
    with pytest.raises(AssistantError, match="read-only"):  # as root, chmod 444 cannot show it
        check_picture_path(existing)


def test_attention_out_to_an_unwritable_folder_fails_before_the_model_runs(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("/proc is Linux's")
    proc = run_cli("attention", "-m", "no-such-model", "--out", "/proc/x.png", "hi")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: cannot write /proc/x.png") and proc.stderr.count("\n") == 1


def test_a_picture_that_cannot_be_written_whole_leaves_the_old_file_as_it_was(tmp_path: Path) -> None:
    """The picture was written in place: a write that failed half-way (a full disk) left a truncated file."""
    from assistant.inspect.pictures import save_attention_picture

    backend = FakeAttentionBackend(reply=" Paris.")
    backend.load("m")
    maps = backend.attention([Message("user", "hi")], GenerationParams(temperature=0, max_tokens=8))
    existing = tmp_path / "map.png"
    existing.write_bytes(b"the old picture")
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))  # a "disk" that fills after 4 KiB
    try:
        with pytest.raises(AssistantError, match=r"^cannot write .*map\.png: "):
            save_attention_picture(maps, existing, 0, None)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous_handler)
    assert existing.read_bytes() == b"the old picture"
    assert [p.name for p in tmp_path.iterdir()] == ["map.png"]  # no half-written temporary left
    save_attention_picture(maps, existing, 0, None)  # with room, it is replaced
    assert existing.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_picture_written_through_a_link_keeps_the_link_and_the_file_mode(tmp_path: Path) -> None:
    from assistant.inspect.pictures import save_attention_picture

    backend = FakeAttentionBackend(reply=" Paris.")
    backend.load("m")
    maps = backend.attention([Message("user", "hi")], GenerationParams(temperature=0, max_tokens=8))
    real = tmp_path / "real.svg"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.svg"
    link.symlink_to(real.name)
    save_attention_picture(maps, link, 0, None)
    assert link.is_symlink() and real.read_text().lstrip().startswith("<?xml")
    assert real.stat().st_mode & 0o777 == 0o640


# ---- TEXT that is not valid Unicode is refused where it enters ----------------------------------------------


@pytest.mark.parametrize(
    "args",
    [("attention", "caf\udce9"), ("attention", "-s", "caf\udce9", "hi"), ("compare", "-s", "caf\udce9", "hi")],
)
def test_undecodable_text_is_refused_by_name_before_a_model_loads(args: tuple[str, ...]) -> None:
    """It reached the chat template and came back as "the prompt the model chat template rendered is not valid
    Unicode", after the model had loaded."""
    proc = run_cli(*args[:1], "-m", "no-such-model", *args[1:])  # the model is never looked up
    assert proc.returncode == 1
    assert "is not valid UTF-8 (byte 0xe9 at character 4)" in proc.stderr
    assert proc.stderr.startswith(("error: TEXT ", "error: -s/--system ")) and proc.stderr.count("\n") == 1


# ---- assistant next: a kept token's tiny chance is not printed as zero ------------------------------------------


def test_next_prints_a_tiny_kept_probability_apart_from_a_cut_one() -> None:
    """At temperature 1000 every kept token has about 1/49152; the table printed 0.000, the number of a cut one."""
    from assistant.cli.inspect_tokens import next_lines, probability_text

    params = GenerationParams(temperature=1000, top_k=0, top_p=1.0)
    kept = Candidate(5, " Paris", -0.26, 2.1e-05)
    rare = Candidate(6, " the", -12.0, 2.0e-05)
    result = NextToken(5, 49152, 2.2, kept, [kept, rare], 49152, 1.0, params)
    lines = next_lines(result)
    assert "2.1e-05" in lines[2] and "6.1e-06" in lines[3]  # the model's exp(-12) too
    assert "0.000" not in "\n".join(lines[2:4])
    assert len({line.index("e-05") for line in lines[2:4]}) == 1  # the column stays aligned
    assert probability_text(0.0) == "  0.000" and probability_text(0.768) == "  0.768"
    assert probability_text(0.0004) == "4.0e-04" and probability_text(0.0005) == "  0.001"


def test_next_names_the_setting_that_cut_each_token_with_its_value() -> None:
    """At temperature 0 the other candidates printed a bare 0.000, and top-k / top-p cuts no value; the chat
    app's panel says "cut by top-k 2"."""
    from assistant.cli.inspect_tokens import next_lines

    paris = Candidate(1, " Paris", -0.26, 1.0)
    the = Candidate(2, " the", -2.8, 0.0, "top-p", False)
    london = Candidate(3, " London", -4.4, 0.0, "top-k", False)
    settings = GenerationParams(top_k=2, top_p=0.9)
    lines = next_lines(NextToken(5, 9, 2.2, paris, [paris, the, london], 1, 0.77, settings))
    assert lines[3].endswith("  0.000  cut by top-p 0.9") and lines[4].endswith("  0.000  cut by top-k 2")
    greedy = [paris, Candidate(2, " the", -2.8, 0.0, "greedy", False)]
    lines = next_lines(NextToken(5, 9, 2.2, paris, greedy, 1, 0.77, GenerationParams(temperature=0)))
    assert lines[3].endswith("  0.000  cut by temperature 0")
    assert max(len(line) for line in lines[:4]) <= 80  # a cut row still fits an 80-column terminal


# ---- tokenize: the context window, near and past its end --------------------------------------------------


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (1, "<0.1% of the 8192-token context window (8191 to spare)"),
        (8186, "99.9% of the 8192-token context window (6 to spare)"),
        (8191, ">99.9% of the 8192-token context window (1 to spare)"),
        (8192, "100.0% of the 8192-token context window: 1 token too many, the model takes at most 8191"),
        (8195, "100.0% of the 8192-token context window: 4 tokens too many, the model takes at most 8191"),
        (9001, "109.9% of the 8192-token context window: 810 tokens too many, the model takes at most 8191"),
    ],
)
def test_tokenize_says_whether_the_text_fits_not_only_its_share(count: int, expected: str) -> None:
    """8191 tokens (fits) and 8195 (refused by every engine) both read "100.0% of the context window"."""
    from assistant.cli.inspect_tokens import tokenize_lines

    head = tokenize_lines([TokenPiece(1, b"a")] * count, 8192, {"model": "m", "backend": "b"})[0]
    assert head.endswith(f"{count} token{'s' * (count != 1)} · {expected}")


# ---- compare: the first differing token is shown by its bytes ---------------------------------------------------


def _run(backend: str, ids: list[int], shown: list[str]) -> Any:
    from assistant.compare import EngineRun

    return EngineRun(backend, "m", "", ids, ["\ufffd"] * len(ids), [1], "length", None, None, 0.0, shown=shown)


def test_compare_names_differing_byte_tokens_by_their_bytes() -> None:
    """Two engines that parted on halves of different characters were reported as "'\ufffd' vs '\ufffd'"."""
    from assistant.cli.compare import describe_agreement
    from assistant.compare import measure_agreement

    left = _run("llama-cpp", [232, 171, 114], ["<0xE7>", "<0xA9>", "<0xBA>"])
    right = _run("transformers", [232, 172, 115], ["<0xE7>", "<0xAA>", "<0xBB>"])
    text = describe_agreement([left, right], measure_agreement(left, right, 5))
    assert "first differing token at index 1: '<0xA9>' vs '<0xAA>'" in text
    shorter = _run("transformers", [232], ["<0xE7>"])
    assert "index 1: '<0xA9>' vs (end)" in describe_agreement([left, shorter], measure_agreement(left, shorter, 5))
    server = _run("openai", [-1, -1], [])  # no pieces at hand: the text, made visible
    server.tokens = [" hi", "\n"]
    assert [server.token_label(0), server.token_label(1), server.token_label(2)] == ["␣hi", "↵", "(end)"]


def test_compare_keeps_each_local_engines_exact_pieces(fake_backend: None) -> None:
    from assistant.compare import Side, compare

    params = GenerationParams(temperature=0, max_tokens=16)
    runs, agreement = compare("🙂", params, [Side("fake", "m"), Side("fake", "m")])
    assert agreement.first_difference is None
    assert "<0xF0>" in runs[0].shown and runs[0].shown == runs[1].shown  # the fake's vocabulary is bytes
    assert len(runs[0].shown) == len(runs[0].token_ids)
    assert "shown" not in runs[0].to_dict()  # the JSON keeps its fields: token ids and texts


# ---- tokenize and next read piped text, as prompt does ------------------------------------------------------------


@pytest.mark.usefixtures("fake_backend_plugin_file")
def test_tokenize_and_next_read_piped_text_as_prompt_joins_it() -> None:
    """`cat notes.txt | assistant tokenize` said "Missing argument 'TEXT'": no way to count a file's tokens."""
    import json

    piped = run_cli("tokenize", "-b", "fake", "-m", "m", "--json", input="hé")
    assert piped.returncode == 0, piped.stderr
    assert [t["bytes"] for t in json.loads(piped.stdout)["tokens"]][-3:] == ["68", "c3", "a9"]
    joined = run_cli("tokenize", "-b", "fake", "-m", "m", "--json", "Sum", input="notes")
    text = bytes.fromhex("".join(t["bytes"] for t in json.loads(joined.stdout)["tokens"])).decode()
    assert text.endswith("Sum\n\nnotes")  # TEXT, a blank line, the piped text: what `assistant prompt` sends
    blank = run_cli("tokenize", "-b", "fake", "-m", "m", "--json", "  ")  # typed alone, kept as typed
    assert json.loads(blank.stdout)["tokens"][-1]["bytes"] == "20"
    nxt = run_cli("next", "-b", "fake", "-m", "m", "--top", "2", input="Echo")
    assert nxt.returncode == 0 and nxt.stdout.startswith("after 5 tokens")
    nothing = run_cli("tokenize", "-b", "fake", "-m", "m")
    assert nothing.returncode == 2 and "no prompt given: pass TEXT or pipe text on stdin" in nothing.stderr


def test_attention_names_max_new_tokens_as_typed_when_it_is_too_large() -> None:
    """`--max-new-tokens 999999999` was refused as "max_tokens must be at most 10,000,000": not what was typed."""
    proc = run_cli("attention", "-m", "no-such-model", "--max-new-tokens", "999999999", "hi")
    assert proc.returncode == 1
    assert proc.stderr == "error: --max-new-tokens must be at most 10,000,000, not 999999999\n"


def test_next_marks_a_control_token_and_names_it_in_the_json() -> None:
    """After "The End." SmolLM2's second candidate is <|im_end|> (p 0.29): the table printed it like the
    text "<|im_end|>", and --json said "text": "" with nothing to tell it was a control token."""
    from assistant.cli.inspect_tokens import next_json, next_lines

    newline, end = Candidate(198, "\n", -0.63, 0.7), Candidate(2, "", -1.25, 0.3)
    result = NextToken(8, 49152, 2.9, newline, [newline, end], 10, 0.88, GenerationParams())
    pieces = {198: TokenPiece(198, b"\n"), 2: TokenPiece(2, b"", "<|im_end|>")}
    assert next_lines(result, pieces)[3].split()[1] == "⟦<|im_end|>⟧"
    assert next_lines(result, pieces)[2].split()[1] == "↵"
    data = next_json(result, pieces)
    named = data["candidates"][1]
    assert (named["text"], named["special"], named["bytes"], named["id"]) == ("<|im_end|>", True, "", 2)
    assert data["greedy"]["bytes"] == "0a" and data["greedy"]["special"] is False
    assert data["candidates"][0]["p_sampled"] == 0.7  # the numbers stay


def test_a_writable_file_in_a_folder_that_takes_no_new_file_is_still_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write beside the file needs the folder; the user's own file in a shared folder must still be writable."""
    from assistant.inspect import pictures

    backend = FakeAttentionBackend(reply=" Paris.")
    backend.load("m")
    maps = backend.attention([Message("user", "hi")], GenerationParams(temperature=0, max_tokens=8))
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"old")

    def no_new_file(*_: object, **__: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(pictures, "_create_temporary", no_new_file)
    assert pictures.check_picture_path(mine) == "png"
    pictures.save_attention_picture(maps, mine, 0, None)
    assert mine.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(AssistantError, match=r"^cannot write .*new\.png: Permission denied$"):
        pictures.check_picture_path(tmp_path / "new.png")  # a new file there: refused before any work
