"""A template's few-shot examples given as a file (``examples: NAME.jsonl``): found, confined, parsed.

Split from :mod:`.loader`: the file is untrusted data beside the template, so
where it may be and how a bad one is reported (its line, for an editor) are this
module's whole job.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from ..errors import TemplateError
from ..text_checks import RepeatedKey, invalid_unicode_in, refuse_repeated_keys
from .search import read_template_text
from .spec import Variable, check_examples
from .yaml_data import load_yaml, yaml_problem

EXAMPLE_SUFFIXES = (".jsonl", ".yaml", ".yml", ".json")


def load_examples(
    where: str, raw: Any, path: Path, variables: list[Variable]
) -> tuple[list[dict[str, Any]], tuple[Path, ...]]:
    if raw is None:
        return [], ()
    if isinstance(raw, list):
        return check_examples(where, raw, variables), ()
    if not isinstance(raw, str):
        raise TemplateError(f"{where}: 'examples' must be a list or a file name (YAML or JSONL)")
    file = _examples_path(where, raw, path)
    try:
        text = read_template_text(file, "examples file")
    except TemplateError as exc:
        raise TemplateError(f"{where}: {exc}") from None
    items, lines = _parse_examples_file(file, text)
    return check_examples(f"{where} ({file.name})", items, variables, lines), (file,)


def _examples_path(where: str, raw: str, path: Path) -> Path:
    """The examples file ``raw`` names, confined to the template's own directory.

    A shared template must not pull ``~/.aws/credentials.json`` or
    ``../../secrets.yaml`` into a prompt that may go to a remote server, so the
    name is relative to the template's directory and, symbolic links resolved,
    must stay inside it (``{% include %}`` is confined to the search path the
    same way). The suffix is checked before anything is opened.
    """
    if os.path.isabs(raw) or raw.startswith("~") or Path(raw).drive:
        raise TemplateError(
            f"{where}: examples file {raw!r} must be a path relative to the template's directory"
        )
    if Path(raw).suffix not in EXAMPLE_SUFFIXES:
        raise TemplateError(f"{where}: examples files must be {', '.join(EXAMPLE_SUFFIXES)}, not {raw!r}")
    home = Path(os.path.realpath(os.path.abspath(path.parent)))
    file = Path(os.path.realpath(home / raw))
    if not file.is_relative_to(home):
        raise TemplateError(f"{where}: examples file {raw!r} is outside the template's directory {home}")
    if file.suffix not in EXAMPLE_SUFFIXES:  # a link inside the directory to some other kind of file
        kinds = "/".join(EXAMPLE_SUFFIXES)
        raise TemplateError(f"{where}: examples file {raw!r} leads to {file.name}, not a {kinds} file")
    return file


def _parse_examples_file(file: Path, text: str) -> tuple[list[Any], list[int] | None]:
    """The examples a file holds, and for JSON Lines each one's line (blank lines are skipped,
    so "example #2" may be on line 3: the line is what to look for in an editor)."""
    if file.suffix == ".jsonl":
        items = []
        lines: list[int] = []
        # The one JSON Lines splitter (U+2028 stays inside its row), and the batch rows' strict reading of
        # a line: Python's reader took NaN (the example rendered "nan"), 1e400 (rendered "Infinity") and a
        # key given twice ({"input": "a", "input": "c"} kept "c" without a word), none of which a batch row takes.
        from ..batch.rows import _finite_float, _no_constant, _whole_number, jsonl_lines

        for number, line in enumerate(jsonl_lines(text), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(
                    line,
                    parse_constant=_no_constant,
                    parse_float=_finite_float,
                    parse_int=_whole_number,
                    object_pairs_hook=refuse_repeated_keys,
                )
            except json.JSONDecodeError as exc:
                raise TemplateError(f"{file}:{number}: invalid JSON: {exc.msg}") from None
            except RecursionError:
                raise TemplateError(f"{file}:{number}: invalid JSON: nested too deeply") from None
            except RepeatedKey as exc:
                raise TemplateError(f"{file}:{number}: the key {exc.key!r} is given twice; give it once") from None
            except ValueError as exc:  # NaN / Infinity, 1e400, a number of thousands of digits
                raise TemplateError(f"{file}:{number}: invalid JSON: {exc}") from None
            # JSON may spell a lone surrogate ("\ud800"): no tokenizer or hash can take it,
            # so it is refused here, at its line, not as a traceback when the prompt is sent.
            problem = invalid_unicode_in(item)
            if problem:
                raise TemplateError(f"{file}:{number}: not valid Unicode ({problem})")
            items.append(item)
            lines.append(number)
        if not items:
            raise TemplateError(f"{file}: the examples file holds no examples")
        return items, lines
    try:  # .yaml, .yml, .json (the suffix was checked before reading)
        data = load_yaml(text, str(file))
    except yaml.YAMLError as exc:
        line, problem = yaml_problem(exc)
        kind = "JSON" if file.suffix == ".json" else "YAML"  # JSON is read as the YAML it also is
        raise TemplateError(f"{file}{line}: invalid {kind}: {problem}") from None
    if not isinstance(data, list):
        raise TemplateError(f"{file}: an examples file must hold a list")
    if not data:
        raise TemplateError(f"{file}: the examples file holds no examples")
    return data, None

