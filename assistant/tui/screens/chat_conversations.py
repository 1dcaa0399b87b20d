"""The chat screen's conversations: new, open, delete, and the sidebar that lists them.

A mixin of :class:`~assistant.tui.screens.chat.ChatScreen`. What a
conversation holds and how it is resumed is the controller's
(:mod:`assistant.tui.conversations`); this part swaps what the log shows and
keeps the sidebar in step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events

from ...errors import AssistantError
from ...history.model_refs import model_ref_of
from ...history.session_link import model_to_continue
from ..conversations import UNTITLED
from ..pickers import same_model
from ..text import shorten, visible_text
from ..widgets.sidebar import Sidebar
from .dialogs import Confirm

if TYPE_CHECKING:
    from ...history import StoredMessage
    from .chat import ChatScreen

    _Screen = ChatScreen
else:
    _Screen = object

DELETE_TITLE_WIDTH = 50
"""Characters of a title quoted in the delete question (it fits the dialog's 70 columns on one line)."""
EMPTY_HINT = "Type a message and press Enter.\nF1 help · F2 settings · F3 prompt inspector · / for tools"
"""Two lines: as one (95 columns) it wrapped beside the sidebar at any usual width, leaving "tools" alone."""


class ConversationActions(_Screen):
    """New chat, the sidebar's open / delete / search, and scrolling the log (mixed into the chat screen)."""

    async def action_new_conversation(self) -> None:
        if self._busy():
            return
        self.cancel_edit()
        self.controller.new_conversation()
        await self.log_view.clear(EMPTY_HINT)
        # Nothing of the old chat stays on screen: its figures go now (the refresh
        # below counts the new, empty one), and an unsent draft moves into the
        # input history (Up brings it back) instead of being sent to the new chat.
        self.set_status(tokens_per_second=None, ttft_ms=None, context_used=None, dropped=0)
        self.prompt_input.put_aside_draft()
        self.return_queued()
        self.restore_draft()  # one left in a new chat when the app last quit
        self.refresh_engine_status()
        self.refresh_sidebar()
        self.prompt_input.focus()

    def return_queued(self) -> None:
        """A message waiting for the model to load belongs to the conversation it was written in.

        Sent while the model loaded, then Ctrl+N or another conversation opened from the sidebar:
        it went, once the model was ready, to whichever conversation was open then. It goes back
        into the message box instead, to send (or not) where the user now is.
        """
        queued, self.queued = self.queued, None
        if queued is None:
            return
        # Into an empty box; beside a draft it is parked in the Up history (quitting keeps it).
        self._give_back(queued, "The message waiting for the model was not sent")

    def action_take_back(self) -> None:
        """Esc on a message waiting for the model to load: it is not sent, and comes back into the box.

        Esc stops a reply, but a message sent while the model loaded is no reply yet: Esc did
        nothing, and the message went anyway once the model was ready.
        """
        self.return_queued()

    # ---- drafts ---------------------------------------------------------------------
    def keep_draft(self) -> None:
        """On quitting: the unsent text is kept for this conversation (see :mod:`..remembered`).

        Not before the screen is up (:attr:`opened`): the box does not hold the kept draft yet."""
        if not self.opened:
            return
        try:
            self.controller.library.keep_draft(self.controller.conversation_id, self.unsent_text())
        except Exception as exc:  # noqa: BLE001 - quitting must never fail for a draft
            self.log.warning(f"the draft could not be kept: {exc}")

    def restore_draft(self) -> None:
        """The text left unsent in this conversation when the app last quit goes back into the box.

        Into an empty box; a box already holding text (a draft carried over from the conversation
        open before) keeps it, and the kept one goes into the input history (Up brings it back).
        """
        draft = self.controller.library.take_draft(self.controller.conversation_id)
        if not draft:
            return
        if self.prompt_input.text.strip():
            self.prompt_input.sent_history.park(draft)
            self.notify("The message you left unsent here is in the input history: Up brings it back")
        else:
            self.prompt_input.show_message(draft)
            self.notify("The message you left unsent here is back in the message box")

    @property
    def sidebar(self) -> Sidebar:
        return self.query_one(Sidebar)

    def refresh_sidebar(self) -> None:
        self.sidebar.current_id = self.controller.conversation_id
        self.sidebar.refresh_rows()

    def action_scroll_conversation(self, pages: int) -> None:
        """Scroll the conversation by pages (the top draws earlier turns of a long stored one)."""
        log = self.log_view
        if pages < 0:
            log.scroll_up_past_top()
            log.scroll_page_up()
        else:
            log.scroll_page_down()

    NARROW_WIDTH = 80
    """Below this many columns the sidebar starts hidden (it takes 34), so the conversation keeps its room."""
    _sidebar_chosen = False
    """Whether the user showed or hid the sidebar themselves (then a resize leaves it as they chose)."""

    def action_toggle_sidebar(self) -> None:
        self._sidebar_chosen = True
        self.sidebar.toggle_class("-hidden")
        if self.sidebar.has_class("-hidden") and self.sidebar.has_focus_within:
            self.prompt_input.focus()

    def on_resize(self, event: events.Resize) -> None:
        if not self._sidebar_chosen:
            self.sidebar.set_class(event.size.width < self.NARROW_WIDTH, "-hidden")

    def action_search(self) -> None:
        if self.sidebar.has_class("-hidden"):  # shown for the search: the user's choice
            self._sidebar_chosen = True
        # Else searching a sidebar already shown chose nothing: a narrower window later kept it, and
        # the conversation beside it got 6 columns of 40.
        self.sidebar.remove_class("-hidden")
        self.sidebar.search_box.focus()

    async def on_sidebar_opened(self, event: Sidebar.Opened) -> None:
        await self.open_conversation(event.conversation_id)
        if self.size.width < self.NARROW_WIDTH and not self.sidebar.has_class("-hidden"):
            # Shown in a narrow window (Ctrl+F, Ctrl+B), the sidebar left the conversation just
            # opened a few columns (6 of 40): it makes way, as it starts hidden there.
            self.sidebar.add_class("-hidden")
            self._sidebar_chosen = False  # a window widened again shows it, as at the start
            self.prompt_input.focus()

    async def open_conversation(self, conversation_id: int) -> None:
        """Show a stored conversation and continue it (the model gets it fitted to its window)."""
        if self._busy():
            return
        self.cancel_edit()
        try:
            opened = self.controller.open_conversation(conversation_id)
        except AssistantError as exc:
            self.notify(str(exc), title="Could not open the conversation", severity="error")
            return
        await self.show_stored(opened.stored)
        self.return_queued()
        self.restore_draft()
        self.set_status(tokens_per_second=None, ttft_ms=None)
        self.refresh_settings()
        self.refresh_sidebar()
        self.prompt_input.focus()
        self.warn_template()
        # the model it was having with, as `chat -c` resumes it (a model given by path: its path)
        written_by, settings = model_to_continue(opened.stored), self.controller.settings
        if written_by is not None and written_by[0] and written_by[1] and (
            written_by[1] != settings.backend or not self._model_in_use(written_by[0])
        ):
            self.load_model(written_by[0], written_by[1])
        else:
            self.refresh_engine_status()

    def _model_in_use(self, model: str) -> bool:
        """Whether ``model`` (:attr:`StoredMessage.model_to_load`) is the one in use: by the reference it was
        loaded with, or as the engine's turns record it (its path, or, on rows written before the history
        kept paths, its file name: the model loaded with ``-m ~/m/x.gguf`` is not loaded again over itself)."""
        engine = self.controller.backend
        if engine is not None and engine.model_name and model in (engine.model_name, model_ref_of(engine)):
            return True
        return same_model(model, self.controller.settings.model)

    def warn_template(self) -> None:
        """A template in force that still needs a variable says so now, not as each turn's failure."""
        if (warning := self.controller.template_warning()) is not None:
            self.notify(warning, title="Template", severity="warning")

    async def show_stored(self, stored: list[StoredMessage]) -> None:
        await self.log_view.show_stored(stored)
        if not stored:
            await self.log_view.clear(EMPTY_HINT)

    def on_sidebar_delete_requested(self, event: Sidebar.DeleteRequested) -> None:
        self.delete_conversation(event.conversation_id)

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete after a yes to a question that names it: Delete acts on the highlighted row."""
        if conversation_id == self.controller.conversation_id and self._busy():
            return
        try:
            title = self.controller.library.title(conversation_id) or UNTITLED
        except AssistantError as exc:
            self.notify(str(exc), title="Delete", severity="error")
            return

        async def done(confirmed: bool | None) -> None:
            if not confirmed:
                return
            try:
                was_open = self.controller.delete_conversation(conversation_id)
            except AssistantError as exc:
                self.notify(str(exc), title="Delete", severity="error")
                return
            self.controller.library.take_draft(conversation_id)  # its unsent message goes with it
            if was_open:
                self.cancel_edit()
                await self.log_view.clear(EMPTY_HINT)
                self.return_queued()  # written for the conversation just deleted: not sent into a new one
                self.refresh_engine_status()
            self.refresh_sidebar()

        question = f"Delete “{shorten(visible_text(title), DELETE_TITLE_WIDTH)}” and all its messages?"
        self.app.push_screen(Confirm(question), done)

