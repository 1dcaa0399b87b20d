"""Generating text that must pass a check: validate, retry once, then a clear ToolError.

Greedy decoding is deterministic, so retrying the same request would repeat
the same bad answer; the retry samples instead (fixed seed, so a run is still
reproducible). A generation the user cancelled is never retried: it ends the
tool at once with :data:`TOOL_STOPPED`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from ..errors import ToolError
from ..types import FinishReason, GenerationParams, Message

if TYPE_CHECKING:
    from ..backends.base import Backend

TOOL_STOPPED = "stopped"
"""Why a tool's run ended when the user stopped it (Esc, Ctrl+C, quitting): the ToolError message.

A cancel reaches a tool as a generation's ``cancelled`` finish reason in the
chat app, where Esc sends it (Ctrl-C in the CLI interrupts the tool itself).
"""

Validator = Callable[[str], "str | None"]
"""Returns the cleaned output, or None when the output is unusable. A validator may say why in a ``refused``
attribute (a string, else None), which the error after the second failure gives: "the reply was in Spanish,
not French" tells the user what "did not produce a usable translation" alone does not."""


TokenProgress = Callable[[int], None]
"""Called with the number of tokens generated so far, so a long step can show it is alive."""


def ticker(report: Callable[[int, int, str], None], done: int, total: int, what: str, every: float = 5.0) -> TokenProgress:
    """A :data:`TokenProgress` that reports ``what (N tokens)`` at most every ``every`` seconds.

    Why: one step of a tool (a part of a long document, a piece of a one-line file) can
    generate for minutes on a CPU; without a tick the user sees nothing and cannot tell a
    slow model from a hung one.
    """
    last = time.monotonic()

    def tick(tokens: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= every:
            last = now
            report(done, total, f"{what} ({tokens} token{'' if tokens == 1 else 's'})")

    return tick


def within_reach(params: GenerationParams, backend: Backend) -> GenerationParams:
    """A tool's own settings without those the backend lacks (:func:`~assistant.backends.capabilities.within_reach`).

    Tools refuse ``-o`` sampling options, so every setting here is the tool's preference.
    """
    from ..backends.capabilities import within_reach as reachable

    return reachable(params, backend.capabilities)


@dataclass(frozen=True)
class Generated:
    """A validated output and why generation ended: ``length`` means it was cut at ``max_tokens``."""

    text: str
    finish_reason: FinishReason

    @property
    def complete(self) -> bool:
        return self.finish_reason != "length"


ECHO_LINE_CHARACTERS = 16
"""Shortest line of a prompt's instructions whose copy in a reply counts as the prompt echoed."""


def echoes_prompt(messages: Sequence[Message], reply: str) -> bool:
    """Whether ``reply`` repeats a line of the prompt's instructions (its system prompt, or the user turn's
    text before its first blank line, where the input begins) that the input itself does not hold.

    A base model run on a chat prompt (gemma3-270m, "summarize") continued it instead of answering:
    its "summary" was "You are a helpful assistant." / "Summarize the following text in a short
    paragraph …" / the input, three times over, passed off as the tool's result. Such a reply is no
    answer, and is refused at once: the sampled retry given to other unusable replies invented a
    story instead ("Microsoft has announced two security patches"), which reads as a summary.
    """
    instructions: list[str] = []
    given = ""
    for message in messages:
        if message.role == "system":
            instructions.extend(message.content.splitlines())
        elif message.role == "user":
            head, _, rest = message.content.partition("\n\n")
            instructions.extend(head.splitlines())
            given += rest
    lines = {line.strip() for line in reply.splitlines()}
    return any(
        len(line.strip()) >= ECHO_LINE_CHARACTERS and line.strip() in lines and line.strip() not in given
        for line in instructions
    )


def generate_checked(
    backend: Backend,
    messages: Sequence[Message],
    params: GenerationParams,
    validate: Validator,
    what: str,
    on_tokens: TokenProgress | None = None,
) -> Generated:
    """The validated output of the first attempt that passes; ToolError after two failures.

    The reply is streamed so ``on_tokens`` can report progress within one long
    step; the caller decides what a reply cut at ``max_tokens`` means (the
    ``finish_reason`` comes back with the text, never hidden). An attempt the
    user cancelled raises ToolError(:data:`TOOL_STOPPED`) whatever its text:
    retrying would start a second generation after the user asked to stop, and
    a partial output that happens to pass the check is not the tool's result.
    """
    if not backend.capabilities.chat_turns:  # known before generating: no reply to wait for and refuse
        raise ToolError(
            f"writing a {what} needs an instruction-tuned model; {backend.model_name} is a base model (no chat "
            "template): it continues text instead of answering"
        )
    retry = params.replace(temperature=max(params.temperature, 0.7), seed=params.seed or 1)
    attempts = [within_reach(params, backend), within_reach(retry, backend)]
    last = ""
    for attempt in attempts:
        parts: list[str] = []
        tokens = 0
        finish: FinishReason = "stop"
        for chunk in backend.stream(list(messages), attempt):
            parts.append(chunk.text)
            if chunk.token_ids:
                tokens += len(chunk.token_ids)
                if on_tokens is not None:
                    on_tokens(tokens)
            if chunk.finish_reason is not None:
                finish = chunk.finish_reason
        if finish == "cancelled":
            raise ToolError(TOOL_STOPPED)
        last = "".join(parts)
        if echoes_prompt(messages, last):  # the backstop for backends that cannot tell (plugins, servers)
            raise ToolError(
                f"the model repeated its prompt instead of writing a {what}, as a base model (one without a "
                "chat template) does; use an instruction-tuned model"
            )
        cleaned = validate(last)
        if cleaned is not None:
            return Generated(cleaned, finish)
    shown = " ".join(last.split())[:80]
    why = getattr(validate, "refused", None)
    because = f": {why}" if isinstance(why, str) and why else ""
    raise ToolError(f"the model did not produce a usable {what}{because} (twice; last output: {shown!r})")


def nonempty(text: str) -> str | None:
    """The simplest validator: any non-blank output, stripped."""
    stripped = text.strip()
    return stripped or None
