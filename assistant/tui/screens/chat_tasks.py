"""The chat screen's tools and scored templates: a turn that is not streamed.

A mixin of :class:`~assistant.tui.screens.chat.ChatScreen`. A slash command
(``/sentiment …``) or a choice template's message runs as one task in a worker
thread, and its result is drawn as a tool message when it ends; what runs is
the controller's (:mod:`assistant.tui.controller`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from textual import work

from ...errors import AssistantError
from ..messages import TaskFinished, TaskProgress
from ..one_shot import ToolStopped
from ..reply_status import TOOL_STOPPED_STATUS
from ..slash import parse_slash_command
from ..text import shorten
from ..widgets.chat_messages import ToolMessage, UserMessage
from ..widgets.tool_results import result_view, slash_help_view

if TYPE_CHECKING:
    from .chat import ChatScreen

    _Screen = ChatScreen
else:
    _Screen = object


class TaskActions(_Screen):
    """Slash commands and scored templates, run as one task each (mixed into the chat screen)."""

    async def run_slash_command(self, line: str) -> bool:
        """``/help`` here; any other command names a tool, run on its text or the last message.

        False when no turn started (``/help``, or a mistake in the command).
        """
        from ..tool_calls import prepare_tool_call

        command = parse_slash_command(line)
        if command.name == "help":
            try:
                body, plain = slash_help_view(command.text)
            except AssistantError as exc:  # `/help nosuch`: no command of that name
                self._give_back(line)
                self.notify(str(exc), title="Slash command", severity="error", timeout=8)
                return False
            await self.log_view.add(UserMessage(line))
            await self.log_view.add(ToolMessage(line.strip() if command.text else "/help", body, plain))
            return False
        try:
            call = prepare_tool_call(line, self.controller.messages)
        except AssistantError as exc:
            self._give_back(line)
            self.notify(str(exc), title="Slash command", severity="error", timeout=8)
            return False

        def progress(done: int, total: int, message: str) -> None:
            self.post_message(TaskProgress(f"{done}/{total} {message}".strip()))

        await self.run_task(
            call.label, line, lambda: self.controller.run_tool(line, call, progress), source_text=call.text
        )
        return True

    async def run_task(
        self, label: str, user_text: str, task: Callable[[], Any], source_text: str = ""
    ) -> None:
        """Run a non-streamed turn (a tool, a scored template) in a worker; its result is drawn when done."""
        self.generating = True
        self.pending_user = await self.log_view.add(UserMessage(user_text))  # type: ignore[assignment]
        self.set_status(state="running tool", detail=label)
        self._task_worker(label, user_text, task, source_text)

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def _task_worker(self, label: str, user_text: str, task: Callable[[], Any], source_text: str) -> None:
        try:
            self.post_message(TaskFinished(label, user_text, task(), source_text=source_text))
        except ToolStopped as exc:
            self.post_message(TaskFinished(label, user_text, error=str(exc), stopped=True))
        except AssistantError as exc:
            self.post_message(TaskFinished(label, user_text, error=str(exc)))
        except Exception as exc:  # a plugin's bug must not take the app down
            self.post_message(TaskFinished(label, user_text, error=f"{type(exc).__name__}: {exc}"))

    def on_task_progress(self, message: TaskProgress) -> None:
        self.set_status(detail=shorten(message.text, 60))

    async def on_task_finished(self, message: TaskFinished) -> None:
        user, self.pending_user = self.pending_user, None
        edit_sent, self.sending_edit = self.sending_edit, False
        try:
            if message.error is not None:
                if user is not None and self.controller.last_turn is None:
                    # Not stored: what the model was to get could not be built (a choice template's
                    # prompt over the context window, say), as with a streamed message; the line goes back.
                    back = await self._not_sent(user, message.user_text, edit_sent)
                else:
                    if user is not None:
                        if message.stopped:  # the user's choice, no failure (kept interrupted, as a reply)
                            user.set_status(TOOL_STOPPED_STATUS)
                        else:
                            user.set_status("failed", shorten(message.error, 160))  # the reason stays in sight
                        self.mark_turn(user, None)  # stored with its error: it can be edited and sent again
                    # The line goes back into the box too, to fix and send again: a mistake only the
                    # tool can see as it runs is found then.
                    back = self._give_back(message.user_text)
                if message.stopped:
                    where = "back in the message box" if back else "in the input history (Up)"
                    self.notify(f"Stopped (Esc): the line is {where}", title=message.label)
                else:
                    self.notify(message.error, title=f"{message.label} failed", severity="error", timeout=10)
            else:
                body, plain = result_view(message.result, message.source_text)
                result = await self.log_view.add(ToolMessage(message.label, body, plain))
                self.mark_turn(user, result)
        finally:
            self.generating = False  # idle once the result is on screen (as for a reply)
            self.set_status(state="idle", detail="", tokens_per_second=None, ttft_ms=None)
            self.refresh_engine_status()
            self.refresh_sidebar()
