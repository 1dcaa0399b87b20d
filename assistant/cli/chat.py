"""``assistant chat``: open the Textual chat app (also what bare ``assistant`` runs)."""

from __future__ import annotations

import sys

import click

from . import fail
from .common import TEXT, model_options, resolve_model_and_backend
from .history_options import continue_options, history_options


@click.command()
@model_options
@click.option("-s", "--system", type=TEXT, default=None, help="System prompt (default: config `default_system`).")
@click.option("-t", "--template", default=None, help="Prompt template / strategy for each turn.")
@continue_options
@history_options
def chat(
    model: str | None,
    backend: str | None,
    options: tuple[str, ...],
    verbose: bool,
    system: str | None,
    template: str | None,
    continue_latest: bool = False,
    cid: int | None = None,
    db: str | None = None,
    no_log: bool = False,
) -> None:
    """Open the chat app. F1 inside it lists every key binding."""
    from ..config import default_system_prompt, engine_process_enabled
    from ..errors import AssistantError
    from ..history.session_link import link_history
    from ..options import build_params, parse_options

    engine_process_enabled()  # a bad setting is an error now, not a notification at the first model load
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        # A full-screen app cannot run without a terminal; say so instead of hanging.
        fail(
            "assistant chat needs an interactive terminal; use `assistant prompt` for piped input or scripts"
        )
    from ..models.refs import lasting_reference
    from ..tui.quit_signals import QuitSignals

    # Caught from here, not only once Textual runs: a kill while the app starts is kept and
    # acted on as soon as the screen is up, so the draft it puts back is saved again.
    quit_signals = QuitSignals()
    quit_signals.catch()
    from ..tui.remembered import Remembered, load_last_used, of_conversation, save_last_used

    param_overrides, backend_opts = parse_options(options)
    if verbose:
        backend_opts["verbose"] = True
    history = link_history(db, no_log, continue_latest, cid)
    click.get_current_context().call_on_close(history.close)
    # Settings not given on the command line come from the resumed conversation's
    # newest reply (as the sidebar reopens it), else from what the app closed with last time
    # (tui/remembered.py). A conversation without a reply keeps the template it began with.
    if history.conversation is not None and history.store is not None:
        stored = history.store.messages(history.conversation.id)
        remembered = of_conversation(stored) or Remembered(template=history.conversation.template)
    elif not (model or backend or options or template):
        remembered = load_last_used() or Remembered()
    else:
        remembered = Remembered()
    params = build_params(param_overrides)
    params = remembered.params_over(params).replace(**param_overrides) if remembered.params else params
    # A resumed conversation's model is the history's (HistoryLink.model: as -m loads it again, a model
    # given by path by its path), never the short name the remembered settings show.
    resumed = history.conversation is not None
    model_name, backend_name = resolve_model_and_backend(
        model or (history.model if resumed else remembered.model), backend,
        history.backend if resumed else remembered.backend,
    )
    if backend_opts:
        from ..backends import check_options

        # `-o bogus=1` typed here is an error before the app opens, as in every other command: it
        # opened, and said "Could not load: unknown llama-cpp option(s)" in a box over an empty chat.
        check_options(backend_name, backend_opts)

    from ..tui import ChatApp, ChatController, ChatSettings

    settings = ChatSettings(
        model=model_name,
        backend=backend_name,
        params=params,
        system=history.system(system, default_system_prompt()) or None,
        backend_options=backend_opts,
        mode=remembered.mode,
    )
    controller = ChatController(settings, history=history)
    # The newest reply's template: the conversation row keeps its first turn's, so a chat moved to another
    # template (or to none) in F2 came back under the first one with `chat -c` (the sidebar reopened it right).
    chosen = template or remembered.template
    notices: list[str] = []
    if chosen:
        # the variables remembered with that template on exit (none are stored in the history)
        variables = remembered.variables if remembered.template == chosen and remembered.variables else None
        try:
            controller.set_template(chosen, variables)
        except AssistantError as exc:
            if template:  # asked for on the command line: an error, as everywhere
                raise
            # the conversation's (or last session's) template, since deleted or broken: the chat still opens
            controller.set_template(None)
            notices.append(f"template {chosen!r} is not used: {exc}; the conversation goes on as plain chat")
    app = ChatApp(controller, notices, quit_signals=quit_signals)
    try:
        app.run()  # quit by a signal: SystemExit(128 + N), after this shutdown
    finally:
        # Held (recorded only) until the model is unloaded and the settings saved: a second kill (or the
        # terminal closing after one) ended the process here, before the save (tui/quit_signals.py).
        try:
            controller.unload()
            final = controller.settings
            save_last_used(Remembered(
                lasting_reference(final.model) if final.model else final.model, final.backend, final.template, controller.params_without_template().to_dict(), final.mode,
                dict(final.template_variables),
            ))  # fmt: skip
        finally:
            quit_signals.release()
    if quit_signals.exit_status is not None:  # the first signal came only once the app had closed
        raise SystemExit(quit_signals.exit_status)
