"""Model references: parsing, quantization choice, local files, and Hugging Face model ids for transformers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.errors import ModelError, ModelNotFoundError
from assistant.models import refs, resolve_model_path
from assistant.models.hub import choose_gguf, quantization_of
from assistant.types import GenerationParams, Message

from .conftest import run_cli


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hf:Org/Repo", refs.HubRepoRef("Org/Repo", "main", None)),
        ("hf:Org/Repo:q8_0", refs.HubRepoRef("Org/Repo", "main", "q8_0")),
        ("hf:Org/Repo@v1.2", refs.HubRepoRef("Org/Repo", "v1.2", None)),
        ("hf:Org/Repo/m.Q4_K_M.gguf", refs.HubFileRef("Org/Repo", "main", "m.Q4_K_M.gguf")),
        ("hf:Org/Repo@abc123/sub/m.gguf", refs.HubFileRef("Org/Repo", "abc123", "sub/m.gguf")),
        ("https://example.org/x/y%20z.gguf", refs.UrlRef("https://example.org/x/y%20z.gguf")),
        (
            "HuggingFaceTB/SmolLM2-360M-Instruct",
            refs.HubModelRef("HuggingFaceTB/SmolLM2-360M-Instruct", "main"),
        ),
    ],
)
def test_parse(text: str, expected: refs.ModelRef) -> None:
    assert refs.parse(text) == expected
    assert refs.parse(refs.describe(expected)) == expected  # the canonical text means the same


def test_catalog_names_aliases_and_files_in_the_models_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert refs.parse("SMOLLM2") == refs.CatalogRef(refs.find_entry("smollm2"))
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path))
    (tmp_path / "Mine.Q4_0.gguf").write_bytes(b"GGUF")
    for name in ("Mine.Q4_0.gguf", "Mine.Q4_0"):
        assert refs.parse(name) == refs.LocalRef(tmp_path / "Mine.Q4_0.gguf")
        assert resolve_model_path(name) == tmp_path / "Mine.Q4_0.gguf"
    assert refs.UrlRef("https://example.org/x/y%20z.gguf").filename == "y z.gguf"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hf:justone", "bad Hugging Face reference"),
        ("hf:a/b/notgguf.bin", "bad Hugging Face reference"),
        ("https://example.org/model.bin", "must name a .gguf file"),
        ("./missing.gguf", "model file not found"),
        ("nosuchmodel", "unknown model 'nosuchmodel'"),
    ],
)
def test_bad_references_say_what_is_accepted(text: str, message: str) -> None:
    with pytest.raises(ModelNotFoundError, match=message):
        refs.parse(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_parse_never_crashes(text: str) -> None:
    try:
        refs.parse(text)
    except ModelError:
        pass


def test_llama_cpp_refuses_a_model_id_with_a_hint() -> None:
    with pytest.raises(ModelNotFoundError, match=r"hf:Org/Repo pulls the repo's GGUF; -b transformers loads"):
        resolve_model_path("Org/Repo")


def test_quantization_choice() -> None:
    files = ["README.md", "m-Q8_0.gguf", "m-Q4_K_M.gguf", "m-Q4_K_S.gguf", "m-mmproj-f16.gguf",
             "big-Q4_K_M-00001-of-00002.gguf"]  # fmt: skip
    assert choose_gguf("o/r", files) == "m-Q4_K_M.gguf"
    assert choose_gguf("o/r", files, "q8_0") == "m-Q8_0.gguf"
    with pytest.raises(
        ModelNotFoundError, match="no IQ2_XS GGUF; it has: m-Q4_K_M.gguf, m-Q4_K_S.gguf, m-Q8_0.gguf"
    ):
        choose_gguf("o/r", files, "IQ2_XS")
    with pytest.raises(ModelNotFoundError, match="no single-file GGUF"):
        choose_gguf("o/r", ["model.safetensors"])
    assert choose_gguf("o/r", ["weird-name.gguf"]) == "weird-name.gguf"  # the only one there is
    assert quantization_of("gemma-3-270m-q4_k_m.gguf") == "Q4_K_M" and quantization_of("x.gguf") is None


@pytest.mark.model
def test_transformers_loads_an_org_repo_id_from_a_prefilled_hf_cache(
    smollm2_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-b transformers -m ORG/REPO`` finds the model in huggingface_hub's cache: no network, no copy."""
    from assistant.backends import load_backend

    # an ordinary HF checkout of SmolLM2: the transformers backend's own conversion, minus its sidecar
    converted = load_backend("transformers", str(smollm2_path), n_ctx=256, progress=lambda _: None)
    source = Path(converted.info()["converted"])
    converted.unload()
    commit = "f" * 40
    repo_dir = tmp_path / "hf" / "hub" / "models--TestOrg--SmolLM2-135M-Instruct"
    snapshot = repo_dir / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    for item in source.iterdir():
        if item.name != "assistant.json":
            os.symlink(item, snapshot / item.name)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: any request would fail
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    backend = load_backend(
        "transformers", "TestOrg/SmolLM2-135M-Instruct", n_ctx=256, progress=lambda _: None
    )
    try:
        assert str(snapshot) in str(backend.info())
        reply = backend.complete(
            [Message("user", "What is the capital of France?")], GenerationParams(max_tokens=8)
        )
        assert reply.text.strip()
    finally:
        backend.unload()
    # offline and not in the cache: a clear one-line error, no download attempted
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    done = run_cli("prompt", "-b", "transformers", "-m", "TestOrg/NotThere", "hi")
    assert (
        done.returncode == 1
        and "is not in the Hugging Face cache" in done.stderr
        and "offline" in done.stderr
    )
    assert "Traceback" not in done.stderr


def test_picker_and_cli_use_the_same_names_and_offer_pull() -> None:
    from textual.widgets import Input, Select, Static

    from assistant.models.inventory import inventory
    from assistant.tui.pickers import model_choices
    from assistant.tui.screens.settings import PULL_CHOICE, SettingsScreen

    from .tui_support import make_app, run_pilot, wait_until

    names = [row.name for row in inventory(read_headers=False)]
    assert [value for _, value in model_choices()] == names
    assert {"smollm2-135m-instruct", "gemma3-270m"} <= set(names)
    listed = run_cli("models", "list", "--json")
    assert [row["name"] for row in json.loads(listed.stdout)] == names
    app = make_app(model="smollm2")  # configured by its alias
    switched: list[tuple[str | None, str | None]] = []

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_until(pilot, lambda: app.controller.ready, what="model loaded")
        app.chat_screen.load_model = lambda model=None, backend=None: switched.append((model, backend))
        await pilot.press("f2")
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        picker = screen.query_one("#model", Select)
        assert picker.value == "smollm2-135m-instruct"  # shown by its listed name
        assert screen.choice().model == "smollm2"  # unchanged: no reload
        assert PULL_CHOICE in [value for _, value in picker._options]
        picker.value = PULL_CHOICE
        await pilot.pause()
        assert app.focused is screen.query_one("#model_path", Input)
        await pilot.press("ctrl+s")
        assert "type the model to pull" in str(screen.query_one("#error", Static).render())
        screen.query_one("#model_path", Input).value = "hf:nope"
        await pilot.press("ctrl+s")
        assert "bad Hugging Face reference" in str(screen.query_one("#error", Static).render())
        screen.query_one("#model_path", Input).value = "hf:Org/Repo:Q8_0"
        await pilot.press("ctrl+s")
        assert switched == [("hf:Org/Repo:Q8_0", "fake")]  # loading it pulls it, in the load worker

    run_pilot(app, scenario, size=(100, 40))


@pytest.mark.parametrize(
    "url", ["https://h/a%5C..%5C.evil.gguf", "https://h/x%0A.gguf", "https://h/..%2F..%2F.gguf"]
)
def test_a_url_cannot_name_a_file_outside_the_models_dir(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.errors import ModelFetchError

    monkeypatch.delenv("ASSISTANT_OFFLINE", raising=False)
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path / "models"))
    with pytest.raises(ModelFetchError, match="refusing the file name"):
        refs.pull_file(refs.parse(url), lambda _: None, lambda label: lambda done, total: None)
    assert not list(tmp_path.rglob("*.gguf*"))
    assert refs._safe_file_name("../../evil.gguf") == "evil.gguf"  # only the last part, inside the models dir


def test_models_default_edits_only_its_line(assistant_home: Path) -> None:
    from assistant.config import default_model, paths

    config = paths().config_file
    config.parent.mkdir(parents=True)
    config.write_text('# my settings\ndefault_backend = "llama-cpp"\n\n[params]\ntemperature = 0.2\ndefault_model = "x"\n')
    done = run_cli("models", "default", "smollm2")
    assert done.returncode == 0, done.stderr
    text = config.read_text()
    assert text.startswith('default_model = "smollm2-135m-instruct"\n# my settings\n')
    assert '[params]\ntemperature = 0.2\ndefault_model = "x"' in text  # a key inside a table is not the default
    assert default_model() == "smollm2-135m-instruct"
    assert run_cli("models", "default", "gemma3").returncode == 0
    assert config.read_text().count("default_model") == 2 and default_model() == "gemma3-270m"
    bad = run_cli("models", "default", "nosuchmodel")
    assert bad.returncode == 1 and "unknown model" in bad.stderr and default_model() == "gemma3-270m"


def test_a_hub_token_file_that_is_not_text_is_no_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.models import hub

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    (tmp_path / "token").write_bytes(b"\xff\xfe")
    assert hub.token() is None  # not a UnicodeDecodeError traceback on every pull
