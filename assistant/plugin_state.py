"""What the plugin loader knows between calls: the plugin manager, failures, and where each plugin came from.

Split from :mod:`assistant.plugins` so that finding and importing plugins
(:mod:`assistant.plugin_discovery`) and calling their hooks (:mod:`assistant.plugins`)
record failures one way.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Callable

import pluggy

from .errors import AssistantError, PluginError, exception_text
from .plugin_checks import LoadProblem, plugin_line


@dataclass
class PluginFailure:
    """A plugin that could not be loaded or whose hook raised while registering."""

    name: str
    error: str
    stage: str  # "import" or the hook name
    traceback: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "stage": self.stage, "error": self.error}


@dataclass
class PluginState:
    """Everything loading plugins produced, kept by :mod:`assistant.plugins` until :func:`reset_plugins`."""

    pm: pluggy.PluginManager
    failures: list[PluginFailure] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # plugin name -> where it came from
    reported: set[str] = field(default_factory=set)
    # Set by report_failures: failures recorded later (a register_* hook raising when
    # its registry is first used, after start-up) are printed through it too.
    echo: Callable[[str], None] | None = None
    slow: dict[str, float] = field(default_factory=dict)  # plugin name -> seconds its import took, when slow
    printed: set[str] = field(default_factory=set)  # lines plugins printed, shown once (see _plugin_output)


def strict_plugins() -> bool:
    """``ASSISTANT_STRICT_PLUGINS``, read as every on/off variable is (``=off`` was strict)."""
    from .option_values import env_switch

    return env_switch("ASSISTANT_STRICT_PLUGINS")


def record_failure(state: PluginState, name: str, stage: str, exc: BaseException) -> None:
    """Record a plugin's failure once (raised instead under ``ASSISTANT_STRICT_PLUGINS``): a broken
    plugin is reported by name and skipped, never allowed to stop the command."""
    # Our own errors say what went wrong in words; a plugin's bug keeps its exception's name.
    said = isinstance(exc, (LoadProblem, AssistantError)) and exception_text(exc)
    error = plugin_line(said or f"{type(exc).__name__}: {exception_text(exc)}")
    if strict_plugins():
        raise PluginError(name, error) from exc
    if any(f.name == name and f.stage == stage and f.error == error for f in state.failures):
        return  # the same hook called again (each registry call runs it)
    state.failures.append(
        PluginFailure(name=name, stage=stage, error=error, traceback="".join(traceback.format_exception(exc)))
    )

