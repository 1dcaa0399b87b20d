"""Text boxes whose own keys act in the order they were typed, however fast they come."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.command import CommandInput, CommandPalette
from textual.widgets import Input


class OwnBindingsFirst:
    """Mixed into a text box (before the Textual widget): its own bindings run as its keys come in.

    Textual runs a widget's (non-priority) binding only once the key has bubbled up to the app,
    and the box types the keys behind it meanwhile: when one read of the terminal brings a bound
    key and text (a fast typist over a laggy SSH link, a text expander, ``tmux send-keys``),
    Ctrl+U and then ``ab`` left the box empty, ← then ``X`` put the X at the end, and Backspace
    then ``X`` deleted the X. The box is the first place the app looks for a binding anyway (it
    has the focus), so running its own binding here gives the same result, in the order typed.
    Priority bindings were run before the key came here. One definition for every text box of
    the app: the message box, the sidebar's search, the settings' fields, the dialogs' field and
    the command palette's (:class:`OrderedCommandPalette`).
    """

    async def _on_key(self, event: events.Key) -> None:
        if not event.is_printable and await self._run_own_binding(event.key):
            event.stop()
            event.prevent_default()
            return
        await super()._on_key(event)  # type: ignore[misc]

    async def _run_own_binding(self, key: str) -> bool:
        """Run the box's own binding of ``key`` (Ctrl+U, Ctrl+W, ←, Home ...) now; whether one ran.

        A binding whose action the box refuses (:meth:`check_action`) does not count: the key goes
        on up to the screen and the app, as before.
        """
        for binding in self._bindings.key_to_bindings.get(key, ()):  # type: ignore[attr-defined]
            app = self.app  # type: ignore[attr-defined]
            if not binding.priority and await app.run_action(binding.action, self):
                return True
        return False


class LineInput(OwnBindingsFirst, Input):
    """A single-line text box (Textual's :class:`Input`) whose own keys act in the order typed."""


class OrderedCommandInput(OwnBindingsFirst, CommandInput):
    """The command palette's search box, its own keys in the order typed."""


class OrderedCommandPalette(CommandPalette):
    """Textual's command palette, its search box's own keys (Ctrl+U, ←, Backspace ...) in the order typed.

    The palette is Textual's and makes its own box (``CommandInput``): Ctrl+U then ``abc``, come in one
    read, left ``bc`` in it. The box it makes is swapped for the same box with :class:`OwnBindingsFirst`.
    """

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if type(widget) is CommandInput:
                widget = OrderedCommandInput(
                    placeholder=widget.placeholder, select_on_focus=widget.select_on_focus
                )
            yield widget
