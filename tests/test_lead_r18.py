"""Round 18, the lead's own fixes found while joining the helpers' work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant.history import HistoryStore, TurnMeta

META = TurnMeta(model="m", backend="fake")


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with HistoryStore.open(tmp_path / "h.db") as opened:
        yield opened


@pytest.mark.parametrize("given", ["\x1b[31mred\x1b[0m notes", "\x1b]0;evil\x07red notes"])
def test_a_coloured_title_keeps_its_words_on_rename_and_create(store: HistoryStore, given: str) -> None:
    """A title given outright dropped only the ESC of a colour sequence and kept ``[31m`` beside the words,
    where a title made from a message drops the whole sequence (the chat app's rename and a batch's title)."""
    conversation = store.create_conversation(title=given, meta=META)
    assert store.get_conversation(conversation.id).title == "red notes"
    store.rename(conversation.id, "x " + given)
    assert store.get_conversation(conversation.id).title == "x red notes"


def test_a_title_of_nothing_but_a_colour_is_refused_as_empty(store: HistoryStore) -> None:
    conversation = store.create_conversation(meta=META)
    with pytest.raises(Exception, match="cannot be empty"):
        store.rename(conversation.id, "\x1b[31m\x1b[0m")


def _template(home: Path, name: str, text: str) -> Path:
    folder = home / "t"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.jinja"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_call_of_a_function_templates_lack_is_named_at_its_line_not_a_missing_variable(tmp_path: Path) -> None:
    """``{{ raise_exception("…") }}`` (copied from a model's chat template) was reported as a missing *variable*
    to give with ``-v``, which no text value could ever satisfy."""
    from assistant.errors import TemplateError
    from assistant.templates import load_template

    path = _template(tmp_path, "r", '---\ndescription: x\n---\nHello\n{{ raise_exception("bad") }} {{ input }}\n')
    with pytest.raises(TemplateError) as caught:
        load_template(str(path))
    message = str(caught.value)
    assert "r.jinja:5: 'raise_exception' is called, but prompt templates have no such function" in message
    assert "range" in message and "missing required" not in message


def test_a_declared_variable_called_as_a_function_is_named_as_text(tmp_path: Path) -> None:
    from assistant.errors import TemplateError
    from assistant.templates import load_template

    path = _template(tmp_path, "v", "---\ndescription: x\nvariables:\n  - name: input\n---\n{{ input() }}\n")
    with pytest.raises(TemplateError, match=r"v\.jinja:6: 'input' is a variable \(text\), not a function to call"):
        load_template(str(path))


def test_macros_methods_and_the_sandbox_functions_still_call(tmp_path: Path) -> None:
    from assistant.templates import load_template

    body = "{% macro m(x) %}{{ x }}{% endmacro %}{{ m(input) }} {{ range(2)|list }} {{ input.upper() }}\n"
    template = load_template(str(_template(tmp_path, "ok", "---\ndescription: x\n---\n" + body)))
    assert [v.name for v in template.variables] == ["input"]


def test_ollama_honours_only_the_values_it_applies_itself() -> None:
    """Ollama samples with its own top_k 40 and repeat_penalty 1.1 where a request cannot carry them: top_k=0
    passed in silence though Ollama still cut at 40, and the default top_k 40 was warned as "sampling without it"."""
    from assistant.backends.openai.servers import GENERIC, OLLAMA
    from assistant.types import GenerationParams

    assert OLLAMA.unsupported(GenerationParams(top_k=40, repeat_penalty=1.1)) == []
    assert OLLAMA.unsupported(GenerationParams(top_k=0, repeat_penalty=1.1)) == [("top_k", 0)]
    assert OLLAMA.unsupported(GenerationParams(temperature=0, repeat_penalty=1.0)) == [("repeat_penalty", 1.0)]
    # A server that applies nothing of its own: the neutral values stay no-ops.
    assert GENERIC.unsupported(GenerationParams(top_k=0, repeat_penalty=1.0)) == []


@pytest.fixture
def openai_server() -> Any:
    from tests.openai_fake_server import FakeOpenAIServer

    running = FakeOpenAIServer()
    yield running
    running.close()


@pytest.mark.parametrize("value", [10**30, 2**31])
def test_a_context_window_past_any_model_s_is_unknown(openai_server: Any, value: int) -> None:
    """``"max_model_len": 10**30`` was taken as the window, a number no prompt check could use."""
    from assistant.backends import load_backend
    from tests.openai_fake_server import send_json

    openai_server.route(
        "GET", "/v1/models", lambda h, _: send_json(h, 200, {"data": [{"id": "tiny", "max_model_len": value}]})
    )
    backend = load_backend("openai", "tiny", base_url=openai_server.base_url, progress=lambda _: None)
    assert backend.context_length == 0 and backend.info()["context_length_source"] == "unknown"


def test_a_batch_ends_with_one_line_whatever_its_out_path_holds() -> None:
    """``--out $'a\\nb/o.jsonl'`` split the batch's last line in two (``... -> a`` and ``b/o.jsonl``)."""
    from assistant.batch.runner import BatchSummary

    line = BatchSummary(total=1, done=1).line(Path("a\nb/o.jsonl"))
    assert "\n" not in line and line.endswith("-> a b/o.jsonl")


def test_an_export_to_a_file_says_where_on_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from assistant.cli import main

    monkeypatch.setenv("ASSISTANT_HOME", str(tmp_path / "home"))
    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:
        store.create_conversation(title="t", meta=META)
    folder = tmp_path / "a\nb"
    folder.mkdir()
    result = CliRunner().invoke(main, ["history", "export", "--all", "--db", str(db), "-o", str(folder / "x.md")])
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(said) == 1 and said[0].startswith("exported 1 conversation(s) to ") and said[0].endswith("a b/x.md")


def test_the_torch_sampler_keeps_what_next_shows_on_tied_and_random_logits() -> None:
    """The transformers backend's top-p summed ``softmax`` in its own order: on tied logits it kept another
    count than ``assistant next`` (llama.cpp's float32 arithmetic since round 18), so a token the view gave a
    sampled probability could never be drawn, or the reverse (25 of 3000 tied cases)."""
    import numpy as np

    torch = pytest.importorskip("torch")
    from assistant.backends.torch.sampling import Sampler
    from assistant.inspect.distribution import sampled_distribution
    from assistant.types import GenerationParams

    rng = np.random.default_rng(0)
    differ = []
    for case in range(1500):
        values = (rng.normal(size=int(rng.integers(2, 300))) * rng.uniform(0.1, 5)).astype(np.float32)
        if rng.random() < 0.4:
            values = np.round(values).astype(np.float32)
        params = GenerationParams(
            temperature=1.0, top_k=int(rng.choice([0, 2, 3, 8, 40])), top_p=float(rng.choice([0.25, 0.5, 0.75, 0.9]))
        )
        ours = len(sampled_distribution(values, params).kept_ids)
        ids, _ = Sampler(params).distribution(torch.from_numpy(values))
        torch_kept = len(values) if ids is None else len(ids)
        if ours != torch_kept:
            differ.append((case, ours, torch_kept))
    assert differ == []
