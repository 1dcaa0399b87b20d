"""Turns that are not streamed: a slash command's tool, a choice template's scored label.

:class:`OneShotTurns` is the chat controller's part that runs them (mixed into
:class:`~assistant.tui.controller.ChatController`), kept like any turn: stored
before the run, joined to the conversation when it succeeds, kept as an error
when it fails, and as interrupted when the user stops it (Esc) — a stop is no
failure, and the screen says "stopped" (:class:`ToolStopped`).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..context import fit_to_context
from ..errors import AssistantError, ToolError
from ..history.records import INTERRUPTED_BY_USER
from ..tools.generate import TOOL_STOPPED
from ..types import Completion, Message, Timings, Usage
from .state import ChatSettings, Exchange
from .templating import VARIABLES_HINT
from .tool_calls import ToolCall

if TYPE_CHECKING:
    from ..backends import Backend
    from ..context import FittedPrompt
    from ..history import ConversationRecorder
    from ..history.recorder import ExchangeTurn
    from ..templates import PromptTemplate
    from ..templates.run import TemplateResult
    from .templating import TemplatedSession

P = TypeVar("P")
"""What a non-streamed turn's ``prepare`` builds for its ``run`` (see :meth:`OneShotTurns.run_exchange`)."""

__all__ = ["OneShotTurns", "ToolStopped"]


class ToolStopped(ToolError):
    """A tool (or scored template) run the user stopped with Esc: kept as interrupted, shown as stopped."""


class OneShotTurns:
    """Runs tools and scored templates as turns (mixed into the chat controller)."""

    settings: ChatSettings
    messages: list[Message]
    recorder: ConversationRecorder | None
    template: PromptTemplate | None
    last: Completion | None
    last_fit: FittedPrompt | None
    _streaming: threading.Lock
    _tool_stop: threading.Event

    if TYPE_CHECKING:  # the controller's, and ConversationBranches'

        def require_backend(self) -> Backend: ...

        def session(self) -> TemplatedSession: ...

        def abandon_branch(self) -> None: ...

    def classify(self, user_text: str) -> TemplateResult:
        """Run a choice template on ``user_text`` (label by log-likelihood) and keep the exchange."""
        from ..templates.render import render_template
        from ..templates.run import execute

        template = self.template
        assert template is not None
        backend = self.require_backend()

        def prepare() -> list[Message]:
            messages = render_template(
                template, self.settings.template_variables, input=user_text, variables_hint=VARIABLES_HINT
            )
            fit_to_context(backend, messages)  # one over the context window is refused here, unrecorded
            return messages

        def run(messages: list[Message]) -> Exchange:
            result = execute(template, messages, backend, self.settings.params)
            answer = result.answer if result.answer is not None else result.output
            return Exchange(
                self._completion(str(answer), result.usage, result.timings), result, None, result.to_dict()
            )

        return self.run_exchange(user_text, run, prepare)

    def run_tool(
        self, line: str, call: ToolCall, progress: Callable[[int, int, str], None] | None = None
    ) -> Any:
        """Run a slash command's tool on the loaded model; the exchange is kept like a turn.

        Esc (:meth:`cancel`) stops only the generation running at that moment, and a tool
        makes many (a summary's parts, a retry after an output it cannot use): the stop
        is kept for the whole run, and the tool's next progress report ends it (as
        :class:`ToolStopped`, see :meth:`run_exchange`).
        """
        backend = self.require_backend()

        def report(done: int, total: int, message: str) -> None:
            if self._tool_stop.is_set():
                raise ToolError(TOOL_STOPPED)
            if progress is not None:
                progress(done, total, message)

        def run(_: None) -> Exchange:
            result = call.tool.answer_without_model(call.text, call.params)  # settled so, no model is named (as the CLI)
            if result is not None:
                return Exchange(self._completion(result.to_text(), by_model=False), result, call.name, result.to_dict())
            result = call.tool.run(call.text, backend, params=call.params, progress=report)
            if self._tool_stop.is_set():  # stopped after its last report: what it made may be cut short
                raise ToolError(TOOL_STOPPED)
            return Exchange(self._completion(result.to_text()), result, call.name, result.to_dict())

        # Nothing to build first: the parameters were checked when the call was prepared.
        return self.run_exchange(line, run, lambda: None, tool_name=call.name)

    def _completion(
        self, text: str, usage: Usage | None = None, timings: Timings | None = None, *, by_model: bool = True
    ) -> Completion:
        backend = self.require_backend() if by_model else None  # a tool's answer without a model names none
        model, name = (backend.model_name, backend.name) if backend is not None else ("", "")
        return Completion(text, model, name, "stop", usage or Usage(), timings or Timings())

    def run_exchange(
        self, user_text: str, run: Callable[[P], Exchange], prepare: Callable[[], P], tool_name: str | None = None
    ) -> Any:
        """A turn that is not streamed (a tool, a scored label), kept like any other.

        ``prepare`` builds what the model will be given (a choice template's
        rendered prompt, checked against the context window); it fails before
        anything is stored, as a streamed message whose prompt cannot be built
        does (:meth:`ChatSession.send`): the model never saw it, so it is no turn
        and :attr:`last_turn` stays None. Then the user's text is stored and
        ``run(prepared)`` runs; a failure there is stored as an error turn and
        re-raised. On success the exchange joins the conversation (so the model
        sees it next turn, as a resumed one would). Stopped by the user (Esc), it is
        kept as interrupted, not as an error, and :class:`ToolStopped` is raised.
        """
        from ..history.recorder import unrecorded_turn

        if self.recorder is not None:
            self.recorder.last_turn = None
        self._tool_stop.clear()  # an Esc before this turn (on an earlier reply) does not stop it
        try:
            session = self.session()
            prepared = prepare()
        except BaseException:
            self.abandon_branch()  # nothing was sent: a prepared edit does not linger
            raise
        recorded = (
            self.recorder.turn(user_text, self.recorder.meta_of(session), session.system)
            if self.recorder is not None
            else unrecorded_turn()
        )
        with recorded as turn:  # stored before the run; a failure is kept as an error turn and re-raised
            turn.tool_name = tool_name  # a failed tool run is stored as that tool's
            # The engine is held as while streaming: a tool's or a template's generation ran beside
            # the token view's scoring of an earlier reply (two requests in one llama.cpp context),
            # and closing the app mid-tool freed the engine under it.
            with self._streaming:
                exchange = self._run_unless_stopped(run, prepared, turn)
            if exchange is not None:
                turn.complete(exchange.completion, tool_name=exchange.tool_name, tool_result=exchange.tool_result)
        if exchange is None:
            raise ToolStopped(TOOL_STOPPED)
        self.messages.extend([Message("user", user_text), Message("assistant", exchange.completion.text)])
        # The last streamed reply no longer describes the context: the status counts the conversation anew.
        self.last = self.last_fit = None
        return exchange.result

    def _run_unless_stopped(self, run: Callable[[P], Exchange], prepared: P, turn: ExchangeTurn) -> Exchange | None:
        """``run(prepared)``; None when it ended because the user stopped it (the turn is marked interrupted).

        Whatever a stop makes a run raise (the tool's "stopped", a cancelled generation's
        error) is the stop the user asked for, not a failure: it was stored as an error
        turn, and the screen said "failed: stopped" at error severity.
        """
        try:
            return run(prepared)
        except AssistantError:
            if not self._tool_stop.is_set():
                raise
        turn.status, turn.error = "interrupted", INTERRUPTED_BY_USER
        return None
