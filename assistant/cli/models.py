"""``assistant models``: the catalog, pulling and locating model files."""

from __future__ import annotations

import json

import click


def _human_size(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


@click.group()
def models() -> None:
    """List, pull and locate models."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_models(as_json: bool) -> None:
    """Catalog models: name, size, source, installed?, path."""
    from ..models import CATALOG, DEFAULT_MODEL

    rows = []
    for entry in CATALOG:
        rows.append(
            {
                "name": entry.name,
                "aliases": list(entry.aliases),
                "default": entry.name == DEFAULT_MODEL,
                "size": entry.size,
                "source": entry.sources[-1].describe(),
                "installed": entry.installed,
                "path": str(entry.path),
                "description": entry.description,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    header = f"{'NAME':<24} {'SIZE':>7}  {'INSTALLED':<9}  {'SOURCE':<44} PATH"
    click.echo(header)
    for row in rows:
        name = row["name"] + (" *" if row["default"] else "")
        click.echo(
            f"{name:<24} {_human_size(row['size']):>7}  {'yes' if row['installed'] else 'no':<9}  "
            f"{row['source'][:44]:<44} {row['path']}"
        )
    click.echo("* default. Any local .gguf path also works with -m.")


@models.command("pull")
@click.argument("name")
@click.option("--force", is_flag=True, help="Fetch again even if installed.")
def pull_model(name: str, force: bool) -> None:
    """Download NAME from its sources and verify its sha256."""
    from ..models import get_entry, pull

    path = pull(get_entry(name), progress=lambda msg: click.echo(msg, err=True), force=force)
    click.echo(str(path))


@models.command("path")
@click.argument("name")
def model_path(name: str) -> None:
    """Print where NAME's file lives (whether or not it is installed)."""
    from ..models import get_entry

    click.echo(str(get_entry(name).path))
