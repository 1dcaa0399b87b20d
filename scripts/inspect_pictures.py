"""Regenerate the pictures of docs/inspect.md in docs/images/inspect-*.

    python scripts/inspect_pictures.py            # all of them (a few minutes on a CPU)
    python scripts/inspect_pictures.py cli app    # only the command-line ones, or only the app's

Everything is real: SmolLM2 (the default model) answers, on llama-cpp for the
chat and the token commands, on transformers for attention. Three kinds of
picture:

* the command-line views as a terminal shows them (``tokenize``, ``next``,
  ``prompt --probs``, ``attention``): each command runs in a pseudo-terminal,
  so it colours its output as it would for you, and Rich turns the ANSI text
  into an SVG;
* the pictures ``assistant attention --out`` writes (PNG);
* the chat app's views (token view, sampling panel, attention view): the real
  app headless, saved with Textual's own screenshot (SVG), as
  ``scripts/tui_screenshots.py`` does for the other app pictures.

Needs the model (``assistant models pull smollm2``) and the transformers extra.
"""

from __future__ import annotations

import asyncio
import os
import pty
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images"
APP_SIZE = (120, 36)
TERMINAL_COLUMNS = 100

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

QUESTION = "What is the capital of France?"


# ---- the command line, as a terminal shows it ------------------------------------------------------------
def run_in_terminal(*args: str) -> str:
    """Run ``assistant ARGS`` in a pseudo-terminal (colours on), return what it printed (stdout and stderr)."""
    main_fd, child_fd = pty.openpty()
    env = {
        **os.environ,
        "COLUMNS": str(TERMINAL_COLUMNS),
        "LINES": "60",
        "TERM": "xterm-256color",
        "COLORTERM": "truecolor",
    }
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant", *args],
        stdout=child_fd,
        stderr=child_fd,  # legends and notes go to stderr: a terminal shows both
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
        env=env,
    )
    os.close(child_fd)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(main_fd, 65536)
        except OSError:  # the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(main_fd)
    if process.wait() != 0:
        raise SystemExit(f"assistant {' '.join(args)} failed (exit {process.returncode})")
    return b"".join(chunks).decode("utf-8", errors="replace").replace("\r\n", "\n")


def terminal_svg(name: str, command: str, output: str) -> None:
    """Write ``output`` (ANSI text) as the SVG of a terminal window, the command line on top."""
    from rich.console import Console
    from rich.text import Text

    console = Console(record=True, width=TERMINAL_COLUMNS, force_terminal=True, color_system="truecolor")
    console.file = open(os.devnull, "w")  # noqa: SIM115 - only the recording is wanted
    console.print(Text(f"$ {command}", style="bold"))
    console.print(Text.from_ansi(output.rstrip("\n")))
    (OUT / f"{name}.svg").write_text(console.export_svg(title=command), encoding="utf-8")
    print(f"wrote docs/images/{name}.svg")


def cli_pictures() -> None:
    for name, args in (
        ("inspect-tokenize", ("tokenize", "--chat", QUESTION)),
        (
            "inspect-next",
            (
                "next",
                "The capital of France is",
                "-o",
                "temperature=0.8",
                "-o",
                "top_k=5",
                "-o",
                "top_p=0.9",
                "--top",
                "8",
            ),
        ),
        (
            "inspect-probs",
            (
                "prompt",
                "--probs",
                "-o",
                "temperature=0.7",
                "-o",
                "seed=3",
                "-o",
                "max_tokens=60",
                "Tell me one fact about Paris.",
            ),
        ),
        ("inspect-attention-terminal", ("attention", "--max-new-tokens", "8", "--window", "40", QUESTION)),
    ):
        terminal_svg(name, "assistant " + " ".join(_quoted(a) for a in args), run_in_terminal(*args))
    for name, extra in (
        ("inspect-attention", ("--layer", "16")),
        ("inspect-attention-layers", ("--layer", "all")),
    ):
        path = OUT / f"{name}.png"
        args = ("attention", "--max-new-tokens", "8", *extra, "--out", str(path), QUESTION)
        done = subprocess.run(
            [sys.executable, "-m", "assistant", *args], cwd=ROOT, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"assistant attention failed: {done.stderr.strip()}")
        print(f"wrote docs/images/{path.name}")


def _quoted(arg: str) -> str:
    return f'"{arg}"' if " " in arg else arg


# ---- the chat app ------------------------------------------------------------------------------------------
async def shoot(name: str, steps: Callable[[Any], Awaitable[None]]) -> None:
    """The real chat (SmolLM2 on llama-cpp, token numbers recorded), ``steps``, then an SVG screenshot."""
    from assistant.config import default_system_prompt
    from assistant.history.session_link import link_history
    from assistant.tui import ChatApp, ChatController, ChatSettings
    from assistant.types import GenerationParams

    link = link_history()
    settings = ChatSettings(
        model="smollm2",
        backend="llama-cpp",
        system=default_system_prompt(),
        params=GenerationParams(temperature=0.7, top_k=40, top_p=0.95, seed=3, max_tokens=60, logprobs=5),
    )
    app = ChatApp(ChatController(settings, history=link))
    try:
        async with app.run_test(size=APP_SIZE) as pilot:
            screen = app.chat_screen
            while not app.controller.ready or screen.model_loading:
                await pilot.pause(0.1)
            await steps(pilot)
            app.clear_notifications()
            await pilot.pause(0.3)
            (OUT / f"{name}.svg").write_text(app.export_screenshot(title="assistant chat"), encoding="utf-8")
            print(f"wrote docs/images/{name}.svg")
    finally:
        app.controller.close()
        link.close()


async def focus_reply(pilot: Any) -> None:
    from tui_screenshots import ask

    await ask(pilot, "Tell me one fact about Paris.")
    reply = pilot.app.chat_screen.log_view.last_assistant()
    reply.focus()
    await pilot.pause(0.2)


async def until(pilot: Any, predicate: Callable[[], bool], seconds: float = 300) -> None:
    for _ in range(int(seconds * 10)):
        if predicate():
            return
        await pilot.pause(0.1)
    raise SystemExit("the view did not get ready in time")


async def token_view_steps(pilot: Any) -> None:
    from assistant.tui.screens.token_view import TokenViewScreen

    await focus_reply(pilot)
    await pilot.press("t")
    await until(pilot, lambda: isinstance(pilot.app.screen, TokenViewScreen))
    await pilot.press(*["right"] * 4)
    await pilot.pause(0.3)


async def sampling_panel_steps(pilot: Any) -> None:
    await token_view_steps(pilot)
    await pilot.press("s", "k", "k", "p")  # fewer candidates kept by top-k, then a lower top-p
    await pilot.pause(0.3)


async def attention_view_steps(pilot: Any) -> None:
    from assistant.tui.screens.attention import AttentionScreen

    await focus_reply(pilot)
    await pilot.press("a")
    await until(pilot, lambda: isinstance(pilot.app.screen, AttentionScreen))
    screen = pilot.app.screen
    await until(pilot, lambda: screen.state is not None)  # loads transformers once, then one forward
    await pilot.press("L", "L", "up", "up", "left", "left", "left")
    await pilot.pause(0.3)


def app_pictures() -> None:
    for name, steps in (
        ("inspect-token-view", token_view_steps),
        ("inspect-sampling-panel", sampling_panel_steps),
        ("inspect-attention-view", attention_view_steps),
    ):
        asyncio.run(shoot(name, steps))


def main() -> None:
    from assistant.backends.torch.convert import cache_root
    from assistant.config import paths

    which = set(sys.argv[1:]) or {"cli", "app"}
    OUT.mkdir(parents=True, exist_ok=True)
    # Your models and converted copies, but no history or config of yours in the pictures.
    os.environ.setdefault("ASSISTANT_MODELS_DIR", str(paths().models_dir))
    os.environ.setdefault("ASSISTANT_TRANSFORMERS_CACHE", str(cache_root()))
    with tempfile.TemporaryDirectory(prefix="assistant-inspect-") as home:
        os.environ["ASSISTANT_HOME"] = home
        if "cli" in which:
            cli_pictures()
        if "app" in which:
            app_pictures()


if __name__ == "__main__":
    main()
