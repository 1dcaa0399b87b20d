"""Regenerate and edit through the chat controller with the real SmolLM2 model on llama-cpp."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.types import GenerationParams

pytestmark = pytest.mark.model


def test_regenerate_and_edit_with_a_real_model(smollm2_path: Path) -> None:
    from assistant.backends import load_backend
    from assistant.config import default_system_prompt
    from assistant.history.session_link import link_history
    from assistant.tui import ChatController, ChatSettings

    settings = ChatSettings(
        model=str(smollm2_path),
        backend="llama-cpp",
        system=default_system_prompt(),
        params=GenerationParams(temperature=0, max_tokens=24),
        backend_options={"n_ctx": 1024},
    )
    controller = ChatController(
        settings,
        loader=lambda name, model, **options: load_backend(name, model, **options),
        history=link_history(),
    )
    controller.load()
    try:
        first = "".join(chunk.text for chunk in controller.stream("What is the capital of France?"))
        assert "Paris" in first
        store, conversation_id = controller.library.store, controller.conversation_id
        reply_id = store.messages(conversation_id)[-1].id

        # Greedy: the same prompt gives the same reply again, kept as a second version.
        text = controller.begin_regenerate(reply_id)
        again = "".join(chunk.text for chunk in controller.stream(text))
        assert again == first
        assert [m.content for m in store.messages(conversation_id, branch="all")] == [text, first, again]
        new_id = store.messages(conversation_id)[-1].id
        assert controller.versions(new_id) == (2, 2)

        # Edited, the model sees the new question only.
        user_id = store.messages(conversation_id)[0].id
        controller.begin_edit(user_id)
        edited = "".join(chunk.text for chunk in controller.stream("What is the capital of Italy?"))
        assert "Rom" in edited and "Paris" not in edited  # Rome, or Roma: SmolLM2 sometimes answers in Italian
        assert [m.content for m in controller.messages] == ["What is the capital of Italy?", edited]
        assert controller.versions(store.messages(conversation_id)[0].id) == (2, 2)

        # Back to the first question: its branch, as it was last written.
        view = controller.show_version(store.messages(conversation_id)[0].id, -1)
        assert view is not None and [m.content for m in view.stored] == [text, again]
        assert [m.content for m in controller.messages] == [text, again]
    finally:
        controller.close()
