"""The chat screen's model loading: one load at a time in a worker, the newest choice next.

A mixin of :class:`~assistant.tui.screens.chat.ChatScreen`. Loading is the
controller's (:meth:`~assistant.tui.controller.ChatController.load`); this part
keeps the status line, the loading indicator and the choices made meanwhile
(F2, the palette, a message sent while it loads) in order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.widgets import LoadingIndicator

from ...errors import AssistantError
from ..heap import settle_after_load
from ..messages import ModelLoaded, ModelLoadFailed, ModelLoadProgress
from ..text import shorten

if TYPE_CHECKING:
    from .chat import ChatScreen

    _Screen = ChatScreen
else:
    _Screen = object


class ModelLoading(_Screen):
    """Loads the model / backend chosen, after the reply or load under way (mixed into the chat screen)."""

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
