"""Round 8 of user testing the inspect views: one model used from two threads, options that did nothing,
picture paths the system refuses, and a comparison whose second side could never load."""

from __future__ import annotations

import threading
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest

from assistant.backends.fake import FakeAttentionBackend
from assistant.errors import AssistantError, BackendError, ModelNotFoundError
from assistant.types import GenerationParams, Message

from .conftest import run_cli

GREEDY = GenerationParams(temperature=0, max_tokens=8)
PROMPTS = (
    "The capital of France is Paris and the capital of Germany is",
    "One two three four five six seven eight nine ten eleven",
)


def _quiet(_: str) -> None:
    pass


# ---- the transformers backend used from two threads at once ------------------------------------------------


@pytest.fixture(scope="module")
def smollm2_transformers(smollm2_path: Path) -> Iterator[Any]:
    pytest.importorskip("torch")
    from assistant.backends import load_backend

    backend = load_backend("transformers", str(smollm2_path), n_ctx=256, progress=_quiet)
    yield backend
    backend.unload()


def _in_threads(work: Any, count: int = 2) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            work(index)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return errors


@pytest.mark.model
def test_two_threads_asking_for_next_token_numbers_each_get_their_own(smollm2_transformers: Any) -> None:
    """iter_logits ran without the backend's lock: two `next_token` calls at once read each other's KV cache,
    and the logits were off by up to 38 (the candidates of another prompt)."""
    import numpy as np

    backend = smollm2_transformers
    alone = [[c.logprob for c in backend.next_token(text, GREEDY, top=5).candidates] for text in PROMPTS]
    seen: list[tuple[int, list[float]]] = []

    def work(index: int) -> None:
        for _ in range(6):
            ids = backend.prompt_token_ids(PROMPTS[index])
            list(backend.token_logprobs(PROMPTS[index], ids[-3:], GREEDY, top=3))  # moves the cache too
            candidates = backend.next_token(PROMPTS[index], GREEDY, top=5).candidates
            seen.append((index, [c.logprob for c in candidates]))

    assert _in_threads(work) == []
    assert len(seen) == 12
    for index, logprobs in seen:
        assert np.allclose(logprobs, alone[index], atol=1e-3), (index, logprobs, alone[index])


@pytest.mark.model
def test_two_threads_drawing_attention_maps_each_get_their_own(smollm2_transformers: Any) -> None:
    """attention_weights hooks every layer and switches the attention implementation: two at once each
    collected the other's layers too."""
    import numpy as np

    backend = smollm2_transformers
    alone = [backend.attention(text, GREEDY, reply=" yes", window=None).layers for text in PROMPTS]
    got: dict[int, list[Any]] = {}

    def work(index: int) -> None:
        for _ in range(3):
            got[index] = backend.attention(PROMPTS[index], GREEDY, reply=" yes", window=None).layers

    assert _in_threads(work) == []
    for index in (0, 1):
        assert len(got[index]) == len(alone[index]) == 30
        assert all(np.allclose(a, b, atol=1e-4) for a, b in zip(got[index], alone[index]))


@pytest.mark.model
def test_a_reply_paused_mid_stream_refuses_scoring_in_its_own_thread(smollm2_transformers: Any) -> None:
    """The lock was re-entrant: a stream paused in this thread, then `next_token` in the same thread, went
    ahead and rewrote the paused reply's KV cache. Now that is one clear error, and the reply is unharmed."""
    backend = smollm2_transformers
    prompt = [Message("user", "Name three colours.")]
    params = GenerationParams(temperature=0, max_tokens=12)
    whole = backend.complete(prompt, params).text
    stream = backend.stream(prompt, params)
    first = next(stream)
    with pytest.raises(BackendError, match="already generating or scoring in this thread"):
        backend.next_token("Something else entirely", GREEDY)
    rest = "".join(chunk.text for chunk in stream)
    assert first.text + rest == whole
    assert backend.next_token("Something else entirely", GREEDY).candidates  # free again


# ---- cuda_graphs where it cannot take effect ------------------------------------------------------------


def test_cuda_graphs_asked_for_where_they_cannot_run_is_refused() -> None:
    """`-o cuda_graphs=true` on the CPU was silently ignored (info said cuda_graphs: false, no reason)."""
    torch = pytest.importorskip("torch")
    from assistant.backends.torch.backend import check_cuda_graphs

    with pytest.raises(BackendError, match=r"needs a CUDA device, and this model runs on cpu"):
        check_cuda_graphs(True, torch.device("cpu"), native=True)
    with pytest.raises(BackendError, match="needs the native decoder"):
        check_cuda_graphs(True, torch.device("cuda"), native=False)
    for asked in (None, False):  # not given (the default decides), or turned off: nothing to refuse
        check_cuda_graphs(asked, torch.device("cpu"), native=True)
    check_cuda_graphs(True, torch.device("cuda"), native=True)


@pytest.mark.parametrize(("options", "message"), [
    ({"cuda_graphs": "true", "device": "cpu"}, "cuda_graphs=true needs a CUDA device"),
    ({"cuda_graphs": "maybe"}, "cuda_graphs must be true or false"),
    ({"native": "maybe"}, "native must be true or false"),
])  # fmt: skip
def test_cuda_graphs_and_native_are_checked_before_the_model_is_read(
    smollm2_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict[str, str], message: str
) -> None:
    """A wrong switch was found only after the model was converted (a minute, the first time) and loaded."""
    pytest.importorskip("torch")
    from assistant.backends.torch import backend as torch_backend

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the model was read before the options were checked")

    monkeypatch.setattr(torch_backend, "ensure_converted", never)
    monkeypatch.setattr(torch_backend, "load_directory", never)
    with pytest.raises(BackendError, match=message):
        torch_backend.TransformersBackend().load(str(smollm2_path), progress=_quiet, **options)


@pytest.mark.model
def test_cuda_graphs_on_the_cpu_is_one_line_from_the_cli() -> None:
    proc = run_cli("next", "-b", "transformers", "-o", "cuda_graphs=true", "-o", "device=cpu", "hi")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: cuda_graphs=true needs a CUDA device")
    assert proc.stderr.count("\n") == 1


# ---- --out paths the system refuses ---------------------------------------------------------------------


def test_a_picture_name_too_long_is_refused_like_every_other_path(tmp_path: Path) -> None:
    """`--out aaaa…(300).png` printed "error: aaaa….png: File name too long", without "cannot write"."""
    from assistant.inspect.pictures import check_picture_path

    long = tmp_path / ("a" * 300 + ".png")
    with pytest.raises(AssistantError, match=r"^cannot write .*a\.png: File name too long$"):
        check_picture_path(long)


def test_a_loop_of_links_is_refused_not_replaced(tmp_path: Path) -> None:
    """A link pointing at itself was replaced by the picture, as if it were a new file."""
    from assistant.inspect.pictures import check_picture_path

    loop = tmp_path / "loop.png"
    loop.symlink_to(loop.name)
    with pytest.raises(AssistantError, match=r"^cannot write .*loop\.png: Too many levels of symbolic links"):
        check_picture_path(loop)
    assert loop.is_symlink()
    dangling = tmp_path / "dangling.png"  # a dangling link still says which folder is missing
    dangling.symlink_to(tmp_path / "nowhere" / "x.png")
    with pytest.raises(AssistantError, match="the folder .*nowhere does not exist"):
        check_picture_path(dangling)


def test_a_wrong_suffix_names_the_path_as_given(tmp_path: Path) -> None:
    """`--out /dev/full` said "cannot write 'full'", and `--out .png` that the name must end in .png."""
    from assistant.inspect.pictures import check_picture_path

    with pytest.raises(AssistantError, match=r"^cannot write '/dev/full': the picture's file name must end"):
        check_picture_path("/dev/full")
    with pytest.raises(AssistantError, match=r"^cannot write '\.png': give the picture a name before \.png"):
        check_picture_path(".png")
    assert check_picture_path(tmp_path / "map.PNG") == "png"


# ---- a window of one token -----------------------------------------------------------------------------


def test_a_window_of_one_token_is_said_in_words() -> None:
    """`assistant attention --window 1` said "tokens 30–30 of 31 (the last 1)"."""
    from assistant.inspect.attention import summary_line

    backend = FakeAttentionBackend(reply="ok")
    backend.load("m")
    maps = backend.attention([Message("user", "hi")], GenerationParams(temperature=0, max_tokens=4), window=1)
    total = maps.window_start + 1
    assert summary_line(maps, 1).startswith(f"token {total - 1} of {total} (the last one) · ")
    assert summary_line(maps, 2).startswith(f"tokens {total - 2}–{total - 1} of {total} (the last 2)")


# ---- compare: the second side is checked before the first runs --------------------------------------------


def test_compare_refuses_a_second_side_that_cannot_load_before_running_the_first(fakes: list) -> None:
    """`assistant compare -b transformers -b llama-cpp -m llama-cpp:typo` ran the transformers side to its
    end (half a minute) and only then said the model does not exist."""
    from assistant.compare import Side, compare

    with pytest.raises(ModelNotFoundError, match="unknown model 'no-such-model'"):
        compare("hi", GREEDY, [Side("fake", "m"), Side("llama-cpp", "no-such-model")])
    assert all(not fake.calls for fake in fakes)  # the first side generated nothing
    with pytest.raises(ModelNotFoundError, match="model file not found"):
        compare("hi", GREEDY, [Side("fake", "m"), Side("llama-cpp", "/nonexistent/x.gguf")])
    assert all(not fake.calls for fake in fakes)
    runs, _ = compare("hi", GREEDY, [Side("fake", "m"), Side("fake", "m")])  # a plugin's own names still run
    assert [run.backend for run in runs] == ["fake", "fake"]
