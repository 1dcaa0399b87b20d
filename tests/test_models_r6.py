"""Round 6, models and the transformers backend as a user: odd options, odd headers, odd repositories.

Fast: no model is loaded. GGUF headers are written by tests/gguf_files.py and
the hub is tests/hub_server.py on 127.0.0.1.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.backends.torch.backend import TransformersBackend
from assistant.backends.torch.convert import facts_from_gguf, tensor_data_end
from assistant.backends.torch.device import choose_device, choose_dtype
from assistant.errors import BackendError, ConfigError, ModelFetchError, ModelLoadError, ModelNotFoundError
from assistant.models import refs
from assistant.models.gguf import read_metadata
from assistant.models.summary import summarize

from .gguf_files import ARRAY, STRING, UINT32, gguf_string, write_gguf_header
from .hub_server import HubFile, HubServer, HubState, cached_hf_model
from .test_models_hostile import cli

BOOL = 7


# ---- transformers options: one line naming the option, before anything is loaded ---------------
@pytest.mark.parametrize("value", ["abc", 2.5, True, -1])
def test_a_bad_max_batch_is_refused_before_the_model_is_looked_up(value: object) -> None:
    # "nope.gguf" does not exist: the option is checked first, so the error is about the option
    with pytest.raises(ConfigError, match=r"^max_batch in the transformers backend's options must be"):
        TransformersBackend().load("nope.gguf", max_batch=value, progress=lambda _: None)


def test_max_batch_is_checked_as_a_count_like_the_other_integer_options() -> None:
    from assistant.option_values import check_backend_options

    assert check_backend_options({"max_batch": "4"}, "-o") == {"max_batch": 4}
    assert check_backend_options({"max_batch": 8.0}, "-o") == {"max_batch": 8}
    with pytest.raises(ConfigError, match=r"^-o max_batch must be 0 \(the default\) or more, not -1$"):
        check_backend_options({"max_batch": -1}, "-o")


@pytest.mark.parametrize(("key", "value"), [("n_ctx", "abc"), ("n_threads", "x"), ("n_ctx", 1.5)])
def test_the_python_api_gets_the_same_integer_checks_as_the_cli(key: str, value: object) -> None:
    # -o and the config check these; load() called directly raised a bare ValueError from int()
    with pytest.raises(
        ConfigError, match=f"^{key} in the transformers backend's options must be a whole number"
    ):
        TransformersBackend().load("nope.gguf", progress=lambda _: None, **{key: value})


def test_device_or_dtype_zero_is_a_choice_not_auto() -> None:
    # -o device=0 arrives as the int 0: it used to be falsy, so "auto", a silent CPU run
    with pytest.raises(BackendError, match="unknown device 0"):
        choose_device(0)  # type: ignore[arg-type]
    with pytest.raises(BackendError, match="unknown dtype 0"):
        choose_dtype(0, choose_device("cpu"))  # type: ignore[arg-type]
    with pytest.raises(BackendError, match="unknown dtype False"):
        choose_dtype(False, choose_device("cpu"))  # type: ignore[arg-type]
    assert choose_device("").type in ("cpu", "cuda", "mps")  # empty still means auto


def test_a_misspelt_sampling_key_gets_a_suggestion() -> None:
    with pytest.raises(BackendError) as info:
        TransformersBackend().load("smollm2", temprature=0, devce="cpu", progress=lambda _: None)
    message = str(info.value)
    assert "did you mean device, temperature?" in message and "(known: device," in message
    assert "\n" not in message


# ---- hostile GGUF headers ------------------------------------------------------------------------
@pytest.mark.parametrize("alignment", [0, 3, 48])
def test_an_alignment_that_is_not_a_power_of_two_is_a_load_error(models_dir: Path, alignment: int) -> None:
    path = write_gguf_header(
        models_dir / "align.gguf",
        [
            ("general.architecture", STRING, gguf_string("llama")),
            ("general.alignment", UINT32, struct.pack("<I", alignment)),
        ],
    )
    with pytest.raises(ModelLoadError, match=f"general.alignment {alignment} is not a power of two"):
        tensor_data_end(path)
    # the same through the backend, as `-b transformers -m align.gguf` (0 was a ZeroDivisionError)
    with pytest.raises(ModelLoadError, match="not a power of two"):
        TransformersBackend().load(str(path), progress=lambda _: None)


def test_a_tensor_claiming_billions_of_dimensions_is_refused_at_once(models_dir: Path) -> None:
    # read_metadata never reads the tensor table; the converter's reader looped over the
    # claimed 2**32 - 1 dimensions 8 bytes at a time (minutes on a model-sized file)
    path = models_dir / "dims.gguf"
    write_gguf_header(path, [("general.architecture", STRING, gguf_string("llama"))], n_tensors=1)
    with path.open("ab") as handle:
        handle.write(gguf_string("token_embd.weight") + struct.pack("<I", 2**32 - 1) + bytes(1 << 20))
    with pytest.raises(ModelLoadError, match="tensor with more than 8 dimensions"):
        tensor_data_end(path)
    with pytest.raises(ModelLoadError, match="tensor with more than 8 dimensions"):
        TransformersBackend().load(str(path), progress=lambda _: None)


def test_a_conversion_that_cannot_fit_on_disk_is_refused_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> None:
    import collections
    import shutil

    monkeypatch.setenv("ASSISTANT_TRANSFORMERS_CACHE", str(tmp_path / "converted"))
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: usage(1 << 40, 1 << 40, 100 << 20))
    with pytest.raises(ModelLoadError) as info:
        TransformersBackend().load(str(smollm2_path), progress=lambda _: None)
    message = str(info.value)
    assert "not enough disk space" in message and "need 538.1 MB" in message  # 134.5M parameters × 4 bytes
    assert "ASSISTANT_TRANSFORMERS_CACHE" in message
    assert not any((tmp_path / "converted").iterdir())  # nothing was written


def test_header_values_of_the_wrong_type_are_not_facts(models_dir: Path) -> None:
    path = write_gguf_header(
        models_dir / "types.gguf",
        [
            ("general.architecture", UINT32, struct.pack("<I", 7)),
            ("general.file_type", BOOL, struct.pack("<?", True)),
            ("general.name", ARRAY, struct.pack("<IQ", UINT32, 2) + struct.pack("<II", 1, 2)),
            ("7.context_length", UINT32, struct.pack("<I", 100)),
            ("tokenizer.chat_template", ARRAY, struct.pack("<IQ", STRING, 1) + gguf_string("{{ x }}")),
        ],
    )
    summary = summarize(path)
    assert summary.architecture is None and summary.name is None and summary.quantization is None
    assert summary.context_length is None  # not "7.context_length"
    assert summary.chat_template is False  # an array counted as a template made a base model "chat"
    facts = facts_from_gguf(read_metadata(path), path)
    assert facts.chat_template is None and facts.architecture == ""
    info = cli("models", "info", "types.gguf")
    assert info.exit_code == 0, info.output
    assert "chat template:  no" in info.stdout and "mode:           completion" in info.stdout
    assert "model:          -" in info.stdout and "architecture:   -" in info.stdout


def test_a_newline_in_a_header_name_cannot_forge_an_info_line(models_dir: Path) -> None:
    write_gguf_header(
        models_dir / "nl.gguf",
        [
            ("general.architecture", STRING, gguf_string("llama\nevil")),
            ("general.name", STRING, gguf_string("Nice\nsha256:          deadbeef\x1b[31m")),
        ],
    )
    info = cli("models", "info", "nl.gguf")
    assert info.exit_code == 0, info.output
    labels = [line.split(":", 1)[0] for line in info.stdout.splitlines()]
    assert labels.count("sha256") == 0 and "\x1b" not in info.stdout
    assert "model:          Nice\u21b5sha256:" in info.stdout
    listed = cli("models", "list")
    row = [line for line in listed.stdout.splitlines() if line.startswith("nl.gguf")]
    assert len(row) == 1 and "llama\u21b5ev\u2026" in row[0]  # cut to its 9 cells, the cut shown
    assert not any(line.startswith("evil") for line in listed.stdout.splitlines())


# ---- ORG/REPO for transformers from a hub -----------------------------------------------------------
@pytest.fixture
def hub(tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    gguf_only = {"model-Q4_K_M.gguf": HubFile(data=b"GGUF" + bytes(64))}
    bin_only = {"config.json": HubFile(data=b"{}"), "pytorch_model.bin": HubFile(data=b"x")}
    with HubServer(HubState(repos={"org/gguf-only": gguf_only, "org/bin-only": bin_only})) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        monkeypatch.delenv("HF_HUB_CACHE", raising=False)
        monkeypatch.delenv("ASSISTANT_OFFLINE", raising=False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield server


def _snapshot(reference: str) -> Path:
    ref = refs.parse(reference)
    assert isinstance(ref, refs.HubModelRef)
    return refs.hf_snapshot(ref, lambda _: None)


def test_a_repository_without_a_transformers_model_says_so(hub: HubServer) -> None:
    # snapshot_download matched no file and returned a directory that did not exist:
    # `models pull` printed it as a success and `-b transformers` died on a FileNotFoundError
    with pytest.raises(ModelNotFoundError, match=r"org/gguf-only has no config\.json.*hf:org/gguf-only"):
        _snapshot("org/gguf-only")
    with pytest.raises(ModelNotFoundError, match=r"org/bin-only has no \*\.safetensors weights"):
        _snapshot("org/bin-only")
    with pytest.raises(ModelNotFoundError, match="has no config.json"):
        TransformersBackend().load("org/gguf-only", progress=lambda _: None)
    pulled = cli("models", "pull", "org/gguf-only")
    assert pulled.exit_code == 1 and pulled.stdout == ""


def test_hub_failures_are_said_in_words(hub: HubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelFetchError) as info:
        _snapshot("org/missing")
    assert (
        str(info.value) == "org/missing: not found on the hub (HTTP 404): check the repository and revision"
    )
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(ModelFetchError, match=r"^org/missing: cannot reach http://127\.0\.0\.1:9: ") as info:
        _snapshot("org/missing")
    assert "Got:" not in str(info.value)


def test_an_incomplete_cached_model_offline_says_what_it_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a copy another tool left with .bin weights only: "not in the cache" would be wrong
    files = {"config.json": b"{}", "pytorch_model.bin": b"x"}
    snapshot = cached_hf_model(tmp_path / "hf-home", "org/bin-only", files)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as info:
        _snapshot("org/bin-only")
    message = str(info.value)
    assert "in the Hugging Face cache" in message and "has no *.safetensors weights" in message
    assert "offline mode is on" in message
    (snapshot / "model.safetensors").write_bytes(b"weights")
    assert _snapshot("org/bin-only") == snapshot


def test_a_base_model_by_id_runs_as_a_completion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a directory without a chat template was "completion" by path, but "chat" as ORG/REPO: wrapped in turns
    from assistant.models.mode import default_mode

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    weights = {"config.json": b"{}", "model.safetensors": b"w"}
    base = cached_hf_model(tmp_path / "hf-home", "org/base", {**weights, "tokenizer_config.json": b"{}"})
    cached_hf_model(tmp_path / "hf-home", "org/instruct", {**weights, "chat_template.jinja": b"{{ x }}"})
    assert default_mode(str(base)) == "completion"
    assert default_mode("org/base") == "completion"
    assert default_mode("org/instruct") == "chat"
    assert default_mode("org/not-downloaded") == "chat"  # unknown: the default


def test_a_remote_model_id_does_not_import_the_hub_library(tmp_path: Path) -> None:
    # `-b openai -m ORG/REPO` asks for the mode too; huggingface_hub comes only with the transformers extra
    import subprocess
    import sys

    code = (
        "import sys; from assistant.models.mode import default_mode; "
        "print(default_mode('meta-llama/Llama-3.1-8B-Instruct'), 'huggingface_hub' in sys.modules)"
    )
    env = {
        "HF_HOME": str(tmp_path / "hf-home"),
        "PATH": "/usr/bin:/bin",
        "ASSISTANT_HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["chat", "False"]


# ---- huggingface.co addresses pasted from the browser ---------------------------------------------------
@pytest.mark.parametrize(
    ("url", "meant"),
    [
        # the file page is HTML: fetched as a URL it was refused as "not a GGUF file"
        (
            "https://huggingface.co/org/R-GGUF/blob/main/R-Q4_K_M.gguf",
            refs.HubFileRef("org/R-GGUF", "main", "R-Q4_K_M.gguf"),
        ),
        # the download link worked, but unverified (no hub sha256 for a plain URL)
        (
            "https://huggingface.co/org/R-GGUF/resolve/abc123/sub/R-Q8_0.gguf?download=true",
            refs.HubFileRef("org/R-GGUF", "abc123", "sub/R-Q8_0.gguf"),
        ),
        # the repository page was "a model URL must name a .gguf file"
        ("https://huggingface.co/org/R-GGUF", refs.HubRepoRef("org/R-GGUF", "main")),
        ("https://hf.co/org/R-GGUF/tree/v2/", refs.HubRepoRef("org/R-GGUF", "v2")),
    ],
)
def test_a_hub_page_address_means_its_hf_reference(url: str, meant: refs.ModelRef) -> None:
    assert refs.parse(url) == meant


def test_other_addresses_stay_plain_urls() -> None:
    dataset = "https://huggingface.co/datasets/org/d/resolve/main/x.gguf"
    assert refs.parse(dataset) == refs.UrlRef(dataset)
    assert refs.parse("https://example.org/org/R/blob/main/x.gguf") == refs.UrlRef(
        "https://example.org/org/R/blob/main/x.gguf"
    )


def test_a_pasted_file_page_pulls_verified_from_the_hub(
    hub: HubServer, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"GGUF" + bytes(range(256)) * 8
    hub.state.repos["org/R-GGUF"] = {"R-Q4_K_M.gguf": HubFile(data=data)}
    messages: list[str] = []
    record = refs.pull_file(
        refs.parse("https://huggingface.co/org/R-GGUF/blob/main/R-Q4_K_M.gguf"),  # type: ignore[arg-type]
        messages.append,
        lambda label: lambda done, total: None,
    )
    assert record.path.read_bytes() == data and record.source == "hf:org/R-GGUF/R-Q4_K_M.gguf"
    assert any(m.endswith(" verified)") for m in messages)


# ---- models pull --quant ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reference", "said"),
    [
        ("smollm2", "--quant picks a file of hf:ORG/REPO; smollm2 names one model already"),
        ("hf:org/repo/x.gguf", "hf:org/repo/x.gguf names one model already"),
        ("hf:org/repo:F16", "--quant Q8_0 contradicts the reference's :F16"),
    ],
)
def test_quant_is_refused_where_it_would_be_ignored(reference: str, said: str) -> None:
    result = cli("models", "pull", "--quant", "Q8_0", reference)
    assert result.exit_code == 2 and said in result.stderr


def test_quant_agreeing_with_the_reference_is_fine(models_dir: Path) -> None:
    # offline (conftest): the quant checks pass and the pull itself is what fails
    result = cli("models", "pull", "--quant", "f16", "hf:org/repo:F16")
    assert result.exit_code == 1 and "offline mode is on" in result.stderr


# ---- the models directory as it is found ---------------------------------------------------------------
def test_a_dangling_symlink_or_a_directory_does_not_break_models_list(models_dir: Path) -> None:
    # one broken link (a model on an unmounted disk) made `models list` and the chat's picker fail outright
    (models_dir / "gone.gguf").symlink_to(models_dir / "elsewhere" / "x.gguf")
    (models_dir / "gone.gguf.part").symlink_to(models_dir / "elsewhere" / "x.gguf.part")
    (models_dir / "folder.gguf").mkdir()
    write_gguf_header(models_dir / "real.gguf", [("general.architecture", STRING, gguf_string("llama"))])
    listed = cli("models", "list")
    assert listed.exit_code == 0, listed.output
    assert "real.gguf" in listed.stdout
    assert "gone.gguf" not in listed.stdout and "folder.gguf" not in listed.stdout
