"""What the chat app does, without drawing anything.

The Textual screens call this object and render what it returns; they never
talk to a backend, the template engine, the tools or the history store
directly. That keeps the UI code about layout and events, and lets the rules
(which prompt is sent, what a backend switch keeps, how a cancelled reply is
recorded) be tested without a terminal.

Methods that run a model (``load``, ``stream``, ``run_tool``) block: the app
calls them from worker threads. Everything else is quick and safe to call from
the UI thread.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..backends import Backend, default_model_for
from ..context import FittedPrompt
from ..errors import AssistantError, BackendError, NotSupportedError
from ..inspect.token_view import ReplyTokens
from ..models.mode import Mode, choose_mode
from ..structured.output import without_schema_instruction
from ..types import Chunk, Completion, GenerationParams, Message
from .branching import ConversationBranches
from .conversations import ConversationLibrary, OpenedConversation
from .one_shot import OneShotTurns
from .pickers import SettingsOptions, backend_choices, model_choices, shown_model
from .reply_inspection import ReplyInspection, reply_prompt
from .state import ChatSettings, EngineStatus, Exchange, PromptPreview
from .templating import (
    VARIABLES_FIELD,
    TemplatedSession,
    extraction_of,
    failing_test_note,
    is_choice,
    load_chat_template,
    missing_variables_note,
    template_choices,
    variables_taken,
)

if TYPE_CHECKING:
    from ..history.records import Turn
    from ..history.session_link import HistoryLink
    from ..templates import PromptTemplate
    from ..templates.strategies import Extraction

__all__ = ["ChatController", "ChatSettings", "EngineStatus", "Exchange", "PromptPreview", "load_chat_backend"]

Progress = Callable[[str], None]
ENGINE_PROCESS_MODULE = "assistant.backends.engine.process"
"""The engine process's module: imported by the first load (see :meth:`ChatController.abort_loading`)."""


def load_chat_backend(name: str, model: str, **options: Any) -> Backend:
    """The default loader: the model in an engine process of its own where it can be.

    Imported on first load, not at start-up (the first frame does not wait for it).
    """
    from ..backends.engine.process import load_chat_backend as load

    return load(name, model, **options)


class ChatController(ReplyInspection, ConversationBranches, OneShotTurns):
    """Owns the backend, the conversation and the settings of one chat window.

    The token and attention views' model work is in :class:`ReplyInspection`;
    regenerating, editing and switching between versions of a turn in
    :class:`ConversationBranches`; tools and scored templates in
    :class:`OneShotTurns`; the state it reports in :mod:`.state`.
    """

    def __init__(
        self,
        settings: ChatSettings,
        loader: Callable[..., Backend] = load_chat_backend,
        history: HistoryLink | None = None,
    ) -> None:
        self.settings = settings
        self._loader = loader
        self._load_lock = threading.Lock()
        self._closing = False
        """The app is quitting (:meth:`abort_loading`): no load may start an engine now."""
        self._streaming = threading.Lock()  # held while a reply is generated
        self._tool_stop = threading.Event()  # Esc during a tool's run (see run_tool)
        self.backend: Backend | None = None
        self.last: Completion | None = None
        self.last_fit: FittedPrompt | None = None
        self.last_tokens: ReplyTokens | None = None
        """The last streamed reply's tokens, for its token view (see :meth:`stream`)."""
        self._session: TemplatedSession | None = None
        self._mode_key: tuple[str | None, str, str] | None = None
        self._mode: Mode = "chat"
        self.template: PromptTemplate | None = None
        self.library = ConversationLibrary(
            history.store if history else None, history.log if history else False
        )
        resumed = history.conversation if history else None
        self.messages: list[Message] = list(history.messages) if history else []
        self.recorder = self.library.recorder(resumed.id if resumed else None, settings.template)
        self._conversation_id = resumed.id if resumed else None
        self._attention_backend: Backend | None = None
        """A transformers engine for the attention view when the chat's own cannot give maps."""
        self._attention_model = ""
        self._written_here = {}

    # ---- the model ------------------------------------------------------------------
    def load(
        self, model: str | None = None, backend: str | None = None, progress: Progress | None = None
    ) -> Backend:
        """Load ``model`` on ``backend`` (default: the current ones); the conversation stays.

        The new engine is loaded before the old one is released, so a failed
        switch leaves the previous model working.
        """
        backend = backend or self.settings.backend
        # No model named ("" after `-b openai` without -m, then another backend picked in F2):
        # the backend's own default, the catalog's for a local engine, the server's for a server.
        model = model or self.settings.model or default_model_for(backend)
        with self._load_lock:
            self.refuse_when_closing()
            options = dict(self.settings.backend_options) if backend == self.settings.backend else {}
            if progress is not None:
                options["progress"] = progress
            engine = self._loader(backend, model, **options)
            previous, self.backend = self.backend, engine
            if backend != self.settings.backend:
                # The options given for the engine left behind are not this engine's: kept, they went
                # to the next model switch here ("unknown llama-cpp option(s): dtype" after F2).
                self.settings.backend_options = {}
            self.settings.model, self.settings.backend = model, backend
            self._session = None
            self._mode_key = None  # the model's files are there now: its mode is read from them
            # The last reply's counts are in the previous engine's tokens: the status line's
            # context must count the conversation again, with the new tokenizer and template.
            self.last = None
            self.last_fit = None
            if previous is not None and previous is not engine:
                previous.unload()
            return engine

    @property
    def ready(self) -> bool:
        return self.backend is not None

    def require_backend(self) -> Backend:
        if self.backend is None:
            raise BackendError("no model is loaded yet (choose one with F2)")
        return self.backend

    @property
    def model_in_this_process(self) -> bool:
        """Whether the loaded model's threads run in the app's process (no engine process)."""
        return self.backend is not None and not self.backend.capabilities.engine_process

    def engine_status(self) -> EngineStatus | None:
        if self.backend is None:
            return None
        info = self.backend.info()
        return EngineStatus(
            model=self.backend.model_name,
            backend=self.backend.name,
            device=str(info.get("device", "cpu")),
            context_length=self.backend.context_length,
            approximate_counts=info.get("token_count") == "estimate",
        )

    def unload(self, wait: float = 30.0) -> None:
        """Release the engine, after stopping a reply still being generated.

        The engine must not be freed under a generating thread (llama.cpp would
        crash), so this cancels and waits up to ``wait`` seconds for it.
        """
        if self.backend is None:
            return
        self.cancel()
        if self._streaming.acquire(timeout=wait):
            self._streaming.release()
        self.backend.unload()
        self.backend = None

    # ---- the conversation -----------------------------------------------------------
    def session(self) -> TemplatedSession:
        """The session over the current backend, sharing this controller's message list."""
        backend = self.require_backend()
        if self._session is None or self._session.backend is not backend:
            self._session = TemplatedSession(backend, messages=self.messages)
        self._session.params = self._constrained(self.settings.params, backend)
        self._session.system = self.settings.system
        self._session.mode = self.prompt_mode()
        self._session.recorder = self.recorder
        self._session.template = self.template
        self._session.variables = self.settings.template_variables
        return self._session

    def _constrained(self, params: GenerationParams, backend: Backend) -> GenerationParams:
        """``params`` held to the template's JSON schema where the backend can constrain (as the CLI does)."""
        from ..templates.run import constrained_schema

        schema = constrained_schema(self.template) if self.template is not None else None
        if schema is None or not backend.capabilities.constrained:
            return params
        return params.replace(json_schema=schema)

    def prompt_mode(self) -> Mode:
        """Chat or completion for the current model and setting (decided by :func:`choose_mode`, cached).

        Decided again after each load (see :meth:`load`): an ``ORG/REPO`` model's mode is read from
        its download, so an answer given before the files were there ("chat") must not outlive it.
        """
        key = (self.settings.mode, self.settings.model, self.settings.backend)  # a server's "gemma3" is no catalog's
        if self._mode_key != key:
            self._mode_key, self._mode = key, choose_mode(*key)
        return self._mode

    @property
    def conversation_id(self) -> int | None:
        """The stored conversation shown (None until its first turn is recorded)."""
        if self.recorder is not None and self.recorder.conversation_id is not None:
            return self.recorder.conversation_id
        return self._conversation_id

    def prompt_messages(self, user_text: str) -> list[Message]:
        """System prompt, history and the new user turn, as the backend will receive them."""
        return self.session().prompt_messages(user_text)

    def preview(self, user_text: str) -> PromptPreview:
        """The exact prompt text for a next turn of ``user_text``: fitted, then chat-templated."""
        backend = self.require_backend()
        session = self.session()
        fitted = session.fit_prompt(user_text)
        prompt = session.prompt_for(fitted)  # completion mode: the text itself, no template
        text = prompt if isinstance(prompt, str) else backend.render_prompt(prompt)
        status = self.engine_status()
        return PromptPreview(
            text=text,
            # What is sent, counted as the engine feeds it: the messages (contents as data) in chat
            # mode, the one text in completion mode (counting its messages would add a chat template).
            tokens=backend.count_tokens(prompt),
            context_length=backend.context_length,
            messages=tuple(fitted.messages),
            approximate=bool(status and status.approximate_counts),
            dropped=fitted.dropped,
        )

    def stream(self, user_text: str) -> Iterator[Chunk]:
        """Stream the reply to ``user_text``; the turn is kept even when cut short.

        A turn whose prompt cannot be built is not kept: :attr:`last_turn` stays
        None (the history is not written) when the error comes.

        The reply's tokens (token ids, and their numbers when the params ask
        for logprobs) are kept in :attr:`last_tokens` with the exact prompt,
        for the token view.
        """
        if self.recorder is not None:
            self.recorder.last_turn = None
        try:
            session = self.session()
        except BaseException:
            self.abandon_branch()  # nothing was sent: a prepared regenerate or edit does not linger
            raise
        session.last = None
        session.last_fit = None
        self.last_tokens = None
        params = session.params
        try:
            with self._streaming:
                yield from session.send(user_text)
        finally:
            self.abandon_branch()  # only when the turn was not even stored
            self.last = session.last
            if session.last_fit is not None:
                self.last_fit = session.last_fit
            if not self._forget_unanswered_turn() and session.last is not None:
                self.last_tokens = ReplyTokens(
                    session.last.token_ids,
                    params,
                    session.last.logprobs,
                    prompt=reply_prompt(session.prompt_for(session.last_fit)) if session.last_fit is not None else None,
                    model=session.last.model,
                    backend=session.last.backend,
                )
                turn = self.last_turn
                if turn is not None:
                    self.keep_reply_tokens(turn.reply_message_id, self.last_tokens)

    def _forget_unanswered_turn(self) -> bool:
        """A reply stopped before its first token (Esc while the model read the prompt) leaves no turn.

        The session has already taken the exchange out of the conversation (the model never
        answered it; a resumed conversation leaves it out too), so the next message is not sent
        after it; here its numbers go too. The history keeps it, marked interrupted.
        """
        last = self.last
        if last is None or last.text or last.finish_reason != "cancelled":
            return False
        self.last = self.last_fit = None  # the status line counts the conversation anew
        self.last_tokens = None
        return True

    @property
    def last_turn(self) -> Turn | None:
        """The stored ids of the turn sent last (None: history off, or it was not stored)."""
        return self.recorder.last_turn if self.recorder is not None else None

    def abort_loading(self) -> None:
        """End a model load still running (on quitting): its engine process is stopped, and the
        loading thread fails at once instead of keeping the program open until the load ends."""
        self._closing = True  # a load waiting for the lock must not start one when it gets it
        if not self._load_lock.locked():
            return
        import importlib
        import sys

        if ENGINE_PROCESS_MODULE not in sys.modules:  # nothing started an engine process: none to end
            return
        # Imported, not read from sys.modules: quitting while the loading thread still imported the
        # module (the first second or so) found it half initialised, and the app ended in a
        # traceback ("partially initialized module ... has no attribute 'abort_loads'"). The import
        # waits for that thread's to finish.
        importlib.import_module(ENGINE_PROCESS_MODULE).abort_loads()

    def refuse_when_closing(self) -> None:
        """No new engine once the app quits (see :meth:`abort_loading`): raise instead.

        Quitting ended the load under way, but a second one waiting for it (the attention
        view opened again while its engine loaded, "waiting for a model load under way")
        then got the lock and started an engine, and the program waited a minute more for
        that load before it could exit.
        """
        if self._closing:
            raise BackendError("the app is closing: no model is loaded now")

    def cancel(self) -> None:
        """Stop the running reply within one token, or the running tool (safe from any thread)."""
        self._tool_stop.set()
        if self.backend is not None:
            self.backend.cancel()

    def new_conversation(self) -> None:
        """Start afresh; the next turn creates a new stored conversation."""
        self.messages.clear()
        self.last = None
        self.last_fit = None
        self._conversation_id = None
        self.recorder = self.library.recorder(None, self.settings.template)

    def open_conversation(self, conversation_id: int) -> OpenedConversation:
        """Resume a stored conversation: its turns, its system prompt, and record into it."""
        from .remembered import of_conversation

        opened = self.library.open(conversation_id)
        self.messages[:] = opened.context
        # Older versions stored a --schema reply's JSON instruction as the system prompt: it was that reply's.
        self.settings.system = without_schema_instruction(opened.conversation.system)
        remembered = of_conversation(opened.stored)
        if remembered is not None:  # its settings come back with it (the screen loads its model if need be)
            if remembered.template != self.settings.template:
                try:
                    self.set_template(remembered.template)
                except AssistantError:
                    # A template since deleted: plain settings, the conversation still opens. (Passing
                    # kept the template in force before, which the conversation never had.)
                    self.set_template(None)
            own = self._without_template_params(self.settings.params)
            self.settings.params = remembered.params_over(own)
            if self.template is not None:  # its values came with the reply: leaving it takes them back
                now, before = self.settings.params.to_dict(), own.to_dict()
                self._template_params = {
                    key: (before[key], value)
                    for key, value in self.template.params.items()
                    if now.get(key) == value
                }
            opened.remembered = remembered
        self.last = None
        self.last_fit = None
        self._conversation_id = conversation_id
        self.recorder = self.library.recorder(conversation_id, self.settings.template)
        return opened

    def delete_conversation(self, conversation_id: int) -> bool:
        """Delete a stored conversation; True when it was the one open (now a new one)."""
        self.library.delete(conversation_id)
        self._written_here.clear()  # its messages are gone (their ids are never given again: migration 0013)
        if conversation_id == self.conversation_id:
            self.new_conversation()
            return True
        return False

    def fit(self) -> FittedPrompt | None:
        """The conversation as the model would get it now (trimmed to the window), or None."""
        if self.backend is None:
            return None
        session = self.session()
        if not session.prompt_messages():
            return FittedPrompt([], 0)
        try:
            return session.fit_prompt()
        except (NotSupportedError, BackendError):
            return None

    def context_used(self) -> int | None:
        """Tokens of the conversation so far: prompt + reply of the last streamed turn, else the prompt now.

        After a tool or scored turn the conversation is counted again (that
        turn joined it, and its own prompt was not the conversation's).
        """
        if self.last is not None and self.last.usage.total_tokens:
            return self.last.usage.total_tokens
        fitted = self.fit()
        return fitted.prompt_tokens if fitted is not None else None

    def status(self) -> EngineStatus | None:
        """Engine facts plus the context in use, in one call (it may tokenize: run it off the UI thread)."""
        engine = self.engine_status()
        if engine is None:
            return None
        fitted = self.last_fit if self.last is not None else self.fit()
        return replace(
            engine,
            model=shown_model(self.require_backend()),
            context_used=self.context_used(),
            dropped=fitted.dropped if fitted is not None else 0,
        )

    def close(self) -> None:
        self.unload()
        self.unload_attention_backend()
        self.library.close()

    # ---- templates -------------------------------------------------------------------
    def settings_options(self) -> SettingsOptions:
        """Models, backends and templates the settings panel and command palette offer."""
        return SettingsOptions(
            models=model_choices(), backends=backend_choices(), templates=template_choices()
        )

    def set_template(self, name: str | None, variables: dict[str, str] | None = None) -> None:
        """Use template ``name`` for the next turns (None: plain chat); its ``params`` become the defaults.

        Raises TemplateError (unknown template, bad front matter, no ``input``
        variable) and changes nothing in that case. Without ``variables``, the
        ones set before stay as far as the new template takes them.
        """
        template = load_chat_template(name) if name else None
        self.settings.params = self._without_template_params(self.settings.params)
        if template is not None and template.params:
            before = self.settings.params.to_dict()
            self.settings.params = self.settings.params.replace(**template.params)
            self._template_params = {key: (before[key], value) for key, value in template.params.items()}
        self.template = template
        self.settings.template = name or None
        if variables is not None:
            self.settings.template_variables = dict(variables)
        else:  # the palette, a reopened conversation: variables of another template would fail every turn
            self.settings.template_variables = variables_taken(template, self.settings.template_variables)
        if self.recorder is not None:
            self.recorder.template = self.settings.template

    def template_warning(self) -> str | None:
        """What the template in force still needs before a message can be sent through it; None when nothing.

        The settings panel refuses a required variable left out, but the palette
        and a reopened conversation switch the template with only the variables
        it takes: say so at once, not as every turn's failure. A template offered with a test case
        that can only fail (:func:`~.templating.failing_test_note`) runs, and says so too.
        """
        note = missing_variables_note(self.template, self.settings.template_variables)
        if note is not None:
            return f"{note}: set it in the settings (F2), field {VARIABLES_FIELD}"
        return failing_test_note(self.template)

    _template_params: dict[str, tuple[Any, Any]] = {}
    """Parameters the current template set: name -> (the user's value before, the template's value)."""

    def _without_template_params(self, params: GenerationParams) -> GenerationParams:
        """``params`` with the current template's settings taken back (those the user has not changed since)."""
        restored = self.params_without_template(params)
        self._template_params = {}
        return restored

    def params_without_template(self, params: GenerationParams | None = None) -> GenerationParams:
        """The user's own parameters: ``params`` (the settings' by default) less what the template set.

        What the app remembers on exit: saving the template's settings as the
        user's kept chain-of-thought's greedy 256 tokens after switching back to chat.
        """
        params = params if params is not None else self.settings.params
        current = params.to_dict()
        restore = {key: before for key, (before, set_to) in self._template_params.items() if current.get(key) == set_to}
        return params.replace(**restore) if restore else params

    def extract(self, text: str) -> Extraction | None:
        """The answer (and reasoning) the template asks for, from a finished reply; None without one."""
        return extraction_of(self.template, text)

    @property
    def scores_choices(self) -> bool:
        """The current template picks a label by scoring instead of generating text."""
        return is_choice(self.template)
