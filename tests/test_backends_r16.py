"""Round 16, backends: the known items left by round 15, then defects found using the backends as a user would."""

from __future__ import annotations

import pytest

from assistant.errors import BackendError

# -- known 1. base.py and chat_format.py split by job; every old import path still works ----------------------


def test_the_inspection_members_live_in_their_own_module_and_are_the_token_loops() -> None:
    from assistant.backends.base import TokenLoopBackend
    from assistant.backends.token_inspection import TokenInspection

    assert issubclass(TokenLoopBackend, TokenInspection)
    for member in ("attention", "token_logprobs", "next_token", "iter_logits", "token_pieces"):
        assert getattr(TokenLoopBackend, member) is getattr(TokenInspection, member)


def test_the_chat_template_sandbox_lives_in_its_own_module_and_old_names_still_import() -> None:
    from assistant.backends import chat_format, chat_sandbox

    for name in ("MAX_TEMPLATE_WORDS", "MAX_DATE_FORMAT", "template_literals"):
        assert getattr(chat_format, name) is getattr(chat_sandbox, name)
    for name in ("CHATML_TEMPLATE", "FALLBACKS", "ChatFormat", "PromptSegment", "choose_chat_format",
                 "render_chat_template", "_render_dicts"):
        assert hasattr(chat_format, name)


# -- known 3. the fake backend refuses unknown load options, through the real engines' own check ---------------


def test_the_fake_backend_refuses_an_unknown_load_option_as_the_real_engines_do() -> None:
    """It accepted any option: a test passing ``n_ctxx=64`` ran with the default window and never knew."""
    from assistant.backends.fake import FakeBackend

    backend = FakeBackend()
    with pytest.raises(BackendError, match=r"^unknown fake option\(s\): n_ctxx \(did you mean n_ctx\?\) "
                                           r"\(known: n_ctx, token_delay\)$"):
        backend.load("m", n_ctxx=64)
    with pytest.raises(BackendError, match=r"^unknown fake option\(s\): dtype "):
        backend.load("m", dtype="float16")  # a transformers option: no local engine the fake stands in for
    backend.load("m", n_ctx=64, token_delay=0, verbose=False, progress=print, n_gpu_layers=0)  # llama-cpp's: ignored
    assert backend.context_length == 64


@pytest.mark.usefixtures("fake_backend")
def test_check_options_refuses_the_fakes_unknown_option_before_anything_loads() -> None:
    from assistant.backends import check_options, load_backend

    with pytest.raises(BackendError, match=r"unknown fake option\(s\): temprature"):
        check_options("fake", {"temprature": 0.5})
    with pytest.raises(BackendError, match=r"unknown fake option\(s\): temperature \(temperature: a sampling"):
        load_backend("fake", "m", temperature=0.5)


# -- found: attention's memory_limit was not checked --------------------------------------------------------------


def test_attention_refuses_a_memory_limit_that_is_no_number_of_bytes() -> None:
    """``memory_limit="x"`` was a bare "'<=' not supported" TypeError; ``-1`` was "over the -1 B limit"."""
    from assistant.backends.fake import FakeAttentionBackend
    from assistant.errors import ConfigError
    from assistant.types import GenerationParams

    backend = FakeAttentionBackend()
    backend.load("m")
    params = GenerationParams(max_tokens=2)
    with pytest.raises(TypeError, match=r"^memory_limit must be a whole number of bytes or None, not str$"):
        backend.attention("hello", params, memory_limit="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"not float$"):
        backend.attention("hello", params, memory_limit=1e9)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^memory_limit must be 0 or more bytes \(None: no limit\), not -1$"):
        backend.attention("hello", params, memory_limit=-1)
    assert backend.attention("hello", params, memory_limit=None).prompt_tokens == 6
