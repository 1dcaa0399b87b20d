"""Regenerate a reply, edit and resend a message, and move between the versions they leave.

A stored conversation is a tree (:mod:`assistant.history.store`): regenerating a
reply adds another reply to the same user message; editing a message adds a
new message beside it, after the same reply. Nothing is overwritten: the
versions stay in the history and each can be shown again, with the turns that
followed it. The chat shows and continues one branch at a time, the active
one.

:class:`ConversationBranches` is the chat controller's part that does this,
without drawing anything. Every write goes through the conversation's
:class:`~assistant.history.ConversationRecorder`: a turn is prepared
(:meth:`begin_regenerate`, :meth:`begin_edit`) and then sent the usual way, so
a regenerated reply streams, is cancelled and is recorded exactly like any
other, and an edited message may be a slash command too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import HistoryError

if TYPE_CHECKING:
    from ..context import FittedPrompt
    from ..history import ConversationRecorder, StoredMessage
    from ..types import Completion, Message

NO_HISTORY = "regenerating and editing keep every version in the history, which is off here (--no-log)"


@dataclass(frozen=True)
class BranchView:
    """The branch now active, and where it starts to differ from what was on screen."""

    stored: list[StoredMessage]
    """The whole active branch, first message first (what the chat shows)."""
    start: int
    """Index in ``stored`` of the first message that changed: the screen redraws from there."""

    @property
    def changed(self) -> list[StoredMessage]:
        return self.stored[self.start :]


class ConversationBranches:
    """Prepares branched turns and switches versions (mixed into the chat controller)."""

    messages: list[Message]
    recorder: ConversationRecorder | None
    last: Completion | None
    last_fit: FittedPrompt | None

    def _tree(self) -> ConversationRecorder:
        if self.recorder is None:
            raise HistoryError(NO_HISTORY)
        if self.recorder.conversation_id is None:
            raise HistoryError("nothing of this conversation is stored yet")
        return self.recorder

    def _branch(self) -> list[StoredMessage]:
        recorder = self._tree()
        assert recorder.conversation_id is not None
        # The recorder's head, not the store's: another window or `prompt -c` on this
        # conversation may have moved the stored head to a branch this chat is not on.
        stored = recorder.store.messages(recorder.conversation_id, head=recorder.head)
        if not stored:
            # A stored conversation has its first turn from the start, so none is left only when it
            # left the history meanwhile (`history delete` in another terminal): `r` said "message 4
            # is not on the branch shown" instead. The store's words for the same case (start_turn).
            raise HistoryError(
                f"no conversation with id {recorder.conversation_id} (deleted?); start a new conversation"
            )
        return stored

    def _continue_from(self, stored: list[StoredMessage]) -> None:
        """The model's view of the conversation becomes ``stored`` (the turns the next one follows)."""
        from ..history.store import context_of

        self.messages[:] = context_of(stored)  # in place: the session shares this list
        self.last = self.last_fit = None  # the status line counts the conversation anew

    def begin_regenerate(self, reply_id: int) -> str:
        """Make the next streamed turn another reply to the user message ``reply_id`` answered.

        Returns that message's text, to send again. The model gets the turns
        before it (with the current settings); the turns after the old reply
        stay on its branch.
        """
        recorder = self._tree()
        stored = self._branch()
        index = _index(stored, reply_id)
        reply = stored[index]
        if reply.role != "assistant" or index == 0 or stored[index - 1].id != reply.parent_id:
            raise HistoryError("only a reply to a message can be written again")
        if reply.tool_result is not None:
            raise HistoryError("a tool's result is not written again: send the command again instead")
        user = stored[index - 1]
        recorder.regenerate(user.id)
        self._continue_from(stored[: index - 1])
        return user.content

    def begin_edit(self, message_id: int) -> str:
        """Make the next turn (a message or a slash command) a new version of user message ``message_id``.

        Returns the message's text, for the user to change. The model gets the
        turns before it; the original and what followed it stay on their branch.
        """
        recorder = self._tree()
        stored = self._branch()
        index = _index(stored, message_id)
        message = stored[index]
        if message.role != "user":
            raise HistoryError("only your own messages can be edited")
        recorder.branch_after(message.parent_id)
        self._continue_from(stored[:index])
        return message.content

    @property
    def branching(self) -> bool:
        """A regenerated or edited turn is prepared and not yet recorded."""
        return self.recorder is not None and self.recorder.branching

    def abandon_branch(self) -> None:
        """The prepared turn will not happen (refused, cancelled): back to the active branch as stored."""
        if self.branching:
            assert self.recorder is not None
            self.recorder.cancel_branch()
            self._continue_from(self._branch())

    def show_version(self, message_id: int, step: int) -> BranchView | None:
        """Show the previous (``step=-1``) or next (``+1``) version at ``message_id``'s place.

        The branch through it becomes the active one, down to its newest
        message, and the next turn continues it. None when there is no
        version that way.
        """
        recorder = self._tree()
        versions = recorder.siblings(message_id)
        target = versions.index(message_id) + step
        if not 0 <= target < len(versions):
            return None
        recorder.activate(versions[target])
        stored = self._branch()
        self._continue_from(stored)
        return BranchView(stored, _index(stored, versions[target]))

    def branch_from(self, message_id: int) -> BranchView:
        """The active branch as stored, from ``message_id`` on (to redraw it after a turn that failed)."""
        stored = self._branch()
        return BranchView(stored, _index(stored, message_id))

    def versions(self, message_id: int) -> tuple[int, int]:
        """(which, how many): the versions at ``message_id``'s place, as its header shows them."""
        if self.recorder is None or self.recorder.conversation_id is None:
            return 1, 1
        versions = self.recorder.siblings(message_id)
        return versions.index(message_id) + 1, len(versions)


def _index(stored: list[StoredMessage], message_id: int) -> int:
    for index, message in enumerate(stored):
        if message.id == message_id:
            return index
    raise HistoryError(f"message {message_id} is not on the branch shown")
