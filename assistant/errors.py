"""The assistant's exception tree.

Every error a user can cause or meet derives from :class:`AssistantError`, so the
CLI and the TUI can catch one type at their boundary and print a one-line
message (``str(err)``), while tests let them propagate. Modelled on httpx's
``_exceptions.py``: a small, flat tree where the class says *what* went wrong
and the message says *where*.

    AssistantError
    ├── ConfigError            bad config file / option value
    ├── PluginError            a plugin failed to import or register
    ├── ModelError
    │   ├── ModelNotFoundError unknown catalog name or missing file
    │   ├── ModelLoadError     file exists but cannot be loaded (not GGUF, truncated…)
    │   └── ModelFetchError    download / checksum failure
    ├── BackendError           engine-level failure (CUDA OOM, server error…)
    │   ├── BackendNotFoundError
    │   ├── ContextOverflowError prompt does not fit the context window
    │   ├── NotSupportedError  feature the backend cannot provide
    │   ├── RemoteError        network / HTTP failure of a remote backend
    │   └── EngineStartError   the chat app's engine process could not start
    ├── TemplateError          prompt template problems
    ├── ToolError              a tool could not produce a valid result
    ├── HistoryError           conversation database problems
    └── OutputError            results could not be written where they were asked to go
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base class of every error the assistant raises on purpose."""


class ConfigError(AssistantError):
    """The configuration file or a command-line option has a bad value."""


class PluginError(AssistantError):
    """A plugin could not be imported or registered."""

    def __init__(self, plugin: str, error: BaseException | str) -> None:
        self.plugin = plugin
        self.error = error
        super().__init__(f"plugin {plugin!r} failed: {error}")


class ModelError(AssistantError):
    """Base class for problems with a model file or catalog entry."""


class ModelNotFoundError(ModelError):
    """The model name is not in the catalog and is not a path to a file."""


class ModelLoadError(ModelError):
    """A model file exists but cannot be loaded (not GGUF, truncated, wrong arch)."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot load model {self.path}: {reason}")


class ModelFetchError(ModelError):
    """Every source for a catalog model failed (network, checksum, registry)."""


class BackendError(AssistantError):
    """The inference engine failed while loading or generating."""


class BackendNotFoundError(BackendError):
    """No backend is registered under the requested name."""


class ContextOverflowError(BackendError):
    """The prompt (with a given continuation, if any) needs more tokens than the model's context window holds.

    ``continuation_tokens``: the tokens of a given reply to follow the prompt (a reply being scored
    or looked into), counted apart: "prompt is 742 tokens" for a 700-token prompt and a 42-token reply named a
    prompt that did not exist, and the reader could not tell which part to blame.
    """

    def __init__(
        self,
        prompt_tokens: int,
        context_length: int,
        *,
        at_least: bool = False,
        what: str = "prompt",
        continuation_tokens: int = 0,
    ) -> None:
        self.prompt_tokens = prompt_tokens
        """The prompt's tokens, or with ``at_least`` a lower bound (only a part of it was counted)."""
        self.continuation_tokens = continuation_tokens
        """The given reply's tokens that did not fit after the prompt; 0: no reply was given."""
        self.context_length = context_length
        if continuation_tokens:
            super().__init__(
                f"the prompt ({_tokens(prompt_tokens)}) and the reply ({_tokens(continuation_tokens)}) "
                f"do not fit the {context_length}-token context window; raise n_ctx"
            )
            return
        # A prompt exactly as long as the window overflows too (no room for the next token): "16 tokens but the
        # context window is 16 tokens" read as if it fitted.
        full = " and leaves no room for the next token" if prompt_tokens == context_length and not at_least else ""
        super().__init__(  # ``what``: the text that overflowed ("prompt with the candidate '…'" when scoring)
            f"{what} is {'at least ' if at_least else ''}{_tokens(prompt_tokens)} but the context window is "
            f"{_tokens(context_length)}{full}; shorten the input or raise n_ctx"
        )


def _tokens(count: int) -> str:
    return f"{count} token" if count == 1 else f"{count} tokens"


class NotSupportedError(BackendError):
    """The backend cannot provide this feature (e.g. ``score`` on a remote server)."""


class RemoteError(BackendError):
    """A remote backend's server could not be reached or answered with an error."""


class EngineStartError(BackendError):
    """The engine process (the chat app's model in a process of its own) did not start.

    Raised before any model is loaded, so the caller can load it in its own
    process instead (a frozen app whose executable cannot run ``-m``).
    """


class TemplateError(AssistantError):
    """A prompt template is missing, malformed, unsafe, or lacks variables."""


class ToolError(AssistantError):
    """A tool could not produce a valid result from the model's output."""


class HistoryError(AssistantError):
    """The conversation database cannot be opened, written or queried."""


class OutputError(AssistantError):
    """Results could not be written where they were asked to go (no such directory, no permission, a full disk)."""


def exception_text(exc: BaseException) -> str:
    """``str(exc)``, or a stand-in when a plugin's exception cannot say what it is.

    An exception class whose ``__str__`` raises, or returns something other than text,
    made the report itself raise: the plugin that was to be skipped stopped every command
    with a traceback. For every message quoting a plugin's exception.
    """
    try:
        return str(exc)
    except Exception as problem:  # noqa: BLE001 - the plugin's code, running inside our report
        return f"(its message could not be shown: {type(problem).__name__})"
