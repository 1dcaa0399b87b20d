"""Introspection commands: ``backends``, ``plugins`` and ``config``."""

from __future__ import annotations

from typing import Any

import click

from ..terminal_text import json_text, one_line
from .common import echo_json, echo_untrusted


@click.command()
@click.option("--json", "as_json", is_flag=True)
def backends(as_json: bool) -> None:
    """List registered backends and the plugin providing each."""
    from ..backends import available_backends
    from ..config import default_backend, default_backend_source

    found = available_backends()
    default = default_backend()
    source = default_backend_source()
    if default not in found and source is not None:
        # `default_backend = "lama-cpp"` listed every backend with none marked default, and no word of why
        warning = f"warning: the default backend {default!r}, set by {source}, is not registered"
        echo_untrusted(warning, err=True)
    if as_json:
        echo_json(
            [
                {"name": b.name, "description": b.description, "plugin": b.plugin, "default": b.name == default}
                for b in found.values()
            ]
        )
        return
    for info in found.values():
        mark = " (default)" if info.name == default else ""
        echo_untrusted(f"{info.name}{mark}: {_first_line(info.description)}  [{one_line(info.plugin)}]")


def _first_line(description: str) -> str:
    """A plugin's description as the one line a listing has room for (a tool's is cut the same way)."""
    lines = description.strip().splitlines()
    return one_line(lines[0]) if lines else ""


@click.command()
@click.option("--json", "as_json", is_flag=True)
def plugins(as_json: bool) -> None:
    """List loaded plugins, the hooks they implement, and plugins that failed."""
    from ..backends import available_backends
    from ..errors import AssistantError
    from ..plugin_output import slow_import_note
    from ..plugins import list_plugins, plugin_failures
    from ..templates.loader import template_dirs
    from ..tools import available_tools

    # Run every registration hook, so a hook that raises is listed here too
    # (register_commands already ran when the CLI resolved this command).
    available_backends()
    available_tools()
    try:
        template_dirs()
    except AssistantError:  # an unreadable config (it names the user's templates folder):
        pass  # the commands that read it say why
    loaded = list_plugins()
    failures = [f.to_dict() for f in plugin_failures()]
    if as_json:
        echo_json({"plugins": loaded, "failures": failures})
        return
    # one_line: a name can be a plugin_dirs entry or an ASSISTANT_PLUGINS word holding a line break
    for plugin in loaded:
        echo_untrusted(f"{one_line(plugin['name'])}  ({one_line(plugin['source'])})")
        if "import_s" in plugin:
            echo_untrusted(f"  SLOW: {slow_import_note(plugin['import_s'])}")
        for hook in plugin["hooks"]:
            echo_untrusted(f"    {one_line(hook)}")
    for failure in failures:
        echo_untrusted(f"FAILED {one_line(failure['name'])} ({failure['stage']}): {failure['error']}")


@click.group()
def config() -> None:
    """Show where the config lives and what it says."""


@config.command("path")
def config_path() -> None:
    """Print the config file's path."""
    from ..config import paths
    from ..terminal_text import visible_text

    # a path is data (ASSISTANT_HOME can hold anything): on a terminal an escape in it acted, and in a
    # pipe click dropped it, printing a path that does not exist
    click.echo(visible_text(str(paths().config_file)))


SECRET_WORDS = ("key", "token", "secret", "password", "passwd", "authorization", "credential", "cookie")
"""Words in a config key's name that mark its value a credential: ``config show`` masks it.

Not only ``api_key``: an unknown key is kept in the parsed config (a typo, ``api-key``, or a
``token`` or ``headers.Authorization`` the user expected to work) and was printed as it is into
the output people paste into bug reports. A key that names an environment variable
(``api_key_env``) holds no secret and stays readable."""


def _secret_key(key: str) -> bool:
    """Whether ``key`` names a credential (:data:`SECRET_WORDS`); a sampling parameter's name never does.

    ``max_tokens`` (the reply length, set in a ``[params]`` table) holds the word ``token``, and
    ``config show`` printed it as ``***``: the one setting people check was hidden.
    """
    import dataclasses

    from ..types import GenerationParams

    name = key.lower().replace("-", "_")
    if name.endswith("_env") or name in {f.name for f in dataclasses.fields(GenerationParams)}:
        return False
    return any(word in name for word in SECRET_WORDS)


def _without_secrets(value: Any, key: str = "") -> Any:
    """The parsed config with API keys shown as ``***`` and a base URL's ``user:password@`` as ``***@``.

    ``config show`` is what people paste into bug reports.
    """
    if _secret_key(key) and value:  # a table too (`[remotes.lab.credentials]`): nothing under it shown
        return "***"
    if isinstance(value, dict):
        return {k: _without_secrets(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secrets(v, key) for v in value]
    if key == "base_url" and isinstance(value, str):
        from ..backends.openai.http import redact_url

        return redact_url(value)
    return value


@config.command("show")
def config_show() -> None:
    """Print the directories in use and the parsed config."""
    from ..config import load_config, paths

    p = paths()
    # json_text, not json.dumps: "Réponds en français" stays readable (it was "R\u00e9ponds"),
    # and what a terminal would act on is still escaped. TOML dates have no JSON type: str.
    click.echo(
        json_text(
            {
                "config_file": str(p.config_file),
                "data_dir": str(p.data_dir),
                "cache_dir": str(p.cache_dir),
                "config": _without_secrets(load_config()),
            },
            indent=2,
            default=str,
        )
    )
