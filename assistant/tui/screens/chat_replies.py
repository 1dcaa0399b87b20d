"""The chat screen's send / stream flow: a message becomes a turn, its reply streams in, Esc stops it.

A mixin of :class:`~assistant.tui.screens.chat.ChatScreen`. The model runs in a
thread worker through the controller; new text waits in a
:class:`~assistant.tui.stream_buffer.ReplyBuffer` and is drawn when the
:class:`~assistant.tui.stream_buffer.DrawPacer` allows. A message that cannot be
sent is given back (:meth:`ReplyFlow._give_back`), never lost.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual import work

from ...errors import AssistantError
from ..messages import ReplyFinished, ReplyProgress
from ..reply_status import finished_status, noted_status
from ..slash import is_slash_command, parse_slash_command, unescape_slash
from ..templating import answer_view
from ..widgets.chat_messages import AssistantMessage, UserMessage

if TYPE_CHECKING:
    from .chat import ChatScreen

    _Screen = ChatScreen
else:
    _Screen = object


class ReplyFlow(_Screen):
    """Sending a message, streaming its reply, giving back what was not sent (mixed into the chat screen)."""

    def _give_back(self, text: str, reason: str = "") -> bool:
        """Refuse ``text`` without losing it: back into the empty message box (True), else put aside in
        the input history (False; Up brings it back, quitting keeps it: it was lost when the app closed)."""
        box = self.prompt_input
        box.sent_history.refuse(text)
        if not box.text.strip() or box.text == text:
            box.bring_back(text)
            if reason:
                self.notify(reason, severity="warning")
            return True
        box.sent_history.park(text)
        aside = "the message box holds other text, so it is in the input history: Up brings it back"
        self.notify(f"{reason}; {aside}" if reason else f"Not sent: {aside}", severity="warning")
        return False

    def unsent_text(self) -> str:
        """What the user wrote and has not sent, each text once, kept as the draft on quitting: a message
        waiting for the model, the texts set aside unsent (:meth:`InputHistory.unsent`) and the box's text
        but a message being edited, unchanged. The box alone was kept: a draft Up set aside was lost."""
        current = "" if self.edit_untouched else self.prompt_input.text  # `e` and quit: no draft
        texts = self.prompt_input.sent_history.unsent(current)
        return "\n\n".join(dict.fromkeys(text for text in (self.queued or "", *texts) if text.strip()))

    async def send(self, text: str) -> None:
        if self.model_loading:
            if self.queued is not None:
                self._give_back(text, "A message is already waiting for the model to load")
            else:
                self.queued = text
                self.notify("The model is loading: your message goes as soon as it is ready")
            return
        if not self.controller.ready:
            self._give_back(text, "No model is loaded (F2 to choose one)")
            return
        edited = False
        if self.editing is not None:
            if is_slash_command(text) and parse_slash_command(text).name == "help":
                self.cancel_edit()  # /help is no turn: nothing to send as a new version
            elif not await self.begin_edit_send():
                self._give_back(text)
                return
            else:
                edited = True
        self.sending_edit = edited
        if is_slash_command(text):
            if not await self.run_slash_command(text):
                self.sending_edit = False
                await self.abandon_branch()  # refused: an edit prepared for it is not sent either
            return
        text = unescape_slash(text)
        if self.controller.scores_choices:
            name = self.controller.settings.template or "template"
            await self.run_task(name, text, lambda: self.controller.classify(text))
            return
        await self.start_reply(text)

    async def start_reply(self, text: str, user: UserMessage | None = None) -> None:
        """Stream the reply to ``text`` in a worker (``user``: its message, already on screen to regenerate)."""
        self.generating = True
        self.buffer.drain()
        self.sent_at = time.perf_counter()
        self.first_text_at = None
        self.pacer.reset()
        self.quiet_gc.begin()
        # The model starts before the two messages are mounted (a frame or more of UI work):
        # text it writes meanwhile waits in the buffer, and this screen handles the
        # worker's messages only once this handler has returned.
        self._generate(text)
        self.pending_user = user or await self.log_view.add(UserMessage(text))  # type: ignore[assignment]
        # The engine's name for its model, as the status line and the stored reply have it: the
        # reference (`-m ~/models/x.gguf`) headed the live reply with the whole path, reopened "x.gguf".
        engine = self.controller.backend
        label = (engine.model_name if engine is not None else "") or self.controller.settings.model
        self.reply = await self.log_view.add(AssistantMessage(label=label))  # type: ignore[assignment]
        self.reply.start_stream()
        self.set_status(state="generating", detail="")

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def _generate(self, text: str) -> None:
        error: str | None = None
        try:
            for chunk in self.controller.stream(text):
                if chunk.text and self.buffer.push(chunk.text):
                    self.post_message(ReplyProgress())
        except AssistantError as exc:
            error = str(exc)
        except Exception as exc:  # an engine bug must not take the app down
            error = f"{type(exc).__name__}: {exc}"
        self.post_message(ReplyFinished(self.controller.last, error, text))

    async def on_reply_progress(self, message: ReplyProgress) -> None:
        """Draw new reply text when the pacer allows (see :class:`DrawPacer`).

        Text arriving meanwhile stays in the buffer; the worker posts no
        further message until the buffer has been drained.
        """
        if self._flush_timer is not None:
            return
        wait = self.pacer.wait()
        if wait > 0:
            self._flush_timer = self.set_timer(wait, self._flush_reply)
        else:
            await self._flush_reply()

    async def _flush_reply(self) -> None:
        self._flush_timer = None
        self.pacer.drew()
        text = self.buffer.drain()
        if text and self.reply is not None:
            if self.first_text_at is None:
                self.first_text_at = time.perf_counter()
            await self.reply.write(text)

    async def on_reply_finished(self, message: ReplyFinished) -> None:
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        reply, self.reply = self.reply, None
        user, self.pending_user = self.pending_user, None
        regenerated, self.regenerating = self.regenerating, False
        edit_sent, self.sending_edit = self.sending_edit, False
        try:
            if reply is not None:
                await self._finish_reply(reply, user, message, regenerated=regenerated, edit_sent=edit_sent)
        finally:
            # Idle only once the reply is drawn in full: nothing (a key binding, a test waiting for
            # the end) sees the app idle with the reply half finished.
            self.generating = False
            self.call_after_refresh(self.quiet_gc.end)
            if message.error is not None:
                self.notify(message.error, title="The reply failed", severity="error", timeout=10)
            completion = message.completion
            self.set_status(
                state="idle",
                detail="",
                tokens_per_second=completion.timings.tokens_per_second if completion else None,
                ttft_ms=completion.timings.ttft_ms if completion else None,
            )
            self.refresh_engine_status()
            self.refresh_sidebar()

    async def _finish_reply(
        self,
        reply: AssistantMessage,
        user: UserMessage | None,
        message: ReplyFinished,
        *,
        regenerated: bool,
        edit_sent: bool,
    ) -> None:
        """Draw the end of a reply: its last text and status, or take it away when nothing came."""
        await reply.write(self.buffer.drain())
        reply.reply_tokens = self.controller.last_tokens
        completion = message.completion
        # Failed, or stopped before the model wrote anything (no completion is left then):
        # the message was not answered, and goes back into the box.
        if (message.error is not None or completion is None) and not reply.text:
            await reply.remove()
            if regenerated and user is not None:
                await self.redraw_branch_from(user)  # the failed version, as stored
            elif user is not None:
                await self._not_sent(user, message.user_text, edit_sent)
        else:
            backend, sent = self.controller.backend, self.controller.last_tokens  # sent: its params (F2 may change them)
            await reply.finish(finished_status(
                completion,
                backend.context_length if backend is not None else None,
                sent.params.max_tokens if sent is not None else None,
            ))  # fmt: skip
            if completion is not None and completion.finish_reason in ("stop", "length"):
                await self._show_answer(reply, completion.text)
        self.rendered_at = time.perf_counter()
        self.mark_turn(None if regenerated else user, reply if reply.is_attached else None)

    async def _not_sent(self, user: UserMessage, text: str, edit_sent: bool) -> bool:
        """A message that failed before the model wrote anything: its text goes back into the box.

        When it was not recorded either (its prompt could not be built: over the
        context window, a template error; or the history is off) it is not part
        of the conversation, so it leaves the log too, and the conversation an
        edit was to replace comes back. A recorded one stays, marked not sent, as
        the history keeps it. True when the text is back in the box (see :meth:`_give_back`).
        """
        if self.controller.last_turn is None:
            await user.remove()
            conversation_id = self.controller.conversation_id
            if edit_sent and conversation_id is not None:
                try:
                    await self.show_stored(self.controller.library.open(conversation_id).stored)
                except AssistantError as exc:
                    self.notify(str(exc), title="Could not draw the conversation again", severity="error")
                else:
                    await self.resume_edit()
        else:
            user.set_status("not sent")
        return self._give_back(text)

    async def _show_answer(self, reply: AssistantMessage, text: str) -> None:
        """Chain-of-thought and JSON templates: fold the reasoning away, show the extracted answer."""
        try:
            extraction = self.controller.extract(text)
        except AssistantError as exc:
            self.notify(str(exc), title="Template", severity="error")
            return
        folded, note = answer_view(extraction)
        if note:
            reply.set_status(noted_status(reply.status, note))
        if folded is not None:
            await reply.show_reasoning(*folded)

    def action_stop(self) -> None:
        if self.generating:
            self.controller.cancel()

    def _busy(self) -> bool:
        if self.generating:
            self.notify("Stop the reply first (Esc)", severity="warning")
        return self.generating
