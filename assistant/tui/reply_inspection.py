"""What the token and attention views ask of the model, for one reply of the chat.

:class:`ReplyInspection` is the part of :class:`~assistant.tui.controller.ChatController`
that works on a finished reply rather than on the conversation: rebuilding the
prompt a stored reply was written after, scoring exactly its tokens
(teacher-forced), and computing its attention maps, on the chat's engine or
on a transformers engine loaded beside it. Textual-free, like the controller;
the methods that run the model block and are called from the views' workers.
"""

from __future__ import annotations

import threading
from contextlib import closing
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Generator, Sequence

from ..backends import Backend
from ..backends.base import Prompt
from ..errors import AssistantError, BackendError, ContextOverflowError, NotSupportedError
from ..inspect.token_view import ReplyTokens
from ..types import AttentionMaps, GenerationParams, Message, TokenLogprob
from .pickers import same_model
from .templating import TemplatedSession, load_chat_template

if TYPE_CHECKING:
    from ..history.recorder import ConversationRecorder
    from ..inspect.pieces import TokenPiece
    from ..models.mode import Mode
    from .conversations import ConversationLibrary
    from .state import ChatSettings

Progress = Callable[[str], None]


def reply_token_ids(backend: Backend, prompt: Prompt, text: str) -> list[int]:
    """The token ids of a reply whose ids were not kept: the text tokenized as it follows its prompt.

    Tokenized together with the rendered prompt (as the model saw it), then
    the prompt's own ids are taken off the front.
    """
    rendered = prompt if isinstance(prompt, str) else backend.render_prompt(prompt)
    prompt_ids = backend.prompt_token_ids(rendered)
    ids = backend.prompt_token_ids(rendered + text)
    if ids[: len(prompt_ids)] != prompt_ids:
        raise BackendError("the reply's tokens cannot be told apart from its prompt's (they merge at the boundary)")
    return ids[len(prompt_ids) :]


def reply_prompt(prompt: Prompt) -> tuple[Message, ...] | str:
    """A prompt as :class:`ReplyTokens` keeps it: the raw text (completion mode) or the messages."""
    return prompt if isinstance(prompt, str) else tuple(prompt)


def _backend_prompt(prompt: tuple[Message, ...] | str | None) -> Prompt:
    """A kept prompt as the backend takes it again (the caller checked it is known)."""
    assert prompt is not None
    return prompt if isinstance(prompt, str) else list(prompt)



class ReplyInspection:
    """The token view's and attention view's model work (mixed into the chat controller).

    It shares the controller's engine and its locks: scoring holds the
    engine as streaming does, so it is not unloaded underneath, and is
    refused while a reply is being written.
    """

    backend: Backend | None
    settings: ChatSettings
    library: ConversationLibrary
    recorder: ConversationRecorder | None
    _loader: Callable[..., Backend]
    _load_lock: threading.Lock
    _streaming: threading.Lock
    _scoring = False
    """The token view's scoring holds the engine now (see :meth:`cancel_scoring`)."""
    _attention_backend: Backend | None = None
    """A transformers engine for the attention view when the chat's own cannot give maps."""
    _attention_model = ""
    _written_here: dict[int, ReplyTokens]
    """The replies streamed in this window, by stored message id: their exact token ids and prompt
    (see :meth:`keep_reply_tokens`)."""

    conversation_id: int | None
    require_backend: Callable[[], Backend]
    refuse_when_closing: Callable[[], None]
    prompt_mode: Callable[[], Mode]

    # ---- attention view -----------------------------------------------------------------
    def attention_unavailable(self, reply: ReplyTokens) -> str | None:
        """Why ``reply``'s attention maps cannot be computed; None when they can."""
        if self.backend is None:
            return "no model is loaded"
        if reply.prompt is None:
            return "the prompt this reply was written after is not known"
        if not reply.token_ids and not reply.text:
            return "the reply has no tokens"
        return None

    def attention_model(self, reply: ReplyTokens) -> str:
        """The model file to compute ``reply``'s attention with: the one that wrote it."""
        backend = self.require_backend()
        if not reply.model or same_model(reply.model, backend.model_name):
            return self.settings.model
        return reply.model

    def attention_backend(self, model: str, progress: Progress | None = None) -> Backend:
        """A backend that gives attention maps for ``model`` (blocks: call it from a worker).

        The chat's own backend when it can (transformers); otherwise a
        transformers backend on the same model file (the catalog GGUFs convert),
        loaded on first use in a process of its own and kept for the next view
        until the chat closes. Token ids agree between the two local engines.
        """
        backend = self.require_backend()
        if backend.capabilities.attention and model == self.settings.model:
            return backend
        if not self._load_lock.acquire(blocking=False):
            # An engine is loading already (the chat's, or one a view closed meanwhile started): without
            # a word the view sat on "Getting … ready" for the minute that load takes.
            if progress is not None:
                progress("waiting for a model load under way to finish…")
            self._load_lock.acquire()
        try:
            self.refuse_when_closing()
            side = self._attention_backend
            if side is not None and self._attention_model == model:
                return side
            options: dict[str, Any] = {"progress": progress} if progress is not None else {}
            engine = self._loader("transformers", model, **options)
            if not engine.capabilities.attention:
                engine.unload()
                raise NotSupportedError("the transformers backend cannot return attention weights here")
            self._attention_backend, self._attention_model = engine, model
            if side is not None:
                side.unload()
            return engine
        finally:
            self._load_lock.release()

    def reply_attention(self, reply: ReplyTokens, backend: Backend, window: int | None) -> AttentionMaps:
        """Attention over ``reply``'s prompt and exactly its tokens (its text when they were not kept).

        Blocks; :meth:`cancel_attention` stops it between two layers (a
        :class:`BackendError`). The chat's own engine is held as while streaming.
        """
        reason = self.attention_unavailable(reply)
        if reason is not None:
            raise NotSupportedError(reason)
        assert reply.prompt is not None
        given: str | list[int] = list(reply.token_ids) if reply.token_ids else reply.text
        if backend is not self.backend:
            return backend.attention(_backend_prompt(reply.prompt), reply.params, reply=given, window=window)
        if not self._streaming.acquire(blocking=False):
            raise BackendError("the model is busy with a reply or a tool: try again when it is done")
        try:
            return backend.attention(_backend_prompt(reply.prompt), reply.params, reply=given, window=window)
        finally:
            self._streaming.release()

    def cancel_attention(self) -> None:
        """Stop an attention computation (safe from any thread; a chat reply is never running then)."""
        for backend in (self._attention_backend, self.backend):
            if backend is not None and backend.capabilities.attention:
                backend.cancel()

    def unload_attention_backend(self) -> None:
        side, self._attention_backend = self._attention_backend, None
        if side is not None:
            side.unload()

    # ---- token view -------------------------------------------------------------------
    def token_numbers_unavailable(self, reply: ReplyTokens) -> str | None:
        """Why ``reply``'s token probabilities cannot be computed now; None when they can."""
        backend = self.backend
        if backend is None:
            return "no model is loaded"
        if not backend.capabilities.next_token:
            return (
                f"the {backend.name} backend cannot score given tokens "
                "(start the chat with -o logprobs=5 to record them as replies are written)"
            )
        if reply.model and not same_model(reply.model, backend.model_name):
            return f"this reply came from {reply.model}: load it (F2) to compute them"
        if reply.prompt is None:
            return "the prompt this reply was written after is not known"
        if not reply.token_ids and not reply.text:
            return "the reply has no tokens"
        return None

    def token_pieces(self, reply: ReplyTokens, token_ids: Sequence[int]) -> list[TokenPiece]:
        """The exact pieces of ``token_ids`` in the vocabulary of the model that wrote ``reply`` (quick).

        What the views draw a token from: its bytes (``<0xE2>`` where they are
        not a whole character) and a control token's name, as ``assistant next``
        prints them; a token's text alone has neither. Empty when the loaded
        model is not the reply's (another vocabulary) or its backend has no
        local vocabulary (a server): the views then draw the tokens' texts.
        """
        backend = self.backend
        if backend is None or not token_ids or not backend.capabilities.next_token:
            return []
        if reply.model and not same_model(reply.model, backend.model_name):
            return []
        return list(backend.token_pieces(token_ids))

    def keep_reply_tokens(self, message_id: int, tokens: ReplyTokens) -> None:
        """Remember a reply streamed here by its stored id: its widget is drawn again from the
        history when its conversation is switched to another version and back, or reopened, and the
        history keeps token ids only with numbers; scoring its text tokenized again could score
        other pieces than the model wrote."""
        tokens.message_id = message_id
        self._written_here[message_id] = tokens

    def stored_reply_tokens(self, message_id: int) -> ReplyTokens | None:
        """A stored reply of the open conversation, with its numbers if the history has them.

        The prompt is rebuilt as the chat built it: the system prompt, the
        conversation before the reply (:func:`~assistant.history.store.context_of`)
        and its user turn through the template the turn was made with — in
        completion mode (a base model) the one text the model continued, as the
        live reply keeps it. A conversation that outgrew the window then loses
        its oldest turns as it did then (down to the prompt's stored token
        count), whatever the window now; a prompt that no longer fits is an
        error when the numbers are computed.
        """
        from ..history.store import context_of

        if message_id in self._written_here:
            return self._written_here[message_id]
        store, conversation_id = self.library.store, self.conversation_id
        if store is None or conversation_id is None:
            return None
        # The branch this window shows (the recorder's head): another window or `prompt -c`
        # may have moved the stored head to another version, without the reply asked about.
        head = self.recorder.head if self.recorder is not None else None
        stored = store.messages(conversation_id, head=head)
        index = next((i for i, m in enumerate(stored) if m.id == message_id), None)
        if index is None or stored[index].role != "assistant":
            return None
        message = stored[index]
        before = stored[:index]
        user = next((i for i in range(len(before) - 1, -1, -1) if before[i].role == "user"), None)
        params = GenerationParams(
            **{k: v for k, v in (message.params or {}).items() if k in GenerationParams.field_names()}
        )
        tokens = list(message.tokens or [])
        prompt: tuple[Message, ...] | str | None = None
        if message.completion_prompt is not None and self.prompt_mode() == "completion":
            prompt = message.completion_prompt  # the exact text it continued, kept with it: nothing to rebuild
        elif user is not None:
            sent = before[user].rendered  # a template run (`prompt -t`) keeps what it sent: no rendering again
            sent_as_is = bool(sent) and sent[-1].role == "user"  # type: ignore[index]
            template = load_chat_template(message.template) if message.template and not sent_as_is else None
            variables = self.settings.template_variables if message.template == self.settings.template else {}
            session = TemplatedSession(
                self.require_backend(),
                messages=context_of(before[:user]) + (list(sent[:-1]) if sent_as_is else []),  # type: ignore[index]
                system=message.system,  # the prompt it was written under: a conversation's can change
                template=template,
                variables=variables,
                # The numbers need the reply's own model loaded (token_numbers_unavailable): its mode now.
                mode=self.prompt_mode(),
            )
            # Counted in the loaded model's tokens: the reply's own model's count says nothing in another's.
            own_model = not message.model or same_model(message.model, self.require_backend().model_name)
            user_text = sent[-1].content if sent_as_is else before[user].content  # type: ignore[index]
            fitted = session.fit_as_sent(user_text, message.prompt_tokens if own_model else None)
            prompt = reply_prompt(session.prompt_for(fitted))
        return ReplyTokens(
            list(message.token_ids or []),  # kept without logprobs too: the exact ids, not re-tokenized text
            params,
            tokens,
            prompt=prompt,
            model=message.model or "",
            backend=message.backend or "",
            message_id=message.id,
            origin="stored with the reply in the history",
            text=message.content,
        )

    def reply_token_logprobs(
        self, reply: ReplyTokens, top: int, params: GenerationParams | None = None
    ) -> Generator[TokenLogprob, None, None]:
        """The numbers of exactly ``reply``'s tokens after its own prompt (teacher-forced), lazily.

        Blocks (run it in a worker); iterate for progress, stop iterating or
        :meth:`cancel` to abandon. The engine is held as while streaming, so
        it is not unloaded under the computation; refused while a reply is
        being written.
        """
        return self._numbers(reply, top, params, None)

    def _numbers(
        self, reply: ReplyTokens, top: int, params: GenerationParams | None, whole: int | None
    ) -> Generator[TokenLogprob, None, None]:
        """:meth:`reply_token_logprobs`; ``whole``: the tokens of the reply ``reply`` was cut from (see
        :meth:`step_numbers`), for the window a refusal names."""
        reason = self.token_numbers_unavailable(reply)
        if reason is not None:
            raise NotSupportedError(reason)
        backend = self.require_backend()
        assert reply.prompt is not None
        if not self._streaming.acquire(blocking=False):
            raise BackendError("the model is busy with a reply or a tool: try again when it is done")
        self._scoring = True
        try:
            if not reply.token_ids:
                reply.token_ids = reply_token_ids(backend, _backend_prompt(reply.prompt), reply.text)
            yield from backend.token_logprobs(
                _backend_prompt(reply.prompt), reply.token_ids, params or reply.params, top
            )
        except ContextOverflowError as exc:
            scored = len(reply.token_ids)
            try:  # the prompt as the engine feeds it, whatever the error counted (see longer_than_window)
                prompt: int | None = len(backend.prompt_token_ids(_backend_prompt(reply.prompt)))
            except AssistantError:
                prompt = None
            raise longer_than_window(exc, scored, scored if whole is None else whole, prompt) from exc
        finally:
            self._scoring = False
            self._streaming.release()

    def cancel_scoring(self) -> None:
        """Stop the token view's scoring (safe from any thread), and nothing else.

        The view's Esc called :meth:`cancel`, which stops whatever holds the engine: opened
        while a reply or a tool ran, its scoring was refused ("busy"), and an Esc pressed
        before that answer came stopped the reply or the tool instead.
        """
        backend = self.backend
        if self._scoring and backend is not None:
            backend.cancel()

    def step_numbers(self, reply: ReplyTokens, step: int, params: GenerationParams, top: int) -> TokenLogprob:
        """The numbers of ``reply``'s token ``step`` under other ``params``, from the whole distribution.

        What the sampling panel asks when the recorded top-N list cannot say
        what a setting would do: the engine re-reads the reply up to that step
        (its cache keeps the prompt) and applies ``params`` to every logit.
        """
        with closing(self._numbers(_up_to(reply, step), top, params, len(reply.token_ids))) as numbers:
            last: TokenLogprob | None = None
            for last in numbers:
                pass
        if last is None:
            raise BackendError("the engine gave no numbers for that step")
        return last


def longer_than_window(
    exc: ContextOverflowError, scored: int, whole: int, prompt: int | None = None
) -> BackendError:
    """Scoring a reply refused by the window: what happened, and the window that would take it.

    The engine's words ("prompt is 742 tokens …; shorten the input") were advice for a prompt
    being typed: a stored reply cannot be shortened. Its conversation was written with a larger
    window (``-o n_ctx`` is not remembered) or, in an old row, with older turns left out.
    ``scored``: the reply's tokens the engine was given; ``whole``: the reply's (more, for the
    sampling panel's one step), so the window named holds every step. The engine takes a prompt
    of P tokens and R tokens forced after it in a window of P + R tokens.

    ``prompt``: the prompt's tokens, counted by the caller; else read from the error. An engine that
    counts the reply apart (``exc.continuation_tokens``) names the prompt's own tokens; one that does
    not counted both, P + ``scored`` - 1 (the last forced token is only read), except where the prompt
    alone overflowed: then its count is the prompt's, and taking ``scored`` - 1 off it named a window too
    small, which failed again.
    """
    if prompt is None:
        prompt = exc.prompt_tokens if exc.continuation_tokens else exc.prompt_tokens - max(scored - 1, 0)
    needed = prompt + whole
    return BackendError(
        f"this reply and the conversation before it take {needed} tokens, more than this model's "
        f"context window now holds ({exc.context_length} tokens): start the chat with -o n_ctx={needed} "
        "or more to see its numbers"
    )


def _up_to(reply: ReplyTokens, step: int) -> ReplyTokens:
    """``reply`` cut after its token ``step`` (same prompt and settings): what scoring that step needs."""
    return replace(reply, token_ids=list(reply.token_ids[: step + 1]), tokens=[])
