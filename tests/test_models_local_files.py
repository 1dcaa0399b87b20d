"""``models info / rm / default`` on files: any GGUF path is read; what -m could not load is no default."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant.cli import main
from assistant.config import default_model
from assistant.models import registry

from .gguf_files import gguf_string, write_gguf_header


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def write_gguf(path: Path) -> Path:
    """A header-only GGUF (no tensors): enough for the header reader, which is all these commands use."""
    pairs = [
        ("general.architecture", 8, gguf_string("llama")),
        ("general.name", 8, gguf_string("Tiny")),
        ("llama.context_length", 4, struct.pack("<I", 2048)),
        ("tokenizer.chat_template", 8, gguf_string("{{ messages }}")),
    ]
    return write_gguf_header(path, pairs)


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "elsewhere"
    directory.mkdir()
    monkeypatch.chdir(directory)
    return directory


def test_info_reads_a_gguf_outside_the_models_directory(models_dir: Path, elsewhere: Path) -> None:
    copy = write_gguf(elsewhere / "copy.gguf")
    result = cli("models", "info", "./copy.gguf")
    assert result.exit_code == 0, result.output
    assert f"path:           {copy}" in result.stdout
    assert "architecture:   llama" in result.stdout and "context length: 2048" in result.stdout
    assert "mode:           chat" in result.stdout  # the file's own template, as -m would see it
    data = json.loads(cli("models", "info", "--json", str(copy)).stdout)
    assert data["kind"] == "file" and data["header"]["name"] == "Tiny"
    assert cli("models", "path", "./copy.gguf").stdout.strip() == str(copy)


def test_info_on_something_else_is_one_line(models_dir: Path, elsewhere: Path) -> None:
    (elsewhere / "notes.txt").write_text("hello")
    not_gguf = cli("models", "info", "./notes.txt")
    assert not_gguf.exit_code == 1 and not_gguf.stderr.endswith("notes.txt: not a GGUF file (bad magic bytes)\n")
    directory = cli("models", "info", str(elsewhere))
    assert directory.exit_code == 1
    assert directory.stderr == f"error: {elsewhere} is a directory, not a GGUF model file\n"


def test_rm_leaves_a_file_outside_the_models_directory_alone(models_dir: Path, elsewhere: Path) -> None:
    copy = write_gguf(elsewhere / "copy.gguf")
    refused = cli("models", "rm", "-y", "./copy.gguf")
    assert refused.exit_code == 1 and copy.is_file()
    assert refused.stderr.startswith(f"error: {copy} is not in the models directory ({models_dir}); ")
    assert len(refused.stderr.splitlines()) == 1
    inside = write_gguf(models_dir / "inside.gguf")
    assert cli("models", "rm", "-y", "inside.gguf").exit_code == 0 and not inside.exists()


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("/etc/passwd", "cannot load model /etc/passwd: not a GGUF file (bad magic bytes)"),
        ("hf:org/repo", "hf:org/repo is not downloaded; pull it first (assistant models pull hf:org/repo)"),
        ("hf:org/repo/x.gguf", "is not downloaded; pull it first"),
        ("https://example.org/x.gguf", "is not downloaded; pull it first"),
    ],
)
def test_default_refuses_what_prompt_could_not_load(
    models_dir: Path, elsewhere: Path, reference: str, message: str
) -> None:
    assert cli("models", "default", "smollm2").exit_code == 0
    result = cli("models", "default", reference)
    assert result.exit_code == 1 and message in result.stderr and len(result.stderr.splitlines()) == 1
    assert default_model() == "smollm2-135m-instruct"  # unchanged


def test_default_refuses_a_file_that_is_not_gguf_even_named_so(models_dir: Path, elsewhere: Path) -> None:
    (elsewhere / "fake.gguf").write_bytes(b"<html>404</html>")
    (models_dir / "fake2.gguf").write_bytes(b"")
    (elsewhere / "dir").mkdir()
    for reference in ("./fake.gguf", "fake2.gguf", "./dir"):
        result = cli("models", "default", reference)
        assert result.exit_code == 1 and "cannot load model" in result.stderr, reference
    assert not (models_dir.parent / "home" / "config" / "config.toml").exists()


def test_default_takes_gguf_files_and_pulled_references(models_dir: Path, elsewhere: Path) -> None:
    copy = write_gguf(elsewhere / "copy.gguf")
    assert cli("models", "default", "./copy.gguf").exit_code == 0
    assert default_model() == str(copy)  # absolute: means the same from any directory
    write_gguf(models_dir / "mine.gguf")
    assert cli("models", "default", "mine.gguf").exit_code == 0 and default_model() == "mine.gguf"
    write_gguf(models_dir / "pulled.gguf")
    registry.add(registry.PulledModel(
        name="pulled.gguf", source="hf:org/repo/pulled.gguf", repo="org/repo", filename="pulled.gguf",
        revision="abc", requested_revision=None, sha256="0" * 64, size=1, date="2025-01-01",
    ))  # fmt: skip
    assert cli("models", "default", "hf:org/repo").exit_code == 0 and default_model() == "hf:org/repo"
    hf_dir = elsewhere / "hf-model"
    hf_dir.mkdir()
    (hf_dir / "config.json").write_text("{}")
    assert cli("models", "default", "./hf-model").exit_code == 0 and default_model() == str(hf_dir)


def test_rm_of_the_default_model_says_the_default_is_gone(models_dir: Path, elsewhere: Path) -> None:
    """``default_model`` keeps naming a removed file: every command would then fail to find it."""
    inside = write_gguf(models_dir / "mine.gguf")
    assert cli("models", "default", "mine.gguf").exit_code == 0
    removed = cli("models", "rm", "-y", "mine.gguf")
    assert removed.exit_code == 0 and not inside.exists()
    assert "mine.gguf was the default model" in removed.stderr and "assistant models default" in removed.stderr
    other = write_gguf(models_dir / "other.gguf")
    quiet = cli("models", "rm", "-y", "other.gguf")
    assert quiet.exit_code == 0 and not other.exists() and "default model" not in quiet.stderr
