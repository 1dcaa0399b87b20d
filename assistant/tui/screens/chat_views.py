"""The chat screen's panels over the conversation: settings, prompt inspector, token and attention views.

A mixin of :class:`~assistant.tui.screens.chat.ChatScreen` (its bindings and
palette commands call these actions). The views' model work runs in workers
through the controller (:mod:`assistant.tui.reply_inspection`); the prompt
inspector's text is rendered off the UI thread and posted back as a
:class:`~assistant.tui.messages.PreviewReady` message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work

from ...errors import AssistantError
from ..messages import PreviewReady
from ..widgets.chat_messages import AssistantMessage

if TYPE_CHECKING:
    from ...inspect.token_view import ReplyTokens
    from .chat import ChatScreen

    _Screen = ChatScreen
else:
    _Screen = object


class ReplyViews(_Screen):
    """Opens the panels and views (F2, F3, t, a, F4) from the chat screen."""

    def action_settings(self) -> None:
        self.chat_app.action_settings()

    def action_inspect(self) -> None:
        if not self.controller.ready:
            self.notify("No model is loaded yet", severity="warning")
            return
        self._preview_worker(self.prompt_input.text)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def _preview_worker(self, draft: str) -> None:
        try:
            self.post_message(PreviewReady(self.controller.preview(draft)))
        except Exception as exc:  # a template or server error must not close the app
            self.post_message(PreviewReady(None, str(exc) or type(exc).__name__))

    def on_preview_ready(self, message: PreviewReady) -> None:
        from .inspector import PromptInspector

        if message.preview is None:
            self.notify(message.error or "", title="Cannot render the prompt", severity="error")
            return
        if self.app.screen is self:
            self.app.push_screen(PromptInspector(message.preview))

    def reply_to_inspect(self) -> AssistantMessage | None:
        """The focused reply, else the last one (what the palette's inspect entries act on); None says why."""
        focused = self.focused
        reply = focused if isinstance(focused, AssistantMessage) else self.log_view.last_assistant()
        if reply is None or not reply.text:
            self.notify("There is no reply to look at yet", severity="warning")
            return None
        return reply

    def action_token_view(self) -> None:
        """The token view of the focused reply, else of the last one (the command palette's entry)."""
        reply = self.reply_to_inspect()
        if reply is not None:
            self.open_token_view(reply)

    def on_assistant_message_token_view_requested(self, event: AssistantMessage.TokenViewRequested) -> None:
        self.open_token_view(event.reply)

    def open_token_view(self, reply: AssistantMessage) -> None:
        """Open the token view over ``reply``: its own numbers, the history's, or computed on the spot."""
        from .token_view import TokenViewScreen

        tokens = self.reply_tokens_for(reply, "Token view")
        if tokens is not None:
            self.app.push_screen(TokenViewScreen(tokens, reply.label))

    def reply_tokens_for(self, reply: AssistantMessage, view: str) -> ReplyTokens | None:
        """``reply``'s prompt and tokens (kept while it streamed, or from the history); None, said why, if unknown."""
        if reply is self.reply:
            self.notify("The reply is still being written: open it when it is done", title=view, severity="warning")
            return None
        if reply.reply_tokens is None and reply.message_id is not None:
            try:
                reply.reply_tokens = self.controller.stored_reply_tokens(reply.message_id)
            except AssistantError as exc:
                self.notify(str(exc), title=view, severity="error")
                return None
        if reply.reply_tokens is None:
            self.notify("The tokens of this reply are not known", title=view, severity="warning")
        return reply.reply_tokens

    def action_attention_view(self) -> None:
        """The attention view of the focused reply, else of the last one (the command palette's entry)."""
        reply = self.reply_to_inspect()
        if reply is not None:
            self.open_attention_view(reply)

    def on_assistant_message_attention_view_requested(
        self, event: AssistantMessage.AttentionViewRequested
    ) -> None:
        self.open_attention_view(event.reply)

    def open_attention_view(self, reply: AssistantMessage) -> None:
        """Open the attention view over ``reply`` (computed in the view's worker, on transformers)."""
        from .attention import AttentionScreen

        if self._busy():  # one engine, one job: the maps wait for the reply to finish
            return
        tokens = self.reply_tokens_for(reply, "Attention view")
        if tokens is not None:
            self.app.push_screen(AttentionScreen(tokens, reply.label))

    def action_copy_last(self) -> None:
        reply = self.log_view.last_assistant()
        if reply is None or not reply.text:
            self.notify("There is no reply to copy yet", severity="warning")
            return
        reply.action_copy_message()
