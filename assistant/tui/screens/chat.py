"""The main screen: conversation, message box, settings and status lines.

Model loading and generation run in thread workers; they post
:mod:`assistant.tui.messages` back here, so the UI thread only ever draws.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Callable

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, LoadingIndicator

from ...errors import AssistantError
from ..messages import (
    EngineStatusReady,
    ModelLoaded,
    ModelLoadFailed,
    ModelLoadProgress,
    PreviewReady,
    ReplyFinished,
    ReplyProgress,
    TaskFinished,
    TaskProgress,
)
from ..heap import QuietCollector, settle_after_load
from ..slash import is_slash_command, parse_slash_command, unescape_slash
from ..stream_buffer import DrawPacer, ReplyBuffer
from ..text import shorten
from ..widgets.chat_log import (
    STOPPED_AT_MAX_TOKENS,
    AssistantMessage,
    ChatLog,
    ToolMessage,
    UserMessage,
    prefetch_markdown,
)
from ..widgets.prompt_input import PromptInput
from ..widgets.sidebar import Sidebar
from ..widgets.status_bar import SettingsBar, SettingsInfo, StatusBar, StatusInfo
from ..widgets.tool_results import result_view, slash_help_view
from .dialogs import Confirm

if TYPE_CHECKING:
    from ...history import StoredMessage
    from ...inspect.token_view import ReplyTokens
    from ..app import ChatApp
    from ..controller import ChatController

EMPTY_HINT = "Type a message and press Enter.  F1 help · F2 settings · F3 prompt inspector · / for tools"

MAX_FPS = 30
"""Most draws per second of a streaming reply."""
UI_CPU_SHARE = 0.4
"""Most of the wall time the UI thread may spend (in CPU) drawing a streaming reply.

With a 0.2 ms GIL switch interval (see ``app.py``) the model keeps 97-98% of its
speed at 100 tok/s up to a share of 0.5, while draws come every ~60 ms instead
of every ~250 ms at 0.2 (benchmarks/tui_stream.py)."""

FINISH_STATUS = {"cancelled": "interrupted", "length": STOPPED_AT_MAX_TOKENS, "error": "error", "stop": ""}


class ChatScreen(Screen[None]):
    AUTO_FOCUS = "PromptInput"
    BINDINGS = [
        Binding("escape", "stop", "Stop reply"),
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
    """

    def __init__(self) -> None:
        super().__init__()
        self.buffer = ReplyBuffer()
        self.reply: AssistantMessage | None = None
        self.pending_user: UserMessage | None = None
        self._generating = False
        self.model_loading = False
        self.queued: str | None = None
        """A message sent while the model was loading, sent once it is ready."""
        self.status = StatusInfo()
        self.sent_at = 0.0
        self.first_text_at: float | None = None
        self.rendered_at: float | None = None
        self._flush_timer: Timer | None = None
        self.pacer = DrawPacer(MAX_FPS, UI_CPU_SHARE)
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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self._generating  # "esc Stop reply" in the footer only while a reply runs
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
        for entry in self.controller.library.recent_inputs():
            self.prompt_input.sent_history.add(entry)
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
        self.query_one(SettingsBar).info = SettingsInfo(settings.template, settings.params)

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
        """
        settings = self.controller.settings
        model, backend = model or settings.model, backend or settings.backend
        self.model_loading = True
        self.set_status(state="loading", detail=f"{model} on {backend}")
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

    def on_model_load_progress(self, message: ModelLoadProgress) -> None:
        self.set_status(detail=shorten(message.text, 60))

    async def on_model_loaded(self, message: ModelLoaded) -> None:
        # Once the screen shows the loaded state (a fast load must not delay the first frame).
        self.call_after_refresh(settle_after_load)
        self.model_loading = False
        self.chat_app.fit_switch_interval(self.controller.model_in_this_process)
        await self.log_view.remove_children(LoadingIndicator)
        self.set_status(state="idle", detail="")
        self.refresh_engine_status()
        self.refresh_settings()
        queued, self.queued = self.queued, None
        if queued is not None:
            await self.send(queued)

    async def on_model_load_failed(self, message: ModelLoadFailed) -> None:
        self.model_loading = False
        await self.log_view.remove_children(LoadingIndicator)
        ready = self.controller.ready
        self.set_status(state="idle" if ready else "no model", detail="" if ready else "F2 to choose one")
        self.refresh_engine_status()
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

    def _give_back(self, text: str, reason: str = "") -> None:
        """Refuse ``text`` without losing it: it goes back into the empty message box."""
        if not self.prompt_input.text.strip():
            self.prompt_input.load_text(text)
            self.prompt_input.move_cursor(self.prompt_input.document.end)
        if reason:
            self.notify(reason, severity="warning")

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
        if is_slash_command(text):
            await self.run_slash_command(text)
            return
        text = unescape_slash(text)
        if self.controller.scores_choices:
            name = self.controller.settings.template or "template"
            await self.run_task(name, text, lambda: self.controller.classify(text))
            return
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
        self.pending_user = await self.log_view.add(UserMessage(text))  # type: ignore[assignment]
        label = self.controller.settings.model
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
        self.generating = False
        if reply is not None:
            await reply.write(self.buffer.drain())
            reply.reply_tokens = self.controller.last_tokens
            completion = message.completion
            if message.error is not None and not reply.text:
                await reply.remove()
                if user is not None:
                    user.set_status("not sent")
                    self._give_back(message.user_text)
            else:
                reason = completion.finish_reason if completion is not None else "error"
                await reply.finish(FINISH_STATUS.get(reason, reason))
                if completion is not None and reason in ("stop", "length"):
                    await self._show_answer(reply, completion.text)
            self.rendered_at = time.perf_counter()
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

    async def _show_answer(self, reply: AssistantMessage, text: str) -> None:
        """Chain-of-thought and JSON templates: fold the reasoning away, show the extracted answer."""
        try:
            extraction = self.controller.extract(text)
        except AssistantError as exc:
            self.notify(str(exc), title="Template", severity="error")
            return
        if extraction is None:
            return
        if extraction.error is not None:
            reply.set_status(f"no answer: {extraction.error}")
            return
        answer = (
            extraction.answer
            if isinstance(extraction.answer, str)
            else json.dumps(extraction.answer, indent=2)
        )
        if extraction.reasoning:
            await reply.show_reasoning(extraction.reasoning, answer)

    # ---- tools and scored templates -----------------------------------------------
    async def run_slash_command(self, line: str) -> None:
        """``/help`` here; any other command names a tool, run on its text or the last message."""
        from ..tool_calls import prepare_tool_call

        if parse_slash_command(line).name == "help":
            await self.log_view.add(UserMessage(line))
            body, plain = slash_help_view()
            await self.log_view.add(ToolMessage("/help", body, plain))
            return
        try:
            call = prepare_tool_call(line, self.controller.messages)
        except AssistantError as exc:
            self._give_back(line)
            self.notify(str(exc), title="Slash command", severity="error", timeout=8)
            return

        def progress(done: int, total: int, message: str) -> None:
            self.post_message(TaskProgress(f"{done}/{total} {message}".strip()))

        await self.run_task(
            call.label, line, lambda: self.controller.run_tool(line, call, progress), source_text=call.text
        )

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
        except AssistantError as exc:
            self.post_message(TaskFinished(label, user_text, error=str(exc)))
        except Exception as exc:  # a plugin's bug must not take the app down
            self.post_message(TaskFinished(label, user_text, error=f"{type(exc).__name__}: {exc}"))

    def on_task_progress(self, message: TaskProgress) -> None:
        self.set_status(detail=shorten(message.text, 60))

    async def on_task_finished(self, message: TaskFinished) -> None:
        user, self.pending_user = self.pending_user, None
        self.generating = False
        if message.error is not None:
            if user is not None:
                user.set_status("failed")
            self.notify(message.error, title=f"{message.label} failed", severity="error", timeout=10)
        else:
            body, plain = result_view(message.result, message.source_text)
            await self.log_view.add(ToolMessage(message.label, body, plain))
        self.set_status(state="idle", detail="", tokens_per_second=None, ttft_ms=None)
        self.refresh_engine_status()
        self.refresh_sidebar()

    def action_stop(self) -> None:
        if self.generating:
            self.controller.cancel()

    # ---- panels -------------------------------------------------------------------
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

    @on(AssistantMessage.TokenViewRequested)
    def on_token_view_requested(self, event: AssistantMessage.TokenViewRequested) -> None:
        self.open_token_view(event.reply)

    def open_token_view(self, reply: AssistantMessage) -> None:
        """Open the token view over ``reply``: its own numbers, the history's, or computed on the spot."""
        from .token_view import TokenViewScreen

        tokens = self.reply_tokens_for(reply, "Token view")
        if tokens is not None:
            self.app.push_screen(TokenViewScreen(tokens, reply.label))

    def reply_tokens_for(self, reply: AssistantMessage, view: str) -> "ReplyTokens | None":
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

    @on(AssistantMessage.AttentionViewRequested)
    def on_attention_view_requested(self, event: AssistantMessage.AttentionViewRequested) -> None:
        self.open_attention_view(event.reply)

    def open_attention_view(self, reply: AssistantMessage) -> None:
        """Open the attention view over ``reply`` (computed in the view's worker, on transformers)."""
        from .attention import AttentionScreen

        if self._busy():  # one engine, one job: the maps wait for the reply to finish
            return
        tokens = self.reply_tokens_for(reply, "Attention view")
        if tokens is not None:
            self.app.push_screen(AttentionScreen(tokens, reply.label))

    async def action_new_conversation(self) -> None:
        if self._busy():
            return
        self.controller.new_conversation()
        await self.log_view.clear(EMPTY_HINT)
        # Nothing of the old chat stays on screen: its figures go now (the refresh
        # below counts the new, empty one), and an unsent draft moves into the
        # input history (Up brings it back) instead of being sent to the new chat.
        self.set_status(tokens_per_second=None, ttft_ms=None, context_used=None, dropped=0)
        self.prompt_input.put_aside_draft()
        self.refresh_engine_status()
        self.refresh_sidebar()
        self.prompt_input.focus()

    def _busy(self) -> bool:
        if self.generating:
            self.notify("Stop the reply first (Esc)", severity="warning")
        return self.generating

    # ---- conversations sidebar ----------------------------------------------------
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
        self._sidebar_chosen = True
        self.sidebar.remove_class("-hidden")
        self.sidebar.search_box.focus()

    @on(Sidebar.Opened)
    async def on_conversation_opened(self, event: Sidebar.Opened) -> None:
        await self.open_conversation(event.conversation_id)

    async def open_conversation(self, conversation_id: int) -> None:
        """Show a stored conversation and continue it (the model gets it fitted to its window)."""
        if self._busy():
            return
        try:
            opened = self.controller.open_conversation(conversation_id)
        except AssistantError as exc:
            self.notify(str(exc), title="Could not open the conversation", severity="error")
            return
        await self.show_stored(opened.stored)
        self.set_status(tokens_per_second=None, ttft_ms=None)
        self.refresh_settings()
        self.refresh_sidebar()
        self.prompt_input.focus()
        remembered, settings = opened.remembered, self.controller.settings
        if remembered is not None and remembered.model and remembered.backend and (
            (remembered.model, remembered.backend) != (settings.model, settings.backend)
        ):
            self.load_model(remembered.model, remembered.backend)  # the model it was having with
        else:
            self.refresh_engine_status()

    async def show_stored(self, stored: "list[StoredMessage]") -> None:
        await self.log_view.show_stored(stored)
        if not stored:
            await self.log_view.clear(EMPTY_HINT)

    @on(Sidebar.DeleteRequested)
    def on_delete_requested(self, event: Sidebar.DeleteRequested) -> None:
        self.delete_conversation(event.conversation_id)

    def delete_conversation(self, conversation_id: int) -> None:
        if conversation_id == self.controller.conversation_id and self._busy():
            return

        async def done(confirmed: bool | None) -> None:
            if not confirmed:
                return
            try:
                was_open = self.controller.delete_conversation(conversation_id)
            except AssistantError as exc:
                self.notify(str(exc), title="Delete", severity="error")
                return
            if was_open:
                await self.log_view.clear(EMPTY_HINT)
                self.refresh_engine_status()
            self.refresh_sidebar()

        self.app.push_screen(Confirm("Delete this conversation and all its messages?"), done)

    def action_copy_last(self) -> None:
        reply = self.log_view.last_assistant()
        if reply is None or not reply.text:
            self.notify("There is no reply to copy yet", severity="warning")
            return
        reply.action_copy_message()
