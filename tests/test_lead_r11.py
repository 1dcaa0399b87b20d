"""Round 11: small fixes the lead made from the helpers' "noticed and left alone" lists."""

from __future__ import annotations

import os

import pytest

from assistant import compare
from assistant.errors import BackendError
from assistant.types import GenerationParams


def test_an_openai_side_with_the_servers_own_model_is_named_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """`compare` with an openai side and no -m printed "the openai side (): …"."""

    def fail(*_args: object) -> None:
        raise BackendError("connection refused")

    monkeypatch.setattr(compare, "_run_engine", fail)
    with pytest.raises(BackendError) as caught:
        compare.run_engine(compare.Side("openai", ""), "hi", GenerationParams(), lambda _line: None)
    assert str(caught.value) == "the openai side (the server's model): connection refused"
    with pytest.raises(BackendError) as caught:
        compare.run_engine(compare.Side("llama-cpp", "smollm2"), "hi", GenerationParams(), lambda _line: None)
    assert str(caught.value) == "the llama-cpp side (smollm2): connection refused"


def test_an_unreachable_host_is_named_without_errno() -> None:
    """`models pull hf:a/b` offline printed "[Errno -2] Name or service not known"."""
    import socket
    import urllib.error

    from assistant.models import hub
    from assistant.models.download import unreachable

    url = "https://huggingface.co/a/b/resolve/main/x.gguf"
    offline = urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))
    assert str(unreachable(url, offline)) == (
        f"{url}: cannot reach huggingface.co: its name does not resolve (offline, or a typo?)"
    )
    refused = urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
    assert str(unreachable(url, refused)) == f"{url}: cannot reach huggingface.co: the connection was refused"
    assert "Errno" not in str(unreachable(url, OSError(101, "Network is unreachable")))
    assert hub.unreachable is unreachable  # one definition for the hub's metadata calls and the download


def test_metadata_from_a_port_nobody_listens_on_says_refused() -> None:
    import socket

    from assistant.errors import ModelFetchError
    from assistant.models import hub

    with socket.socket() as probe:  # a free port, closed again: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ModelFetchError, match="cannot reach 127.0.0.1: the connection was refused"):
        hub._get_json(f"http://127.0.0.1:{port}/api/models/a/b")


def test_models_rm_removes_a_link_to_nothing(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`models rm x.gguf` of a dangling link in the models directory was refused: nothing could remove it."""
    from click.testing import CliRunner

    from assistant.cli import main

    models = tmp_path / "models"
    models.mkdir()
    (models / "gone.gguf").symlink_to(tmp_path / "nowhere.gguf")
    (tmp_path / "elsewhere.gguf").write_bytes(b"GGUF")
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(models))
    monkeypatch.setenv("ASSISTANT_HOME", str(tmp_path / "home"))
    refused = CliRunner().invoke(main, ["models", "rm", "gone"])
    assert refused.exit_code == 2 and "pass -y" in refused.output
    assert (models / "gone.gguf").is_symlink()
    done = CliRunner().invoke(main, ["models", "rm", "-y", "gone"])
    assert done.exit_code == 0, done.output
    assert "removed the broken link" in done.output
    assert not os.path.lexists(models / "gone.gguf")
    # a link that still points at a file is not "broken": the usual rm (which keeps the target)
    (models / "alive.gguf").symlink_to(tmp_path / "elsewhere.gguf")
    from assistant.models import refs

    assert refs.dangling_link("alive") is None
    assert (tmp_path / "elsewhere.gguf").exists()


def test_a_run_method_is_inspected_once_for_many_instances_of_its_class(monkeypatch: pytest.MonkeyPatch) -> None:
    """5,000 tools of one class spent half a second in inspect.signature on every command."""
    from assistant.errors import ConfigError
    from assistant.tools import registry

    class Generated:
        description = "one of many"

        def __init__(self, n: int) -> None:
            self.name = f"gen{n}"

        def run(self, text: str, params: dict, backend: object) -> str:
            return text

    class Broken(Generated):
        def run(self, text: str) -> str:  # type: ignore[override]
            return text

    calls = []
    real = registry.inspect.signature
    monkeypatch.setattr(registry.inspect, "signature", lambda f: calls.append(f) or real(f))
    for n in range(50):
        registry._check_tool(Generated(n))
    assert len(calls) == 1
    for _ in range(2):  # a wrong signature is never remembered as good
        with pytest.raises(ConfigError, match="run must accept"):
            registry._check_tool(Broken(1))


def test_model_help_says_the_configured_default_comes_first() -> None:
    """`prompt --help` said "default: smollm2" while `prompt` ran the config's default_model."""
    from click.testing import CliRunner

    from assistant.cli import main

    for command in ("prompt", "attention", "next"):
        shown = " ".join(CliRunner().invoke(main, [command, "--help"]).output.split())
        assert "default: ASSISTANT_MODEL, else config default_model, else smollm2" in shown, command


def test_a_colour_code_after_a_full_stop_still_ends_the_sentence() -> None:
    """"Obama.\\x1b[0m Then" hid the sentence break: NER saw one sentence, and its windows and examples with it."""
    from assistant.tools.text import sentence_spans

    text = "Barack Obama spoke.\x1b[0m Then Angela Merkel replied."
    assert [text[a:b] for a, b in sentence_spans(text)] == ["Barack Obama spoke.\x1b[0m", "Then Angela Merkel replied."]
    plain = 'He said "fine." Then left.'
    assert [plain[a:b] for a, b in sentence_spans(plain)] == ['He said "fine."', "Then left."]


def test_a_huge_seed_is_quoted_short() -> None:
    """`-o seed=1e99` quoted the expanded 100-digit number back."""
    from assistant.errors import ConfigError

    # shown exact but short (round 19: the CLI quotes `1e99` as typed; 10**15 to 2**63 were shown as 9.22e+18)
    with pytest.raises(ConfigError, match=r"not 10{39}… \(100 digits\)$"):
        GenerationParams(seed=10**99)
    with pytest.raises(ConfigError, match=r"not 4294967295$"):
        GenerationParams(seed=2**32 - 1)


def test_compare_gives_each_sides_model_to_its_options_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """An n_ctx past the model is checked against the model named for that side, before either side runs."""
    seen = []
    monkeypatch.setattr(compare, "check_options", lambda *args: seen.append(args))
    compare.check_sides_options([compare.Side("llama-cpp", "smollm2", {"n_ctx": 100}), compare.Side("transformers", "gemma3")])
    assert seen == [("llama-cpp", {"n_ctx": 100}, "smollm2"), ("transformers", {}, "gemma3")]


def test_religious_noble_and_police_titles_are_not_part_of_a_name() -> None:
    """"Pastor Ann Lee" was one PERSON span with its title; "Duke of Orleans" made "Duke" a candidate."""
    from assistant.tools.spans import name_spans

    def names(text: str) -> list[str]:
        return [text[s.start : s.end] for s in name_spans(text)]

    assert names("On Sunday Pastor Ann Lee spoke.") == ["Sunday", "Ann Lee"]
    assert names("Bishop Desmond Tutu met Cardinal Ratzinger.") == ["Desmond Tutu", "Ratzinger"]
    assert names("Detective Inspector Jane Tennison arrived.") == ["Jane Tennison"]
    assert names("French troops under Duke of Orleans besieging Turin were defeated.") == ["French", "Orleans", "Turin"]
    assert names("The Cardinals won again.") == ["Cardinals"]  # a plural is a team, not a title
