"""The Textual application behind ``assistant chat``."""

from __future__ import annotations

import sys
from typing import Any, Iterable, Sequence

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.driver import Driver
from textual.notifications import SeverityLevel
from textual.screen import Screen

from ..errors import AssistantError
from ..terminal_text import message_line
from .controller import ChatController, ChatSettings
from .pickers import same_model
from .quit_signals import QuitSignals
from .screens.chat import ChatScreen
from .screens.dialogs import Confirm
from .screens.help import HelpScreen
from .screens.settings import SettingsChoice, SettingsScreen
from .text import as_markup, as_typed, visible_line

DARK_THEME, LIGHT_THEME = "textual-dark", "textual-light"
GIL_SWITCH_INTERVAL = 0.001
"""The interpreter's thread switch interval while the app runs (the default is 5 ms); see on_mount."""
GIL_SWITCH_INTERVAL_MODEL_HERE = 0.0002
"""The same while the model's thread runs in the app's process (see fit_switch_interval)."""


class ChatApp(App[None]):
    """A chat window over one :class:`ChatController`."""

    TITLE = "assistant"
    BINDINGS = [
        Binding("f1", "help", "Help"),
        # priority: "anywhere", as F1 says; a view or dialog (a modal screen) hid the app's bindings
        Binding("ctrl+t", "toggle_theme", "Theme", show=False, priority=True),
    ]

    def __init__(
        self, controller: ChatController, notices: Sequence[str] = (), quit_signals: QuitSignals | None = None
    ) -> None:
        """``quit_signals``: caught already by the caller, which releases them after its own shutdown (the
        CLI unloads the model and saves the settings after :meth:`run`: a signal then is recorded, never
        fatal); else caught as the app runs and released when it ends."""
        super().__init__()
        self.controller = controller
        self.startup_notices = tuple(notices)
        """Warnings found before the app opened (a remembered template since deleted), shown once it has."""
        self.theme = DARK_THEME
        self._previous_switch_interval = sys.getswitchinterval()
        self.quit_signals = quit_signals or QuitSignals()
        """SIGHUP, SIGTERM, SIGINT: the app quits on them as on Ctrl+Q (see :mod:`.quit_signals`)."""
        self._caller_releases_signals = quit_signals is not None
        self._running_as_program = False
        """Set by :meth:`run` (not by a test's ``run_test``): the process shuts down once the app ends."""

    def get_driver_class(self) -> type[Driver]:
        """Textual's driver for this platform; on Linux/macOS one that keeps bracketed pastes whole.

        See :mod:`assistant.tui.paste_parser`: a paste holding escape sequences must
        not turn into key presses (a pasted newline would send the message).
        """
        from textual.drivers.linux_driver import LinuxDriver

        from .paste_parser import PasteSafeLinuxDriver

        driver = super().get_driver_class()
        return PasteSafeLinuxDriver if driver is LinuxDriver else driver

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Notifications quote user and model text (titles, errors): never markup, never escapes, one line.

        Title and message both go through the one-line rule of every error the project shows
        (:func:`~assistant.terminal_text.message_line`): a conversation title, model file name, template
        name or error text holding a line break drew as two lines of the toast, the second reading as
        the app's own words, and a title was never cut (a 1 MB name filled the screen).
        """
        super().notify(
            message_line(message),
            title=message_line(title) if title.strip() else "",
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    OPENED_SCHEMES = frozenset({"http", "https"})
    """The links a click opens (see :meth:`open_url`)."""

    def open_url(self, url: str, *, new_tab: bool = True) -> None:
        """Open a clicked link only when it is a web address.

        Every link on screen is a model's (a reply, a tool's result), and Textual
        hands a click on one to ``webbrowser.open`` as is: ``[notes](run.sh)`` had
        ``xdg-open`` open a file of the working folder with its default program, and
        ``ssh://``, ``smb://`` or an app's own scheme start whatever handles them.
        """
        from urllib.parse import urlsplit

        try:
            scheme = urlsplit(url).scheme.lower()
        except ValueError:  # a malformed address (an unclosed IPv6 bracket)
            scheme = ""
        if scheme not in self.OPENED_SCHEMES or not urlsplit(url).netloc:
            self.notify(
                f"Not opened: {url[:200]} (only http and https links open)", title="Link", severity="warning"
            )
            return
        super().open_url(url, new_tab=new_tab)

    async def on_event(self, event: events.Event) -> None:
        """A paste is made what a text box may hold before any widget gets it.

        Textual's text boxes draw a pasted ESC as is: pasted terminal output in a settings
        field, the sidebar's search or the command palette restyled the terminal, and an OSC
        set its title. :func:`~assistant.tui.text.as_typed` shows it as ``␛`` (line ends
        normalised, bidi marks dropped), here, where every paste comes in. A box whose text is
        read another way says how with an ``as_pasted`` of its own (the sidebar's search: words).
        """
        if isinstance(event, events.Paste) and not event.is_forwarded:
            text = getattr(self.focused, "as_pasted", as_typed)(event.text)
            if text != event.text:
                event = events.Paste(text)
        await super().on_event(event)

    def on_paste(self, event: events.Paste) -> None:
        """A paste no text box took (a message, the sidebar or nothing focused) goes into the message box.

        Textual hands a paste to the focused widget only; a message or the sidebar
        has no use for it, so it bubbled up to here and was lost. On the chat screen it
        is what the user means to send; on another screen (help, a dialog) it
        stays dropped, since the message box is hidden under it.
        """
        screen = self.screen
        if isinstance(screen, ChatScreen):
            # The box stops the pastes it takes itself, so none comes here twice.
            event.stop()
            screen.prompt_input.post_message(events.Paste(event.text))

    def action_help_quit(self) -> None:
        """Ctrl+C does not quit (it copies in text boxes): say what does, in words, not raw markup.

        While a reply is being written, Ctrl+C is most likely meant to stop it (as in a shell):
        the note says Esc does that, instead of only asking whether to quit.
        """
        screen = self.screen
        if isinstance(screen, ChatScreen) and screen.generating:
            self.notify(
                "Esc stops the reply (its text so far stays). Ctrl+Q quits.", title="Stop the reply?"
            )
            return
        self.notify("Press Ctrl+Q to quit (or Ctrl+D in an empty message box).", title="Do you want to quit?")

    async def action_quit(self) -> None:
        """Ctrl+Q. The unsent message is kept for next time (see :meth:`exit`); where it cannot be
        (history off: ``--no-log`` writes nothing typed to disk), quitting asks first. Ctrl+Q
        again at the question quits."""
        screen = self.chat_screen
        if (
            not isinstance(self.screen, Confirm)
            and screen.unsent_text()
            and not self.controller.library.keeps_drafts
        ):
            question = "Quit? The message you have not sent is lost: history is off (--no-log)."
            self.push_screen(Confirm(question, yes="Quit"), lambda quit_now: self.exit() if quit_now else None)
            return
        self.exit()

    def exit(self, *args: Any, **kwargs: Any) -> None:
        """Quit however it is asked (Ctrl+Q, Ctrl+D, the palette), keeping the unsent message first.

        Here, not on unmount: the message box is still there to read.
        """
        try:
            screen = self.chat_screen
        except LookupError:
            pass
        else:
            screen.keep_draft()
        super().exit(*args, **kwargs)

    def get_default_screen(self) -> ChatScreen:
        return ChatScreen()

    @property
    def chat_screen(self) -> ChatScreen:
        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen):
                return screen
        raise LookupError("the chat screen is not open")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette (Ctrl+P): Textual's commands plus model/backend/template pickers."""
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Settings", "Model, backend, template and sampling parameters (F2)", self.action_settings
        )
        yield SystemCommand(
            "Prompt inspector", "The exact text the model sees next (F3)", self.action_inspect
        )
        yield SystemCommand(
            "Token view",
            "The focused (or last) reply's tokens, probabilities and sampling panel (t on a reply)",
            self.action_token_view,
        )
        yield SystemCommand(
            "Attention view",
            "What each token of the focused (or last) reply looked at: layers, heads (a on a reply)",
            self.action_attention_view,
        )
        yield SystemCommand("Help", "Key bindings and slash commands (F1)", self.action_help)
        yield SystemCommand(
            "Toggle light/dark", "Switch between the light and dark theme (Ctrl+T)", self.action_toggle_theme
        )
        options = self.controller.settings_options()
        settings = self.controller.settings
        # The palette reads titles and help as markup: names of files, templates and plugins are escaped.
        for label, name in options.backends:
            if name != settings.backend:
                yield SystemCommand(
                    f"Backend: {as_markup(name)}",
                    f"Next reply from {as_markup(label)}",
                    lambda n=name: self.switch_engine(backend=n),
                )
        for label, name in options.models:
            if not same_model(name, settings.model):  # the loaded one under its listed name is no switch
                yield SystemCommand(
                    f"Model: {as_markup(name)}", as_markup(label), lambda n=name: self.switch_engine(model=n)
                )
        for label, name in options.templates:
            if (name or None) != settings.template:
                yield SystemCommand(
                    f"Template: {as_markup(label)}",
                    "Prompting strategy for the next turns",
                    lambda n=name: self.switch_template(n or None),
                )

    def on_mount(self) -> None:
        # A thread waiting for the GIL while the UI thread draws waits up to the
        # switch interval (5 ms by default). The pipe reader and the stream's
        # worker get each token to the screen sooner at 1 ms.
        self._previous_switch_interval = sys.getswitchinterval()
        self.fit_switch_interval(model_in_this_process=False)  # no model yet
        self.catch_quit_signals()
        for notice in self.startup_notices:
            self.notify(notice, severity="warning", timeout=10)

    def fit_switch_interval(self, model_in_this_process: bool) -> None:
        """Shorten the switch interval further only while the model's own thread shares our GIL.

        With the model in this process its thread waits for the GIL on every
        token while the UI draws: 0.2 ms kept it close to headless
        (benchmarks/tui_stream.py: at 1000 tok/s 0.82, 1 ms 0.74). With the model
        in its engine process, 0.2 ms only adds switches that slow the engine
        on a 2-core machine: 0.94-0.95 of headless at 1000 tok/s against
        0.97 at 1 ms (and at 5 ms).
        """
        wanted = GIL_SWITCH_INTERVAL_MODEL_HERE if model_in_this_process else GIL_SWITCH_INTERVAL
        sys.setswitchinterval(min(self._previous_switch_interval, wanted))

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Run the app; quit by a signal, end with ``SystemExit(128 + N)`` once it has closed.

        The signals are caught from here (recorded until the event loop takes them in
        :meth:`catch_quit_signals`): one that came while Textual started ended the process
        on the spot. After a quit by SIGTERM the process exited with status 0, as after
        Ctrl+Q; a shell or a service manager reads 143 (129 for SIGHUP) as "killed". The
        exception passes through the caller's ``finally`` (the settings are still saved).
        Signals given by the caller stay held (recorded only) until it releases them.
        """
        self._running_as_program = True
        self.quit_signals.catch()
        try:
            result = super().run(*args, **kwargs)
        finally:
            if self._caller_releases_signals:
                self.quit_signals.hold()
            else:
                self.quit_signals.release()
        status = self.quit_signals.exit_status
        if status is not None:
            raise SystemExit(status)
        return result

    def catch_quit_signals(self) -> None:
        """Quit as Ctrl+Q does, the unsent message kept, when the terminal closes or the app is told to.

        The event loop handles them from here (see :class:`~.quit_signals.QuitSignals`), so the quit
        runs on the UI thread; one recorded before (:meth:`run`) quits once the chat screen is up
        (:meth:`quit_if_signalled`), with the draft it put back in the box kept again.
        """
        import asyncio

        self.quit_signals.hand_to(asyncio.get_running_loop(), self.quit_if_signalled)

    def quit_if_signalled(self) -> bool:
        """Quit if a quit signal came, once the chat screen is up (it calls this then, too); True if so.

        Before, the box does not hold the draft kept last time yet (a long conversation is
        still being drawn): quitting then forgot that draft, and the screen went on putting
        it in a box no longer there.
        """
        try:
            opened = self.chat_screen.opened
        except LookupError:
            opened = False
        if self.quit_signals.received is None or not opened:
            return False
        self.exit()
        return True

    def release_quit_signals(self) -> None:
        """The loop stops handling the quit signals (see catch_quit_signals): it is about to close.

        Run as a program (:meth:`run`), they are held (recorded only) from here: giving them
        back their old handlers now let a second signal end the process the default way while
        it still unloaded the model and saved; :meth:`run` (or its caller) releases them at the
        end. Under a test's ``run_test`` the old handlers come back at once.
        """
        if self._running_as_program:
            self.quit_signals.hold()
        else:
            self.quit_signals.release()

    def on_unmount(self) -> None:
        self.release_quit_signals()
        self.controller.cancel()
        self.controller.abort_loading()  # quitting while a model loads: not kept open until it is loaded
        sys.setswitchinterval(self._previous_switch_interval)

    # ---- panels -------------------------------------------------------------------
    def action_command_palette(self) -> None:
        """Textual's palette (Ctrl+P), its search box's keys in the order typed
        (:class:`~.widgets.key_order.OrderedCommandPalette`)."""
        from textual.command import CommandPalette

        from .widgets.key_order import OrderedCommandPalette

        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(OrderedCommandPalette(id="--command-palette"))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT_THEME if self.theme == DARK_THEME else DARK_THEME

    def action_inspect(self) -> None:
        self.chat_screen.action_inspect()

    def action_token_view(self) -> None:
        self.chat_screen.action_token_view()

    def action_attention_view(self) -> None:
        self.chat_screen.action_attention_view()

    def action_settings(self) -> None:
        settings = self.controller.settings
        model, backend, note = self._engine_shown_in_settings()
        screen = SettingsScreen(
            self.controller.settings_options(),
            model=model,
            backend=backend,
            template=settings.template,
            params=settings.params,
            system=settings.system,
            variables=settings.template_variables,
            mode=settings.mode,
            note=note,
        )
        self.push_screen(screen, self.apply_settings)

    def refresh_settings_note(self, failed: tuple[str, str] | None = None) -> None:
        """A load ended (or another began) with the settings panel open: its line about the switch follows.

        ``failed``: the load of that model / backend failed; a panel showing it says so, since
        applying it would try again.
        """
        for screen in self.screen_stack:
            if isinstance(screen, SettingsScreen):
                note = self._engine_shown_in_settings()[2]
                if not note and failed == (screen.current_model, screen.current_backend):
                    note = (
                        f"{visible_line(failed[0]) or 'the default model'} on {visible_line(failed[1])} "
                        "could not be loaded: Apply tries again; choose another model to switch"
                    )
                screen.set_note(note)

    def _engine_shown_in_settings(self) -> tuple[str, str, str]:
        """The model and backend the settings panel shows, and what it says about a switch under way.

        During a switch (F2 → another model, tens of seconds to load) the
        settings still named the old model until the load ended: the panel
        showed it, and applying an untouched panel kept the switch going while
        it claimed the old model. It shows the model chosen instead, says that
        it is loading and which engine answers meanwhile; nothing is applied
        to an engine before it is loaded (see :meth:`apply_settings`).
        """
        settings = self.controller.settings
        current = (settings.model, settings.backend)
        chat = self.chat_screen
        chosen = chat.engine_choice
        if chosen is None or (chosen == current and self.controller.ready and not chat.model_loading):
            return settings.model, settings.backend, ""
        model, backend = chosen
        if chat.engine_after_reply is not None:
            when = "loads when the reply being written ends"
        elif chosen == chat.engine_loading:
            when = "is loading"
        else:
            when = "loads after the model being loaded now"
        answering = (
            f"; {visible_line(settings.model) or 'the server'} answers until then"
            if self.controller.ready and chosen != current
            else ""
        )
        named = f"{visible_line(model) or 'the default model'} on {visible_line(backend)}"
        return model, backend, f"{named} {when}{answering}"

    def apply_settings(self, choice: SettingsChoice | None) -> None:
        if choice is None:
            return
        settings: ChatSettings = self.controller.settings
        # Against what the panel showed: the engine being switched to, if a switch is under way.
        shown = self.chat_screen.engine_choice or (settings.model, settings.backend)
        engine_changed = (choice.model, choice.backend) != shown
        before = settings.params
        edited = {
            name: getattr(choice.params, name)
            for name in before.field_names()
            if getattr(choice.params, name) != getattr(before, name)
        }
        settings.system = choice.system
        settings.mode = choice.mode
        try:
            template_changed = choice.template != settings.template
            if template_changed or choice.variables != settings.template_variables:
                # A new template's own params become the defaults; fields edited in the panel still win.
                self.controller.set_template(choice.template, choice.variables)
                if template_changed:  # one with a test case that can only fail says so, as from the palette
                    self.chat_screen.warn_template()
        except AssistantError as exc:
            self.notify(str(exc), title="Template", severity="error")
        settings.params = settings.params.replace(**edited)
        chat = self.chat_screen
        chat.refresh_settings()
        if engine_changed or not self.controller.ready:
            chat.load_model(choice.model, choice.backend)

    def switch_engine(self, model: str | None = None, backend: str | None = None) -> None:
        """Load another model or backend; the conversation carries over (after the reply being written)."""
        self.chat_screen.load_model(model, backend)

    def switch_template(self, template: str | None) -> None:
        try:
            self.controller.set_template(template)
        except AssistantError as exc:
            self.notify(str(exc), title="Template", severity="error")
            return
        self.chat_screen.refresh_settings()
        self.chat_screen.warn_template()
