"""The main screen: conversation, message box, settings and status lines.

Model loading and generation run in thread workers; they post
:mod:`assistant.tui.messages` (dataclass messages) back here, so the UI thread
only ever draws. What the app *does* is the Textual-free controller's
(:mod:`assistant.tui.controller`); this module is the screen's core — layout,
status lines, loading a model, sending a turn and streaming its reply. Its
other parts are mixins, one concern each: the panels and reply views
(:mod:`.chat_views`), conversations and the sidebar (:mod:`.chat_conversations`),
regenerate / edit / versions (:mod:`.chat_branches`), and slash commands and scored
templates (:mod:`.chat_tasks`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, LoadingIndicator

from ...backends.engine.threads import AvailableCores
from ...errors import AssistantError
from ..heap import QuietCollector, settle_after_load
from ..messages import (
    EngineStatusReady,
    ModelLoaded,
    ModelLoadFailed,
    ModelLoadProgress,
    ReplyFinished,
    ReplyProgress,
)
from ..reply_status import finished_status, noted_status
from ..slash import is_slash_command, parse_slash_command, unescape_slash
from ..stream_buffer import DrawPacer, ReplyBuffer
from ..templating import answer_view
from ..text import shorten
from ..widgets.chat_log import AssistantMessage, ChatLog, UserMessage, prefetch_markdown
from ..widgets.prompt_input import PromptInput
from ..widgets.sidebar import Sidebar
from ..widgets.status_bar import SettingsBar, SettingsInfo, StatusBar, StatusInfo
from .chat_branches import BRANCH_CSS, EDIT_HINT, BranchActions, EditBanner
from .chat_conversations import EMPTY_HINT, ConversationActions
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


class ChatScreen(ReplyViews, ConversationActions, BranchActions, TaskActions, OneLayoutPass, Screen[None]):
    AUTO_FOCUS = "PromptInput"
    BINDINGS = [
        Binding("escape", "stop", "Stop reply"),
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

    # ---- model loading ------------------------------------------------------------
    def load_model(
        self, model: str | None = None, backend: str | None = None, *, after_first_frame: bool = False
    ) -> None:
        """Show the loading state and load in a worker thread.

        ``after_first_frame`` (at start-up): the worker starts once the screen
        has been painted, because importing an engine and reading weights in
        another thread competes with the first paint for the interpreter lock.
        Asked while a reply is written (F2, the palette), it loads when that reply ends.
        """
        settings = self.controller.settings
        model, backend = model or settings.model, backend or settings.backend
        if self.generating:  # the engine is in use: the choice waits for the reply's end, not lost
            if (model, backend) == (settings.model, settings.backend) and self.controller.ready:
                self.engine_after_reply = None  # back to the engine answering: nothing to load
                return
            self.engine_after_reply = (model, backend)
            self.notify(f"{model} on {backend} loads when this reply ends", severity="warning")
            return
        if self.model_loading:
            # One load at a time, the newest choice last. Two at once (F2 again while a switch
            # loads) ended in turn: the first one's end said "idle" and sent a waiting message to
            # that model, whose engine the second load then unloaded under the reply.
            if (model, backend) != self.engine_loading:
                self.load_after_load = (model, backend)
                self.notify(f"{model} on {backend} loads when the model being loaded is ready")
            else:  # the newest choice is the one loading: a choice queued before it is dropped
                self.load_after_load = None
            return
        self.engine_loading = (model, backend)
        self.model_loading = True
        self.set_status(state="loading", detail=f"{model} on {backend}")
        self.chat_app.refresh_settings_note()  # an open F2 panel said it waited for the reply
        if not self.controller.ready:
            self.log_view.mount(LoadingIndicator())
        if after_first_frame:
            self.call_after_refresh(self._load_worker, model, backend)
        else:
            self._load_worker(model, backend)

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load_worker(self, model: str, backend: str) -> None:
        try:
            self.controller.load(
                model, backend, progress=lambda text: self.post_message(ModelLoadProgress(text))
            )
        except AssistantError as exc:
            self.post_message(ModelLoadFailed(model, backend, str(exc)))
        except Exception as exc:  # an engine bug must not take the app down
            self.post_message(ModelLoadFailed(model, backend, f"{type(exc).__name__}: {exc}"))
        else:
            self.post_message(ModelLoaded(model, backend))

    @property
    def engine_choice(self) -> tuple[str, str] | None:
        """The model / backend chosen and not loaded yet (the newest choice), or None.

        What the app will answer with once the loads settle: a choice waiting
        for the reply to end, else one waiting for the load under way, else
        that load. The settings panel shows it as the model (see ChatApp.action_settings).
        """
        return self.engine_after_reply or self.load_after_load or self.engine_loading

    def on_model_load_progress(self, message: ModelLoadProgress) -> None:
        self.set_status(detail=shorten(message.text, 60))

    def _load_next(self) -> bool:
        """Start the load chosen while the last one ran (see :meth:`load_model`); False if none was."""
        self.model_loading = False
        self.engine_loading = None
        chosen, self.load_after_load = self.load_after_load, None
        if chosen is not None:
            self.load_model(*chosen)
        self.chat_app.refresh_settings_note()  # an open F2 panel no longer says the ended load is running
        return chosen is not None

    async def on_model_loaded(self, message: ModelLoaded) -> None:
        # Once the screen shows the loaded state (a fast load must not delay the first frame).
        self.call_after_refresh(settle_after_load)
        if self._load_next():  # another model was chosen meanwhile: still loading, nothing sent yet
            self.refresh_settings()
            return
        self.chat_app.fit_switch_interval(self.controller.model_in_this_process)
        # Speed and TTFT were the previous engine's: beside the new model's name they would mislead.
        self.set_status(state="idle", detail="", tokens_per_second=None, ttft_ms=None)
        # The status refresh starts before the first await, so no other handler (or test) sees the
        # model loaded with its status neither shown nor pending.
        self.refresh_engine_status()
        self.refresh_settings()
        await self.log_view.remove_children(LoadingIndicator)
        queued, self.queued = self.queued, None
        if queued is not None:
            await self.send(queued)

    async def on_model_load_failed(self, message: ModelLoadFailed) -> None:
        loading_next = self._load_next()
        self.chat_app.refresh_settings_note(failed=(message.model, message.backend))
        if loading_next:
            self.notify(message.error, title=f"Could not load {message.model}", severity="error", timeout=10)
            return
        ready = self.controller.ready
        self.set_status(state="idle" if ready else "no model", detail="" if ready else "F2 to choose one")
        self.refresh_engine_status()
        await self.log_view.remove_children(LoadingIndicator)
        self.notify(message.error, title=f"Could not load {message.model}", severity="error", timeout=10)
        queued, self.queued = self.queued, None
        if queued is not None:
            if ready:
                await self.send(queued)  # the previous model is still there
            else:
                self._give_back(queued)

    # ---- sending ------------------------------------------------------------------
    @on(PromptInput.Submitted)
    async def on_prompt_submitted(self, event: PromptInput.Submitted) -> None:
        text = event.text
        if self.generating:
            self._give_back(text, "A reply is still being written (Esc stops it)")
            return
        await self.send(text)

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
