"""The main screen: conversation, message box, settings and status lines.

Model loading and generation run in thread workers; they post
:mod:`assistant.tui.messages` (dataclass messages) back here, so the UI thread
only ever draws. What the app *does* is the Textual-free controller's
(:mod:`assistant.tui.controller`); this module is the screen's core — layout,
status lines and the state the other parts share. Those parts are mixins, one
concern each: loading a model (:mod:`.chat_loading`), sending a turn and
streaming its reply (:mod:`.chat_replies`), the panels and reply views
(:mod:`.chat_views`), conversations and the sidebar (:mod:`.chat_conversations`),
regenerate / edit / versions (:mod:`.chat_branches`), and slash commands and scored
templates (:mod:`.chat_tasks`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer

from ...backends.engine.threads import AvailableCores
from ..heap import QuietCollector
from ..messages import EngineStatusReady
from ..stream_buffer import DrawPacer, ReplyBuffer
from ..widgets.chat_log import ChatLog
from ..widgets.chat_messages import AssistantMessage, UserMessage, prefetch_markdown
from ..widgets.prompt_input import PromptInput
from ..widgets.sidebar import Sidebar
from ..widgets.status_bar import SettingsBar, SettingsInfo, StatusBar, StatusInfo
from .chat_branches import BRANCH_CSS, EDIT_HINT, BranchActions, EditBanner
from .chat_conversations import EMPTY_HINT, ConversationActions
from .chat_loading import ModelLoading
from .chat_replies import ReplyFlow
from .chat_tasks import TaskActions
from .chat_views import ReplyViews
from .layout_pass import OneLayoutPass

if TYPE_CHECKING:
    from ..app import ChatApp
    from ..controller import ChatController

__all__ = ["EMPTY_HINT", "ChatScreen"]

MAX_FPS = 30
"""Most draws per second of a streaming reply."""
UI_CPU_SHARE = 0.4
"""Most of the wall time the UI thread may spend (in CPU) drawing a streaming reply.

With a 0.2 ms GIL switch interval (see ``app.py``) the model keeps 97-98% of its
speed at 100 tok/s up to a share of 0.5, while draws come every ~60 ms instead
of every ~250 ms at 0.2 (benchmarks/tui_stream.py)."""
UI_CPU_SHARE_CROWDED = 0.02
"""The share while no core is free for the UI (see :class:`DrawPacer`). Whatever the UI draws then is
taken from an engine thread the others wait for. SmolLM2 on llama.cpp in the app, against
``assistant prompt`` in the same run on an idle 2-core machine, kept 0.85 of its speed at 0.05, 0.80
at 0.1 and 0.55 at 0.4 (before draws cost one layout instead of two); then, in 8 paired rounds, 0.91
at 0.05, 0.96 at 0.02 and 1.00 with no drawing at all. At 0.02 a draw (5-15 ms) comes about every
0.5 s (``max_interval``), two or three lines of text at a time."""


class ChatScreen(
    ModelLoading,
    ReplyFlow,
    ReplyViews,
    ConversationActions,
    BranchActions,
    TaskActions,
    OneLayoutPass,
    Screen[None],
):
    AUTO_FOCUS = "PromptInput"
    BINDINGS = [
        Binding("escape", "stop", "Stop reply"),
        Binding("escape", "take_back", "Take back message"),
        Binding("escape", "cancel_edit", "Cancel edit"),
        Binding("ctrl+r", "regenerate_last", "Regenerate", show=False),
        Binding("f2", "settings", "Settings"),
        Binding("f3", "inspect", "Prompt"),
        Binding("ctrl+n", "new_conversation", "New chat"),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", show=False),
        Binding("ctrl+f", "search", "Search", show=False),
        Binding("f4", "copy_last", "Copy reply", show=False),
    ]

    DEFAULT_CSS = """
    ChatScreen #main { height: 1fr; }
    ChatScreen #conversation { width: 1fr; }
    ChatScreen LoadingIndicator { height: 3; }
    """ + BRANCH_CSS

    def __init__(self) -> None:
        super().__init__()
        self.buffer = ReplyBuffer()
        self.reply: AssistantMessage | None = None
        self.pending_user: UserMessage | None = None
        self._generating = False
        self.model_loading = False
        self.queued: str | None = None
        """A message sent while the model was loading, sent once it is ready."""
        self.engine_after_reply: tuple[str, str] | None = None
        """A model / backend chosen (F2, the palette) while a reply ran: loaded as soon as it ends."""
        self.engine_loading: tuple[str, str] | None = None
        """The model / backend being loaded now. (Not ``loading``: that is Textual's reactive, which
        covered the whole screen with a loading indicator while a model switch loaded and dropped
        the message box's focus onto the last reply.)"""
        self.load_after_load: tuple[str, str] | None = None
        """A model / backend chosen while another loaded: loaded as soon as that load ends."""
        self.status = StatusInfo()
        self.editing = None
        self.sending_edit = False
        """The reply being written answers an edited message (a new version of it)."""
        self.sent_at = 0.0
        self.first_text_at: float | None = None
        self.rendered_at: float | None = None
        self._flush_timer: Timer | None = None
        self.pacer = DrawPacer(
            MAX_FPS, UI_CPU_SHARE, crowded_share=UI_CPU_SHARE_CROWDED, free_cores=AvailableCores()
        )
        self.quiet_gc = QuietCollector()
        self._status_sequence = 0
        self.status_pending = False
        self.opened = False
        """The screen is up: the draft kept last time is back in the box, so quitting may keep the box's
        text. Before (a long conversation still being drawn), a quit kept an empty box, forgetting that draft."""

    @property
    def generating(self) -> bool:
        """A reply (or a tool) is running: sending waits, Esc stops it."""
        return self._generating

    @generating.setter
    def generating(self, value: bool) -> None:
        self._generating = value
        self.refresh_bindings()
        for prompt in self.query(PromptInput):
            # A steady cursor while the model writes: each blink is a screen update, work the
            # UI would take from a local model decoding on every core.
            prompt.cursor_blink = not value
        if not value and self.engine_after_reply is not None:
            model, backend = self.engine_after_reply
            self.engine_after_reply = None
            self.call_later(self.load_model, model, backend)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self._generating  # "esc Stop reply" in the footer only while a reply runs
        if action == "take_back":
            return self.queued is not None and not self._generating
        if action == "cancel_edit":
            return self.editing is not None and not self._generating
        return True

    @property
    def chat_app(self) -> "ChatApp":
        return self.app  # type: ignore[return-value]

    @property
    def controller(self) -> "ChatController":
        return self.chat_app.controller

    # ---- layout -------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield Sidebar(self.controller.library, id="sidebar")
            with Vertical(id="conversation"):
                yield ChatLog(id="log")
                yield EditBanner(EDIT_HINT, id="edit-banner", markup=False)
                yield PromptInput(id="input")
        yield SettingsBar(id="settings")
        yield StatusBar(id="status")
        yield Footer()

    @property
    def log_view(self) -> ChatLog:
        return self.query_one(ChatLog)

    @property
    def prompt_input(self) -> PromptInput:
        return self.query_one(PromptInput)

    async def on_mount(self) -> None:
        if self.controller.conversation_id is not None:
            opened = self.controller.library.open(self.controller.conversation_id)
            await self.show_stored(opened.stored)
        else:
            await self.log_view.clear(EMPTY_HINT)
        self.refresh_sidebar()
        self.refresh_settings()
        self.warn_template()
        for entry in self.controller.library.recent_inputs():
            self.prompt_input.sent_history.add(entry)
        self.restore_draft()  # typed and not sent when the app last quit
        self.opened = True
        if self.chat_app.quit_if_signalled():  # killed while the app started: quit, that draft kept again
            return  # no model load: the app is closing
        # Focus after the first layout: the box is briefly zero-sized (and so
        # "hidden", which drops focus) until the screen has been arranged once.
        self.call_after_refresh(self.prompt_input.focus)
        self.call_after_refresh(self._prefetch_markdown)
        self.load_model(after_first_frame=True)

    @work(thread=True, group="prefetch", exit_on_error=False)
    def _prefetch_markdown(self) -> None:
        """Import the Markdown widgets while the user reads the first frame (see chat_log)."""
        prefetch_markdown()

    def on_unmount(self) -> None:
        self.quiet_gc.end()  # the collector's thresholds are the process's, not the app's

    # ---- status lines -------------------------------------------------------------
    def set_status(self, **changes: object) -> None:
        self.status = self.status.with_changes(**changes)
        self.query_one(StatusBar).info = self.status

    def refresh_settings(self) -> None:
        settings = self.controller.settings
        lacking: frozenset[str] = frozenset()
        if self.controller.ready:  # what the loaded backend cannot apply is not shown as if it were
            capabilities = self.controller.require_backend().capabilities
            applied = {"top_k": capabilities.top_k, "seed": capabilities.seed}
            lacking = frozenset(name for name, yes in applied.items() if not yes)
        self.query_one(SettingsBar).info = SettingsInfo(
            settings.template, settings.params, self.controller.prompt_mode(), lacking
        )

    def refresh_engine_status(self) -> None:
        """Recompute the engine facts and context use in a worker; the status line updates when done."""
        if not self.controller.ready:
            self.set_status(model=self.controller.settings.model, backend=self.controller.settings.backend)
            return
        self._status_sequence += 1
        self.status_pending = True
        self._status_worker(self._status_sequence)

    @work(thread=True, exclusive=True, group="status", exit_on_error=False)
    def _status_worker(self, sequence: int) -> None:
        try:
            self.post_message(EngineStatusReady(sequence, self.controller.status()))
        except Exception as exc:  # a status line must never take the app down
            self.post_message(EngineStatusReady(sequence, None, f"{type(exc).__name__}: {exc}"))

    def on_engine_status_ready(self, message: EngineStatusReady) -> None:
        if message.sequence != self._status_sequence:
            return  # a newer refresh is on its way
        self.status_pending = False
        engine = message.status
        if engine is None:
            return
        self.set_status(
            model=engine.model,
            backend=engine.backend,
            device=engine.device,
            context_length=engine.context_length,
            context_used=engine.context_used,
            dropped=engine.dropped,
            approximate=engine.approximate_counts,
        )

    # ---- sending ------------------------------------------------------------------
    @on(PromptInput.Submitted)
    async def on_prompt_submitted(self, event: PromptInput.Submitted) -> None:
        text = event.text
        if self.generating:
            self._give_back(text, "A reply is still being written (Esc stops it)")
            return
        await self.send(text)
