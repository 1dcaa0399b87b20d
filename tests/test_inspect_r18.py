"""Round 18 of user testing the inspect views (area: inspect)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assistant.errors import AssistantError

ROOT = Path(__file__).resolve().parent.parent


# ---- attention --out: every destination that cannot take the picture says why, naming it ----------------


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_picture_in_proc_says_the_folder_takes_no_new_files() -> None:
    """`assistant attention --out /proc/x.png`: "cannot write /proc/x.png: No such file or directory", though
    /proc is there and no file was asked to exist. The kernel's file system refuses new files; said so."""
    from assistant.inspect.pictures import check_picture_path

    with pytest.raises(AssistantError) as caught:
        check_picture_path("/proc/x.png")
    assert str(caught.value) == "cannot write /proc/x.png: the folder /proc takes no new files"


def test_a_directory_named_without_a_picture_suffix_is_called_a_directory(tmp_path: Path) -> None:
    """`--out results` where results is a folder: "the picture's file name must end in .png, .svg, .html",
    as if a file named results.png could be written over the folder. Now it says it is a directory."""
    from assistant.inspect.pictures import check_picture_path

    folder = tmp_path / "results"
    folder.mkdir()
    with pytest.raises(AssistantError) as caught:
        check_picture_path(str(folder))
    assert str(caught.value) == (
        f"cannot write {folder}: it is a directory (give a file name ending in .png, .svg, .html)"
    )
    assert folder.is_dir() and not any(folder.iterdir())  # nothing left behind


# ---- next: the numbers agree with what the report and the docs say top-p does --------------------------


def _top_p_under_top_k() -> object:
    """One token of model probability 0.45, one of 0.05, and 98 sharing the other half: with top-k 2,
    top-p 0.5 counts the first as 0.45 / 0.5 = 0.9 of what top-k left and keeps it alone."""
    import numpy as np

    from assistant.inspect.distribution import next_token
    from assistant.types import GenerationParams

    probs = np.array([0.45, 0.05] + [0.5 / 98] * 98)
    logits = np.log(probs).astype(np.float32)
    return next_token(logits, GenerationParams(top_k=2, top_p=0.5), lambda i: f"t{i}", top=3)


def test_next_says_why_top_p_kept_less_than_its_value() -> None:
    """`assistant next -o top_p=0.5 "I like"` (SmolLM2, default top-k 40): "the settings keep 1 token (49.5% of
    model probability)" under "top-p 0.5", with nothing saying why 49.5% is not 50%: top-p counts probability
    among the tokens top-k left (as llama.cpp does: 40 of 40 seeded draws gave ` to`). A line now says so."""
    from assistant.cli.inspect_tokens import next_lines

    result = _top_p_under_top_k()
    assert result.kept == 1 and result.kept_mass < 0.5  # the numbers the line explains
    lines = next_lines(result, width=80)
    assert "top-p 0.5 counts within what top-k 2 keeps" in lines


def test_next_adds_no_top_p_line_where_top_k_alone_cut() -> None:
    """`-o top_k=1`: top-k alone keeps 76.8% (under top-p's 0.95); top-p cut nothing, so no line blames it."""
    import numpy as np

    from assistant.cli.inspect_tokens import next_lines
    from assistant.inspect.distribution import next_token
    from assistant.types import GenerationParams

    logits = np.log(np.array([0.768, 0.1] + [0.132 / 98] * 98)).astype(np.float32)
    result = next_token(logits, GenerationParams(top_k=1, top_p=0.95), lambda i: f"t{i}", top=3)
    assert result.kept == 1 and result.kept_mass < 0.95
    assert not [line for line in next_lines(result, width=80) if "counts within" in line]


def test_docs_say_top_p_counts_among_what_top_k_left() -> None:
    """docs/inspect.md said `-o top_p=0.5` keeps "the smallest set of candidates whose model probability
    reaches 50%": under the default top-k 40 `assistant next` (and llama.cpp's sampler) kept fewer."""
    text = " ".join((ROOT / "docs/inspect.md").read_text(encoding="utf-8").split())
    assert "whose model probability reaches 50%" not in text
    assert "counted, as llama.cpp counts it, among the tokens top-k left" in text
    result = _top_p_under_top_k()
    assert result.kept == 1 and result.kept_mass < 0.5  # what that sentence describes


# ---- compare: fitted to the terminal it is shown on, piped too ------------------------------------------


def test_compare_piped_fits_the_terminal_as_the_other_views_do(monkeypatch: pytest.MonkeyPatch) -> None:
    """`assistant compare "…" | less` on an 80-column terminal: the table was 100 columns (shutil's fallback,
    asked of stdout alone, a pipe), and the terminal wrapped its rule and rows. `tokenize`, `next` and
    `attention` ask the terminal on stdin and stderr too (Rich's rule); `compare` now does the same."""
    from rich.cells import cell_len

    from assistant.cli.compare import render_side_by_side
    from assistant.compare import EngineRun, measure_agreement

    def terminal_size(fd: int) -> os.terminal_size:
        if fd == 1:  # stdout is the pipe
            raise OSError("not a terminal")
        return os.terminal_size((80, 24))

    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setattr(os, "get_terminal_size", terminal_size)
    runs = [
        EngineRun(
            backend=backend,
            model="smollm2",
            text="The capital of France is Paris. " * 4,
            token_ids=[1, 2],
            tokens=["a", "b"],
            prompt_token_ids=[5, 6],
            finish_reason="stop",
            ttft_ms=180.0,
            tokens_per_second=57.7,
            load_seconds=3.8,
            top=[[1, 2], [2, 3]],
            top_tokens=[["a", "b"]] * 2,
            shown=["a", "b"],
        )  # fmt: skip
        for backend in ("llama-cpp", "transformers")
    ]
    lines = render_side_by_side(runs, measure_agreement(runs[0], runs[1], 2)).splitlines()
    assert max(cell_len(line) for line in lines) < 80, "\n".join(lines)
    assert lines[1] == "─" * 78  # the rule spans the table (label, two 30-cell columns, separator), 79 at most


# ---- the sampled distribution: top-p cuts where llama.cpp's sampler cuts --------------------------------


@pytest.mark.parametrize(
    ("logits", "top_k", "top_p", "kept"),
    [
        ([1.3, 1.3, 0.2, -1.0, -2.0], 2, 0.5, 1),  # two tied tokens: 0.5 each, and 0.5 reaches top-p 0.5
        ([0.0] * 75, 40, 0.75, 31),  # 31 × 1/40 reaches 0.75 in llama.cpp's float32, not in float64
        ([0.0] * 55, 40, 0.95, 39),
    ],
)
def test_top_p_keeps_what_llama_cpp_keeps_at_a_tie(
    logits: list[float], top_k: int, top_p: float, kept: int
) -> None:
    """`assistant next` keeps a token llama.cpp never draws: two tokens tied at the top under `-o top_k=2
    -o top_p=0.5` each came to 0.49999999999999994 (normalized by exp(value - log_mass) in float64), so top-p
    kept both, at a sampled 0.5 each; llama.cpp's sampler (float32 softmax by division: 0.5, reached) keeps
    one. Measured with llama.cpp's own top-k and top-p samplers (`kept` is its answer); now computed with
    its arithmetic."""
    import numpy as np

    from assistant.inspect.distribution import sampled_distribution
    from assistant.types import GenerationParams

    values = np.array(logits, dtype=np.float32)
    dist = sampled_distribution(values, GenerationParams(temperature=1.0, top_k=top_k, top_p=top_p))
    assert len(dist.kept_ids) == kept


def test_top_p_matches_llama_cpp_sampler_on_random_and_tied_logits() -> None:
    """The kept count of :func:`sampled_distribution` against llama.cpp's own top-k → top-p samplers (no
    model needed) over random logits, a third of them rounded so that ties are common: 57 of 4000 such
    cases differed before (a token kept here that llama.cpp cuts, or the reverse)."""
    import ctypes

    import numpy as np

    llama = pytest.importorskip("llama_cpp")
    from assistant.inspect.distribution import sampled_distribution
    from assistant.types import GenerationParams

    def llama_kept(values: np.ndarray, top_k: int, top_p: float) -> int:
        data = (llama.llama_token_data * len(values))()
        for index, value in enumerate(values):
            data[index].id, data[index].logit, data[index].p = index, float(value), 0.0
        array = llama.llama_token_data_array(data=data, size=len(values), selected=-1, sorted=False)
        samplers = ([llama.llama_sampler_init_top_k(top_k)] if top_k else []) + [
            llama.llama_sampler_init_top_p(top_p, 1)
        ]
        for sampler in samplers:
            llama.llama_sampler_apply(sampler, ctypes.byref(array))
            llama.llama_sampler_free(sampler)
        return int(array.size)

    rng = np.random.default_rng(0)
    differ = []
    for _ in range(1500):
        values = (rng.normal(size=int(rng.integers(2, 300))) * rng.uniform(0.1, 5)).astype(np.float32)
        kind = rng.random()
        if kind < 0.3:
            values = np.round(values).astype(np.float32)
        elif kind < 0.4:
            values[:] = 0.0
        top_k = int(rng.choice([0, 2, 3, 4, 8, 14, 40]))
        top_p = float(rng.choice([0.25, 0.5, 0.75, 0.9, 0.95]))
        ours = len(
            sampled_distribution(values, GenerationParams(temperature=1.0, top_k=top_k, top_p=top_p)).kept_ids
        )
        theirs = llama_kept(values, top_k, top_p)
        if ours != theirs:
            differ.append((len(values), top_k, top_p, ours, theirs))
    assert not differ, differ[:5]


def test_a_picture_write_stopped_by_ctrl_c_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while `attention --out map.png` wrote its picture (after the engine's Ctrl-C handling ended):
    the old map.png stayed whole, but the hidden `.map.png.….tmp` it was written to stayed beside it for good.
    Only an OSError removed it."""
    from assistant.inspect import pictures

    target = tmp_path / "map.png"
    target.write_bytes(b"old picture")

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pictures.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pictures.write_atomically(target, b"new picture")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.png"]
    assert target.read_bytes() == b"old picture"
