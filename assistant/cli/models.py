"""``assistant models``: list, pull, inspect, remove and choose models (references: docs/models.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .common import NAME, echo_json


def _column(value: object, width: int) -> str:
    """A header field in a column ``width`` cells wide: cut by cells, not characters.

    ``[:9]`` then ``:<9`` counted characters: a wide (CJK, emoji) architecture or
    quantization pushed the row's later columns right, and a cut could fall between an
    emoji and its joiner.
    """
    from ..terminal_text import cut_to_cells, padded

    return padded(cut_to_cells(_shown(value), width), width)


def _shown(value: object) -> str:
    """One field of ``models list``/``info``: a header's or file name's text is data, kept on its line.

    ``visible_text`` keeps newlines (right for a reply), but a newline in a GGUF's
    ``general.name`` would print a line of its own, such as a forged ``sha256:``.
    """
    from ..terminal_text import visible_text

    return visible_text(str(value)).replace("\n", "\u21b5").replace("\t", "\u21e5")


def _human_size(size: int | None) -> str:
    """A size for the SIZE column: a small file (a crafted or cut header) said "0 MB", as if empty."""
    if size is None:
        return "-"
    for unit, scale in (("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.0f} {unit}"
    return f"{size} B"


def _row_dict(row: Any, default_name: str | None) -> dict[str, Any]:
    from dataclasses import asdict

    return {
        "name": row.name,
        "aliases": list(row.aliases),
        "kind": row.kind,
        "default": row.name == default_name,
        "installed": row.installed,
        "size": row.size,
        "source": row.source,
        "revision": row.revision,
        "sha256": row.sha256,
        "date": row.date,
        "path": str(row.path),
        "description": row.description,
        "base": row.base,
        "header": asdict(row.header) if row.header else None,
    }


def _default_name() -> str | None:
    """The inventory name of the configured default model (an alias resolves to its catalog name)."""
    from ..config import default_model
    from ..errors import AssistantError
    from ..models.inventory import find_row

    try:
        return find_row(default_model()).name
    except AssistantError:
        return None


def _unlisted_default(rows: list[dict[str, Any]]) -> str | None:
    """The default model when none of ``rows`` is it (a file elsewhere, a remote, an ORG/REPO id).

    The listing's legend said "* default." with no row starred, after ``models default ../x.gguf``
    or ``default_model = "lab"``: the default looked unset.
    """
    from ..config import default_model
    from ..errors import AssistantError

    if any(row["default"] for row in rows):
        return None
    try:
        return default_model()
    except AssistantError:  # an unreadable config: the commands that use the default say why
        return None


@click.group()
def models() -> None:
    """List, pull, inspect, remove and choose models (see docs/models.md)."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_models(as_json: bool) -> None:
    """Catalog, pulled and local models, with facts from each file's GGUF header."""
    from ..models.inventory import inventory
    from ..terminal_text import padded, visible_text

    default_name = _default_name()
    rows = [_row_dict(row, default_name) for row in inventory()]
    if as_json:
        echo_json(rows)  # readable non-ASCII, null for a NaN in metadata (json.dumps wrote NaN)
        return
    click.echo(
        f"{'NAME':<36} {'SIZE':>7}  {'ARCH':<9} {'PARAMS':>6} {'QUANT':<7} {'CTX':>6} {'TMPL':<4}  SOURCE"
    )
    for row in rows:
        name = _shown(row["name"]) + (" *" if row["default"] else "")
        header = row["header"]
        if not row["installed"]:
            facts = f"{'(not downloaded)':<37}"
        elif header is None:
            facts = f"{'(not a readable GGUF)':<37}"
        else:
            from ..models.summary import HeaderSummary

            summary = HeaderSummary(**header)
            facts = (
                f"{_column(summary.architecture or '-', 9)} {summary.parameters_label:>6} "
                f"{_column(summary.quantization or '-', 7)} {summary.context_length or '-':>6} "
                f"{'yes' if summary.chat_template else 'no':<4}"
            )
        base = " (base)" if row["base"] or (header and not header["chat_template"]) else ""
        click.echo(f"{padded(name, 36)} {_human_size(row['size']):>7}  {facts}  {_shown(row['source'])}{base}")
    click.echo(
        "* default. -m takes these names, any .gguf path, hf:ORG/REPO[/FILE.gguf] or a URL (docs/models.md)."
    )
    unlisted = _unlisted_default(rows)
    if unlisted:
        click.echo(f"default: {_shown(unlisted)} (not a row above)")
    from ..config import paths
    from ..models.download import human_bytes

    for part in sorted(paths().models_dir.glob("*.gguf.part")):
        if not part.is_file() or part.stat().st_size == 0:  # a dangling link or no byte: nothing to resume
            continue
        click.echo(
            visible_text(
                f"partial download: {part.name} ({human_bytes(part.stat().st_size)}); pulling again resumes it"
            )
        )


def _terminal_progress(label: str) -> Any:
    from ..models.download import ProgressLine

    return ProgressLine(label, stream=sys.stderr)


@models.command("pull")
@click.argument("reference")
@click.option(
    "--quant", type=NAME, default=None,
    help="For hf:ORG/REPO: the quantization to pick (default: Q4_K_M first).",
)
@click.option("--force", is_flag=True, help="Fetch again even if installed.")
def pull_model(reference: str, quant: str | None, force: bool) -> None:
    """Download REFERENCE (a catalog name, hf:ORG/REPO[/FILE.gguf] or an https:// URL) and verify it.

    An interrupted pull (Ctrl-C, a lost connection) keeps its .part file; the
    same command again resumes it.
    """
    from ..errors import ModelNotFoundError
    from ..models import pull, refs
    from ..terminal_text import visible_text

    def say(message: str) -> None:
        click.echo(visible_text(message), err=True)  # quotes the hub's file names: data, not controls

    ref = refs.parse(reference, quant=quant)
    if quant is not None:  # said once, not silently dropped: it only picks among a repository's files
        if not isinstance(ref, refs.HubRepoRef):
            raise click.UsageError(
                visible_text(f"--quant picks a file of hf:ORG/REPO; {reference} names one model already")
            )
        if ref.quant is not None and ref.quant.upper() != quant.upper():
            raise click.UsageError(
                visible_text(f"--quant {quant} contradicts the reference's :{ref.quant}; give one of them")
            )
    if isinstance(ref, refs.CatalogRef):
        click.echo(visible_text(str(pull(ref.entry, progress=say, force=force))))
    elif isinstance(ref, (refs.HubFileRef, refs.HubRepoRef, refs.UrlRef)):
        click.echo(visible_text(str(refs.pull_file(ref, say, _terminal_progress, force=force).path)))
    elif isinstance(ref, refs.HubModelRef):
        from ..models.snapshots import hf_snapshot

        click.echo(visible_text(str(hf_snapshot(ref, say))))
    else:
        raise ModelNotFoundError(f"{reference} is a local file already; nothing to pull")


@models.command("path")
@click.argument("reference")
def model_path(reference: str) -> None:
    """Print where REFERENCE's file lives (a catalog model's whether or not it is installed)."""
    from ..models.inventory import find_row
    from ..terminal_text import visible_text

    click.echo(visible_text(str(find_row(reference).path)))  # a file name is data, never terminal controls


@models.command("info")
@click.argument("reference")
@click.option("--json", "as_json", is_flag=True)
def model_info(reference: str, as_json: bool) -> None:
    """What REFERENCE is, from its GGUF header (no weights loaded), and where it came from."""
    from ..errors import ModelLoadError
    from ..models.inventory import find_row, with_header
    from ..models.mode import default_mode

    row = with_header(find_row(reference))
    if row.installed and row.header is None:  # --json too: it printed "header": null, exit 0, for bad files
        from ..models.summary import summarize

        summarize(row.path)  # raises the header's own reason (truncated, corrupt, not GGUF)
        raise ModelLoadError(row.path, "not a readable GGUF file")
    data = {**_row_dict(row, _default_name()), "mode": default_mode(row.name)}
    if as_json:
        echo_json(data)
        return
    header = row.header
    lines = [
        ("name", row.name + (" (default)" if data["default"] else "")),
        ("path", str(row.path) + ("" if row.installed else " (not downloaded)")),
        ("source", row.source),
        ("size", _human_size(row.size)),
    ]
    if header is not None:
        lines += [
            ("model", header.name or "-"),
            ("architecture", header.architecture or "-"),
            (
                "parameters",
                f"{header.parameters:,} ({header.parameters_label})" if header.parameters else "-",
            ),
            ("quantization", header.quantization or "-"),
            ("context length", str(header.context_length or "-")),
            ("chat template", "yes" if header.chat_template else "no"),
        ]
    lines.append(("mode", f"{data['mode']} (override with --mode)"))
    for label, value in (("revision", row.revision), ("sha256", row.sha256), ("pulled", row.date)):
        if value:
            lines.append((label, value))
    for label, value in lines:
        click.echo(f"{label + ':':<16}{_shown(value)}")


@models.command("rm")
@click.argument("reference")
@click.option("-y", "--yes", is_flag=True, help="Do not ask.")
def remove_model(reference: str, yes: bool) -> None:
    """Delete REFERENCE's file (and any .part of it) from the models directory."""
    from ..errors import ModelError, ModelNotFoundError
    from ..models import registry
    from ..models.download import being_pulled, human_bytes, part_path, source_note
    from ..models.inventory import find_row

    if _remove_dangling_link(reference, yes):
        return
    try:
        row = find_row(reference)
    except ModelNotFoundError:
        row = _unfinished_pull(reference)
        if row is None:
            raise
    if row.kind == "file":  # the user's own file elsewhere: deleting it is not this tool's job
        from ..config import paths

        raise ModelError(
            f"{row.path} is not in the models directory ({paths().models_dir}); "
            "models rm only deletes files kept there (delete this one yourself if you mean to)"
        )
    parts = [p for p in (part_path(row.path), row.path.with_name(row.path.name + ".partial")) if p.is_file()]
    if any(being_pulled(part) for part in parts):  # deleted under it, the pull failed at its very end
        raise ModelError(
            f"{row.name} is being downloaded by another pull right now; stop it (Ctrl-C) first, then remove it"
        )
    if not row.installed and not parts:
        raise ModelNotFoundError(f"{row.name} is not downloaded; nothing to remove")
    # a link's copy is its target's (the key follows links), and the target stays: so does its copy
    converted = _converted_copy(row.path) if row.installed and not row.path.is_symlink() else None
    if row.installed and not row.path.is_symlink():  # a link goes, its target stays: a chat on it loses nothing
        from ..models.in_use import in_use_message, users_of

        copies = [path for path in converted.rglob("*") if path.is_file()] if converted is not None else []
        if users := users_of([row.path, *copies]):  # deleted under a chat: its space held, its next load fails
            raise ModelError(in_use_message(row.name, users))
    if not yes:
        size = human_bytes(row.path.stat().st_size) if row.installed else "partial download"
        _confirm_delete(row.path, f"delete {row.path} ({size})?")
    was_default = _is_configured_default(row)
    row.path.unlink(missing_ok=True)
    for part in parts:
        part.unlink(missing_ok=True)
        source_note(part).unlink(missing_ok=True)
    registry.remove(row.path.name)
    if converted is not None:  # -b transformers' float32 copy: often larger than the GGUF itself
        import shutil

        shutil.rmtree(converted, ignore_errors=True)
    from ..terminal_text import visible_text

    click.echo(visible_text(f"removed {row.name} ({row.path})"), err=True)
    if was_default:
        click.echo(
            visible_text(
                f"note: {row.name} was the default model (default_model in the config): "
                "choose another with `assistant models default NAME`, or pull it again"
            ),
            err=True,
        )


def _confirm_delete(path: Path, question: str) -> None:
    """Ask ``question`` on the terminal, or refuse in one line where there is none to ask on.

    A click usage error here printed three lines (usage, a hint, the error) for what is no misuse
    of the command, where ``history delete`` says one; the path is shown as the error lines show it.
    """
    from ..terminal_text import visible_text
    from . import fail

    if not sys.stdin.isatty():
        fail(f"refusing to delete {path} without a terminal to ask on: pass -y", code=2)  # 2: -y was left out
    click.confirm(visible_text(question), abort=True, err=True)


def _remove_dangling_link(reference: str, yes: bool) -> bool:
    """Remove REFERENCE when it is a link in the models directory that points at nothing; whether it was.

    Its target is gone, so there is no size to show and no converted copy to keep or drop.
    """
    from ..models import refs, registry
    from ..terminal_text import visible_text

    link = refs.dangling_link(reference.strip())
    if link is None:
        return False
    if not yes:
        _confirm_delete(link, f"delete the broken link {link}?")
    link.unlink(missing_ok=True)
    registry.remove(link.name)
    click.echo(visible_text(f"removed the broken link {link}"), err=True)
    return True


def _unfinished_pull(reference: str) -> Any:
    """A not-yet-pulled ``hf:ORG/REPO/FILE.gguf`` or URL whose ``.part`` is in the models directory, or None.

    ``models list`` names such a part ("pulling again resumes it"), but ``models rm``
    with the same reference said "not downloaded" and left gigabytes behind.
    """
    from ..models import refs
    from ..models.inventory import ModelRow

    ref = refs.parse(reference)
    path = refs.unfinished_file(ref) if isinstance(ref, (refs.HubFileRef, refs.UrlRef)) else None
    if path is None:
        return None
    return ModelRow(
        name=path.name, path=path, kind="pulled", installed=False, size=None, source=refs.describe(ref)
    )


def _is_configured_default(row: Any) -> bool:
    """Whether the config's ``default_model`` names ``row``: removing it leaves every command without a model."""
    from ..config import configured_model
    from ..errors import AssistantError
    from ..models.inventory import find_row

    chosen = configured_model()
    if not chosen:
        return False
    try:
        return bool(find_row(chosen).path == row.path)
    except AssistantError:
        return False


def _converted_copy(path: Any) -> Any:
    """The transformers backend's converted copy of ``path`` (a directory), if there is one.

    Found before the file is deleted: its cache key depends on the file's size
    and date. Without this, ``models rm`` would leave a copy several times the
    GGUF's size behind in the cache, with nothing left to name it by.
    """
    try:
        from ..backends.torch.convert import converted_dir
    except ImportError:
        return None
    try:
        directory = converted_dir(path)
    except OSError:
        return None
    return directory if directory.is_dir() else None


@models.command("default")
@click.argument("reference", required=False)
def model_default(reference: str | None) -> None:
    """Make REFERENCE the default model (config's default_model); without it, print the default."""
    from ..config import default_model, set_top_level

    if reference is None:
        from ..terminal_text import visible_text

        click.echo(visible_text(default_model()))  # the config file's text: data
        return
    name = _default_reference(reference)
    path = set_top_level("default_model", name)
    import os

    from ..terminal_text import visible_text

    click.echo(visible_text(f"default model: {name} (in {path})"), err=True)
    from ..models.catalog import find_entry

    override = os.environ.get("ASSISTANT_MODEL")
    same = (find_entry(override) or override) == (find_entry(name) or name) if override else True
    if not same:  # the variable wins over the config: the change seemed to do nothing
        click.echo(
            visible_text(f"note: ASSISTANT_MODEL={override} is set and overrides it where it is set"),
            err=True,
        )


def _default_reference(reference: str) -> str:
    """What to write as ``default_model`` for ``reference``; refuses what ``-m`` could not load.

    Checked here, once, without loading any weights (a GGUF file's header and tensor
    table, as ``models info`` reads them; the pull records): a default that fails is
    otherwise found by every later command. A catalog model is pulled on first use, as with ``-m``; an ``hf:``
    reference or URL must be pulled first, since the default should not start a
    download nor fail later on a repository that does not exist. An ``ORG/REPO``
    id is kept as given: it names a transformers model or a remote's model,
    which only the backend can check; so is a remote's name (``lab``, as ``default_model = "lab"``
    in docs/backends.md), which was "unknown model 'lab'" while ``lab/MODEL`` was taken.
    """
    from ..errors import ModelLoadError, ModelNotFoundError
    from ..models import refs
    from ..models.summary import summarize
    from .common import remote_backend

    if remote_backend(reference) is not None:  # -m REMOTE[/MODEL] runs on the server: nothing here to check
        return reference
    ref = refs.parse(reference)
    if isinstance(ref, refs.CatalogRef):
        return ref.entry.name
    if isinstance(ref, refs.LocalRef):
        if ref.path.is_dir():
            if not (ref.path / "config.json").is_file():  # what -b transformers needs of a directory
                raise ModelLoadError(ref.path, "a directory, but not a Hugging Face model (no config.json)")
        else:
            summarize(ref.path)  # the header's own reason: not GGUF, a header or tensor data cut short
        if refs.local_file(reference) is not None:
            return reference  # a file name in the models directory: means the same from anywhere
        return str(ref.path.resolve())  # a path: absolute, so it means the same from any directory
    if isinstance(ref, refs.HubModelRef):
        return reference
    record = refs.installed(ref)
    if record is None:
        raise ModelNotFoundError(
            f"{reference} is not downloaded; pull it first (assistant models pull {reference}), "
            "then make it the default"
        )
    summarize(record.path)
    return reference
