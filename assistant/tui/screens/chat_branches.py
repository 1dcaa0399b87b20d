"""The chat screen's branches: regenerate a reply, edit and resend a message, switch versions.

A mixin of :class:`~assistant.tui.screens.chat.ChatScreen`. The controller
prepares the turn (:mod:`assistant.tui.branching`) and the screen then sends it
the usual way, so a regenerated reply streams, stops on Esc and is recorded
like any other. Each version keeps its place in the conversation: a turn with
several shows ``‹ 2/3 ›`` in its header, and ← / → on it switch, redrawing the
conversation from there (the branch below follows the version chosen).

Keys: ``r`` on a reply (Ctrl+R: the last reply) writes it again; ``e`` on one
of your messages puts it in the message box, where Enter sends it as a new
version and Esc gives up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Static

from ...errors import AssistantError
from ..text import as_typed
from ..widgets.chat_messages import AssistantMessage, ChatMessage, ToolMessage, UserMessage

if TYPE_CHECKING:
    from ..branching import BranchView
    from .chat import ChatScreen

    _Screen = ChatScreen
else:
    _Screen = object

EDIT_HINTS = (
    "Editing: Enter sends a new version (the old one is kept) · Esc cancels",
    "Editing: Enter sends a new version · Esc cancels",
    "Editing: Enter sends · Esc cancels",
    "Editing · Esc cancels",
)
"""From the longest: the banner shows the first that fits its one line (see :class:`EditBanner`)."""
EDIT_HINT = EDIT_HINTS[0]
BRANCH_CSS = """
ChatScreen #edit-banner {
    display: none; height: 1; padding: 0 1; color: $text-warning; background: $warning-muted;
}
ChatScreen #edit-banner.-editing { display: block; }
ChatScreen ChatMessage.-editing { border-left: outer $warning; }
"""


class EditBanner(Static):
    """The line above the message box while a message is being edited.

    One line, cut at its width: beside the sidebar of a 100-column terminal the long hint
    ended "· Esc", and how to give the edit up was lost. The longest hint that fits is shown.
    """

    def on_resize(self) -> None:
        from rich.cells import cell_len

        width = self.content_size.width
        hint = next((hint for hint in EDIT_HINTS if cell_len(hint) <= width), EDIT_HINTS[-1])
        self.update(hint, layout=False)  # one line whatever it says


class BranchActions(_Screen):
    """Regenerate, edit and resend, previous / next version (mixed into the chat screen)."""

    editing: UserMessage | None = None
    """The message being edited (its new text is in the message box)."""
    regenerating = False
    """The reply streaming now is another version of a stored one (not a new turn)."""
    draft_before_edit = ""
    """What the message box held when ``e`` started the edit: Esc puts it back (an edit borrows the box)."""
    edit_sent_for: int | None = None
    """The stored id of the message whose edit is being sent (see :meth:`resume_edit`)."""

    def _stored_id(self, message: ChatMessage, what: str) -> int | None:
        """``message``'s stored id; None (said why) when it has none."""
        if message.message_id is None:
            if not self.controller.library.log:
                reason = "the history is off (--no-log), and the other versions are kept there"
            else:
                reason = "it is not in the history"
            self.notify(f"This {what} cannot be changed: {reason}", severity="warning")
        return message.message_id

    # ---- the keys ---------------------------------------------------------------------
    async def on_chat_message_branch_requested(self, event: ChatMessage.BranchRequested) -> None:
        """``r`` on a reply, ``e`` on a message of yours, ← / → on a turn with versions."""
        message = event.message
        if event.request == "regenerate" and isinstance(message, AssistantMessage):
            await self.regenerate(message)
        elif event.request == "edit" and isinstance(message, UserMessage):
            self.start_edit(message)
        elif event.request in ("previous", "next"):
            await self.switch_version(message, -1 if event.request == "previous" else +1)

    def action_regenerate_last(self) -> None:
        """Ctrl+R. A key's action runs in the app's task, beside this screen's message loop: the
        turn starts from that loop (call_later), as a sent message does, so the worker's
        ReplyFinished cannot be handled before the reply is on screen."""
        reply = self.log_view.last_assistant()
        turns = self.log_view.turns()
        if not turns:
            self.notify("There is no reply to write again yet", severity="warning")
            return
        last = turns[-1]
        if last is not reply:  # writing an earlier reply again would drop the turns after it from view
            # A choice template's label as the only result said "There is no reply to write again yet"
            # under the result on screen, as if nothing had been answered.
            if isinstance(last, ToolMessage) and last.label.startswith("/"):
                why = "the last turn is a tool's result, which is not written again: send the command again"
            elif isinstance(last, ToolMessage):
                why = (
                    "the last turn is a choice template's result, scored rather than written: "
                    "send the message again"
                )
            else:
                why = "the last message has no reply to write again: send it again"
            if reply is not None:
                why += " (r on a reply writes that one again)"
            self.notify(why, title="Regenerate", severity="warning")
            return
        self.call_later(self.regenerate, reply)

    async def regenerate(self, reply: AssistantMessage) -> None:
        """Write ``reply`` again: a new version beside it, streamed in its place."""
        if self._busy() or not self._model_ready():
            return
        reply_id = self._stored_id(reply, "reply")
        if reply_id is None:
            return
        self.cancel_edit()
        try:
            text = self.controller.begin_regenerate(reply_id)
        except AssistantError as exc:
            self.notify(str(exc), title="Regenerate", severity="warning")
            return
        log = self.log_view
        while log.earlier_count and log.turns()[0] is reply:
            await log.show_earlier()  # its message is above the part drawn yet
        children = list(log.children)
        user = children[children.index(reply) - 1]
        focused = reply.has_focus  # `r` on it: the new version takes its place, focus included
        await self.log_view.remove_children(children[children.index(reply) :])
        self.regenerating = True
        await self.start_reply(text, user if isinstance(user, UserMessage) else None)
        if focused and self.reply is not None:
            # Else the focus falls to the message above, and the reply's keys (r, ←/→, t, a) go there.
            self.reply.focus(scroll_visible=False)

    def _model_ready(self) -> bool:
        if self.model_loading or not self.controller.ready:
            self.notify("Wait for the model to load", severity="warning")
            return False
        return True

    # ---- edit and resend ---------------------------------------------------------------
    def start_edit(self, message: UserMessage) -> None:
        """Put ``message`` in the message box; Enter sends it as a new version of it."""
        if self._busy() or self._stored_id(message, "message") is None:
            return
        if self.editing is None:  # editing another message meanwhile: the draft is still the first one
            self.draft_before_edit = self.prompt_input.text
        elif self.edit_untouched:
            self.prompt_input.clear()  # that message as it is: no text of the user's to set aside
        self.cancel_edit()
        self.prompt_input.put_aside_draft()  # into the Up history too: kept there if the edit is sent
        self._mark_editing(message)
        self.prompt_input.show_message(message.text)
        self.prompt_input.focus()

    @property
    def edit_untouched(self) -> bool:
        """The box holds the message being edited as it is (shown as typed): no text of the user's."""
        return self.editing is not None and self.prompt_input.text == as_typed(self.editing.text)

    def _mark_editing(self, message: UserMessage) -> None:
        """Edit mode on ``message``: marked, the banner above the box, Esc cancels."""
        self.editing = message
        message.set_class(True, "-editing")
        self.query_one(EditBanner).add_class("-editing")
        self.refresh_bindings()

    async def resume_edit(self) -> None:
        """The edit being sent was refused before anything was kept: the message is being edited still.

        A slash command it refused, a prompt over the context window: the text went back into
        the box, but edit mode had ended, so the line fixed there and sent went to the end of the
        conversation as a new message instead of the new version of the message being edited.
        Called once the conversation as stored is drawn again (the message is a new widget then).
        """
        message_id, self.edit_sent_for = self.edit_sent_for, None
        if message_id is None:
            return
        log = self.log_view
        while (message := self._user_message(message_id)) is None and log.earlier_count:
            await log.show_earlier()  # above the part drawn yet
        if message is not None:
            self._mark_editing(message)

    def _user_message(self, message_id: int) -> UserMessage | None:
        return next((m for m in self.log_view.query(UserMessage) if m.message_id == message_id), None)

    def action_cancel_edit(self) -> None:
        """Esc: give up the edit; the box holds again what was being written before ``e``."""
        if self.editing is not None:
            self.cancel_edit(give_back_draft=True)

    def cancel_edit(self, give_back_draft: bool = False) -> None:
        """Leave edit mode. The message box keeps its text, unless it is the message being edited as it
        is, or ``give_back_draft`` (Esc): then it holds again what was being written before ``e``.

        Left by another action (Ctrl+N, a conversation opened or deleted, ``r``), the box kept the old
        message's text: sent, it was a copy of it at the end of the conversation, or in another one.
        """
        untouched = self.edit_untouched
        editing, self.editing = self.editing, None
        if editing is not None:
            editing.set_class(False, "-editing")
            self.query_one(EditBanner).remove_class("-editing")
            self.refresh_bindings()
            if give_back_draft or untouched:
                draft, self.draft_before_edit = self.draft_before_edit, ""
                self.prompt_input.bring_back(draft)  # no longer parked: the box's text, kept once on quitting

    async def begin_edit_send(self) -> bool:
        """Sending in edit mode: prepare the new version and take the old branch off the screen.

        False when it cannot be (the message box keeps the text, the notification says why).
        """
        editing = self.editing
        assert editing is not None and editing.message_id is not None
        self.edit_sent_for = editing.message_id
        self.cancel_edit()
        try:
            self.controller.begin_edit(editing.message_id)
        except AssistantError as exc:
            self.notify(str(exc), title="Edit", severity="warning")
            return False
        if editing.is_attached:
            children = list(self.log_view.children)
            await self.log_view.remove_children(children[children.index(editing) :])
        return True

    async def abandon_branch(self) -> None:
        """A prepared edit was not sent after all: the conversation as stored comes back."""
        if self.controller.branching:
            self.controller.abandon_branch()
            conversation_id = self.controller.conversation_id
            if conversation_id is not None:
                await self.show_stored(self.controller.library.open(conversation_id).stored)
                await self.resume_edit()

    # ---- after a turn ------------------------------------------------------------------------
    def mark_turn(self, user: ChatMessage | None, reply: ChatMessage | None) -> None:
        """Give the turn just recorded its stored ids (so it can be edited, regenerated) and versions."""
        turn = self.controller.last_turn
        if turn is None:
            return
        for widget, message_id in ((user, turn.user_message_id), (reply, turn.reply_message_id)):
            if widget is not None:
                try:
                    versions = self.controller.versions(message_id)
                except AssistantError as exc:
                    # The turn left the history meanwhile (`history delete` in another terminal deleted
                    # the conversation during the reply): a crash at the end of the reply lost the
                    # whole screen. The turn stays drawn, without ids: not stored, nothing to edit.
                    self.notify(f"{exc}; this turn is not stored", title="History", severity="warning")
                    return
                widget.message_id = message_id
                widget.set_versions(*versions)

    async def redraw_branch_from(self, message: ChatMessage) -> None:
        """Draw the active branch again from ``message`` on, as stored (after a regenerate that failed)."""
        if message.message_id is None or not message.is_attached:
            return
        try:
            view = self.controller.branch_from(message.message_id)
        except AssistantError:
            return
        await self.show_branch(message, view)

    # ---- versions ------------------------------------------------------------------------
    async def switch_version(self, message: ChatMessage, step: int) -> None:
        """Show ``message``'s previous (``step=-1``) or next version, and the branch that follows it."""
        if message.message_id is None or self._busy():
            return
        try:
            view = self.controller.show_version(message.message_id, step)
        except AssistantError as exc:
            self.notify(str(exc), title="Versions", severity="error")
            return
        if view is None:
            self.notify("No earlier version" if step < 0 else "No later version")
            return
        await self.show_branch(message, view)

    async def show_branch(self, first: ChatMessage, view: BranchView) -> None:
        """Replace ``first`` and what follows by ``view``'s branch, focusing the version now shown."""
        before = [m.content for m in view.stored[: view.start]]
        await self.log_view.replace_from(first, view.changed, before)
        shown = next((w for w in self.log_view.children if isinstance(w, ChatMessage)
                      and w.message_id == view.stored[view.start].id), None)
        if shown is not None:
            shown.focus(scroll_visible=False)
        if self.editing is not None and not self.editing.is_attached:
            self.cancel_edit()
        self.set_status(tokens_per_second=None, ttft_ms=None)
        self.refresh_engine_status()
