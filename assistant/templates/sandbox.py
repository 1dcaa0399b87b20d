"""The Jinja environment templates render in, and how Jinja's errors become ours.

Templates come from the user, from plugins and from files people share (prompt
templates, and the chat templates inside GGUF files), so they are untrusted
code. They render in Jinja's :class:`ImmutableSandboxedEnvironment` (no private
attributes, no ``str.format`` escapes, no mutating lists or dicts). Prompt
templates add :class:`StrictUndefined` (a misspelt variable is an error, never
an empty string).

On top of the sandbox this module bounds what a template can *allocate*, not
only what it outputs: every operation that can make a value much larger than
its inputs — repetition (``*``), padding and widths (``center``, ``ljust``,
``zfill``, ``expandtabs``, ``'{:>N}'.format``, ``'%*s'|format``), ``replace``,
``join``, ``~``, ``indent``, ``batch``… — estimates its result size first and is
refused past the allocation limit (:data:`MAX_RENDERED_CHARS`, or more for a
chat template fed a long conversation). Values are measured with
:func:`value_size`, which counts a list of references to one big string as big,
so ``[s] * 1000`` cannot be turned into a gigabyte by printing or joining it.
The rendered output is capped as well (:func:`render_bounded`).

Nor can a template run for ever: every loop iteration and every call (macros, methods,
``loop()`` of a recursive loop) is one step, so is the work done on large values
(:func:`_charge`: measuring, comparing and slicing them, routed here by
:mod:`.compiler`), and a render that passes :data:`MAX_RENDER_STEPS` is stopped with a
:class:`RenderLimitError`. Jinja has no ``while``, but nested ``range`` loops or a macro
calling itself twice make 10^10 steps out of one line, and a template that prints
nothing is never stopped by the output cap; the chat app renders templates to show the
prompt, so one such template froze it with no key left to press. Steps are counted, not
timed, so the limit is the same on every machine.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re
from typing import Any, Callable, Iterable, Iterator, Mapping

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter, SecurityError
from markupsafe import Markup

from ..errors import TemplateError
from .compiler import BoundedCodeGenerator

MAX_RENDERED_CHARS = 1_000_000
"""Rendered prompts longer than this are refused (≈250k tokens, past any local model's window)."""

_MAX_POWER_BITS = 4096
_MAX_PRODUCT_BITS = 1 << 16
"""Integers a template multiplies may not grow past this many bits (each doubling of digits is cheap to ask for)."""

_allocation_limit: contextvars.ContextVar[int] = contextvars.ContextVar(
    "template_allocation_limit", default=MAX_RENDERED_CHARS
)
"""Largest value (in characters, see :func:`value_size`) one operation may build in the running render."""

MAX_RENDER_STEPS = 1_000_000
"""Steps of work one render may do (about a second): a loop iteration or a call is one, measuring
a value one per item, reading or building text one per :data:`CHARS_PER_STEP` characters.
A chat template over thousands of messages takes well under a million."""

CHARS_PER_STEP = 1000
"""Characters of text read or built that count as one step (upper-casing 1,000 characters
costs about what one loop iteration does)."""


class _Steps:
    """What is left of the running render's step budget (mutable: one object per render)."""

    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left


_steps: contextvars.ContextVar[_Steps | None] = contextvars.ContextVar("template_steps", default=None)
"""The running render's step budget (None outside :func:`render_bounded`: nothing is counted)."""


def _charge(steps: int) -> None:
    """Take ``steps`` from the running render's budget; past it, the render is stopped.

    Counting loop iterations and calls alone is not enough: one iteration can
    measure a 100,000-item list or upper-case a megabyte, so a loop of a few
    thousand did minutes of work. What each operation reads or builds is
    charged too, so the budget bounds the work, not only the steps.
    """
    budget = _steps.get()
    if budget is not None and steps:
        budget.left -= steps
        if budget.left < 0:
            raise RenderLimitError(
                f"the template did more than {MAX_RENDER_STEPS:,} steps of work (loop iterations, calls, "
                "and reading or building large values): a loop or recursion that does not end?"
            )


class RenderLimitError(TemplateError):
    """A template tried to allocate, or to work, more than the sandbox allows."""


class OutputLimitError(RenderLimitError):
    """The rendered text passed its size cap."""


class UncalledError(TemplateError):
    """A prompt template wrote a function or a class (``{{ input.upper }}``) where it meant its result."""


# ---- measuring values -----------------------------------------------------------------


def value_size(value: Any, budget: int | None = None) -> int:
    """About how many characters ``str(value)`` would take, without building it.

    Containers count their items (a list holding one big string 1000 times is
    1000 times as big), each item at least one character; counting stops as soon
    as ``budget`` is passed, so measuring a huge value costs at most ``budget``
    steps. Objects of other types count as a few characters: templates can only
    reach the small ones (Jinja's helpers, undefined values).
    """
    limit = budget if budget is not None else _allocation_limit.get()
    total = 0
    stack = [value]
    popped = 0
    while stack and total <= limit:
        item = stack.pop()
        popped += 1
        if isinstance(item, (str, bytes)):
            total += len(item)
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, float):
            total += 24
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + len(item)
            stack.extend(item)
        elif isinstance(item, dict):
            total += 2 + 2 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        else:
            total += 8
    _charge(popped)  # measuring is work too: a big list measured in a loop was minutes of it
    return total


def read_cost(value: Any) -> int:
    """Steps charged for scanning ``value`` once (a comparison, ``in``): a step per
    :data:`CHARS_PER_STEP` characters of text, a step per item of a list or tuple
    (each item is compared in turn). Mappings and sets are looked up by hash, and
    other values are small, so they cost nothing here."""
    if isinstance(value, (str, bytes)):
        return len(value) // CHARS_PER_STEP
    if isinstance(value, (list, tuple)):
        return len(value)
    return 0


def _refuse_past(size: int, what: str) -> None:
    """Refuse an operation whose result would pass the allocation limit; charge its size as work."""
    limit = _allocation_limit.get()
    if size > limit:
        raise RenderLimitError(f"{what} would build {size:,} characters (limit {limit:,})")
    _charge(size // CHARS_PER_STEP)


def _check_arguments(args: Iterable[Any], what: str) -> None:
    limit = _allocation_limit.get()
    for arg in args:
        size = value_size(arg, limit)
        if size > limit:
            raise RenderLimitError(f"{what}: a value of {size:,}+ characters is too large (limit {limit:,})")
        _charge(size // CHARS_PER_STEP)  # the operation reads it


# ---- size estimates of the operations that can amplify ----------------------------------

_PRINTF = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?(?P<flags>[-#0 +]*)(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d*))?[hlL]?(?P<kind>.)",
    re.DOTALL,
)


def _number_size(value: Any, kind: str, precision: int) -> int:
    if kind in "sra":
        size = value_size(value)
        return min(size, precision) if precision >= 0 and kind == "s" else size
    if isinstance(value, int):
        return value.bit_length() // 3 + 2 + max(precision, 0)
    return 330 + max(precision, 0)  # %f of 1e308 has 309 digits


def printf_size(fmt: Any, args: Any) -> int:
    """Upper bound of ``len(fmt % args)``, reading ``*`` widths from ``args`` like Python does."""
    if not isinstance(fmt, str):
        return 0
    if isinstance(args, tuple):
        positional: list[Any] = list(args)
    else:
        positional = [args]
    mapping = args if isinstance(args, Mapping) else None
    total = len(fmt)
    for match in _PRINTF.finditer(fmt):
        if match.group("kind") == "%":
            continue
        numbers = []
        for part in ("width", "precision"):
            text = match.group(part)
            if text == "*":
                star = positional.pop(0) if positional else 0
                numbers.append(abs(star) if isinstance(star, int) else 0)
            else:
                numbers.append(int(text) if text else (-1 if part == "precision" else 0))
        width, precision = numbers
        _refuse_past(width, "a %-format width")
        _refuse_past(precision, "a %-format precision")
        if match.group("key") is not None and mapping is not None:
            value = mapping.get(match.group("key"))
        else:
            value = positional.pop(0) if positional else None
        total += max(width, _number_size(value, match.group("kind"), precision))
        _refuse_past(total, "% formatting")
    return total


_SPEC = re.compile(r"(?:.?[<>=^])?[-+ ]?z?#?0?(?P<width>\d*)[_,]?(?:\.(?P<precision>\d+))?")


def format_spec_size(value: Any, spec: str) -> int:
    """Upper bound of ``len(format(value, spec))`` (the format mini-language's width and precision)."""
    match = _SPEC.match(spec)
    width = int(match.group("width") or 0) if match else 0
    precision = int(match.group("precision") or -1) if match and match.group("precision") else -1
    _refuse_past(width, "a format width")
    _refuse_past(precision, "a format precision")
    kind = "s" if isinstance(value, str) else "f"
    return max(width, _number_size(value, kind, precision), len(spec))


def _replace_size(text: Any, old: Any, new: Any, count: Any = -1) -> int:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return value_size(text)
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new) - len(old), 0)


def _join_size(separator: Any, items: list[Any]) -> int:
    return value_size(items) + value_size(separator) * max(len(items) - 1, 0)


def _width(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# str/bytes methods that can return much more than they are given: name -> size of the result
_METHOD_SIZES: dict[str, Callable[..., int]] = {
    "center": lambda s, width=0, *_: max(len(s), _width(width)),
    "ljust": lambda s, width=0, *_: max(len(s), _width(width)),
    "rjust": lambda s, width=0, *_: max(len(s), _width(width)),
    "zfill": lambda s, width=0: max(len(s), _width(width)),
    "expandtabs": lambda s, tabsize=8: len(s) + s.count("\t" if isinstance(s, str) else b"\t") * _width(tabsize),
    "replace": lambda s, old="", new="", count=-1: _replace_size(s, old, new, count),
    "join": lambda s, items=(): _join_size(s, list(items)),
    "translate": lambda s, table=None: len(s) * max([value_size(v) for v in table.values()] + [1])
    if isinstance(table, dict)
    else len(s),
}


def _method_size(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | None:
    owner = getattr(method, "__self__", None)
    estimate = _METHOD_SIZES.get(getattr(method, "__name__", ""))
    if estimate is None or not isinstance(owner, (str, bytes)):
        return None
    try:
        return estimate(owner, *args, **kwargs)
    except TypeError:
        return None  # wrong arguments: let the method itself say so


def _indent_size(s: Any, width: Any = 4, *_: Any, **__: Any) -> int:
    text = str(s) if isinstance(s, str) else ""
    unit = len(width) if isinstance(width, str) else _width(width)
    return len(text) + (text.count("\n") + 1) * unit


def _wordwrap_size(s: Any, width: Any = 79, break_long_words: Any = True, wrapstring: Any = None, *_: Any, **kw: Any) -> int:
    wrapstring = kw.get("wrapstring", wrapstring)
    text = s if isinstance(s, str) else ""
    return len(text) * (1 + (len(wrapstring) if isinstance(wrapstring, str) else 1))


def _count_size(value: Any, count: Any = 0, *_: Any, **__: Any) -> int:
    return value_size(value) + _width(count)


def _sum_size(iterable: Any, attribute: Any = None, start: Any = 0, **kw: Any) -> int:
    return value_size(iterable) + value_size(kw.get("start", start))


# Filters whose output can be much larger than their input: name -> size of the result.
# Every filter also refuses inputs past the limit (see _bounded_filter).
_FILTER_SIZES: dict[str, Callable[..., int]] = {
    "center": lambda value, width=80, **_: max(value_size(value), _width(width)),
    "indent": _indent_size,
    "format": lambda value, *args, **kwargs: printf_size(value, kwargs or tuple(args)),
    "replace": lambda s, old="", new="", count=None, **_: _replace_size(s, old, new, -1 if count is None else count),
    "wordwrap": _wordwrap_size,
    "batch": _count_size,  # fill_with pads up to linecount items
    "slice": _count_size,  # one list per slice
    "sum": _sum_size,
}


_UNMEASURED_FILTERS = frozenset({"length", "count", "first", "last", "default", "d", "attr", "abs", "round"})
"""Filters that neither build a value nor read more of their input than one item: measuring
their input would be the only work they do (``messages|length`` in a chat template's loop)."""


_COMPARING_TESTS = frozenset(
    {"in", "==", "eq", "equalto", "!=", "ne", "<", "lt", "lessthan", "<=", "le", ">", "gt", "greaterthan", ">=", "ge"}
)
"""Tests that compare or scan their arguments (``x is in y``): charged as the operators are."""


def _charged_test(tests: dict[str, Callable[..., Any]], name: str) -> None:
    original = tests[name]

    @functools.wraps(original)
    def charged(*args: Any, **kwargs: Any) -> Any:
        _charge(sum(map(read_cost, args)))
        return original(*args, **kwargs)

    tests[name] = charged


def _bounded_filter(filters: dict[str, Callable[..., Any]], name: str) -> None:
    original = filters[name]
    passes_context = hasattr(original, "jinja_pass_arg")
    estimate = _FILTER_SIZES.get(name)
    if name in _UNMEASURED_FILTERS:
        return

    @functools.wraps(original)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        head, user = (args[:1], list(args[1:])) if passes_context else ((), list(args))
        if name == "join" and user and not isinstance(user[0], (str, list, tuple)):
            user[0] = list(user[0])  # measure a generator's items before joining them
        _check_arguments([*user, *kwargs.values()], f"|{name}")
        if estimate is not None:
            _refuse_past(estimate(*user, **kwargs), f"|{name}")
        elif name == "join" and user:
            separator = user[1] if len(user) > 1 else kwargs.get("d", "")
            _refuse_past(_join_size(separator, list(user[0])), "|join")
        return original(*head, *user, **kwargs)

    filters[name] = bounded


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` in the sandbox, adding up the fields' sizes before each is formatted."""

    def __init__(self, env: jinja2.Environment) -> None:
        super().__init__(env)
        self._size = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        self._size += format_spec_size(value, format_spec)
        _refuse_past(self._size, "str.format")
        return super().format_field(value, format_spec)

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        self._size = len(format_string)
        return super().vformat(format_string, args, kwargs)


class PromptSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus size limits on everything that can allocate without bound."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = BoundedCodeGenerator

    @property
    def max_chars(self) -> int:
        """The allocation limit of the render in progress (:data:`MAX_RENDERED_CHARS` outside one)."""
        return _allocation_limit.get()

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        """Fail at once (Jinja would return an Undefined that fails later, less clearly)."""
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, (str, bytes, list, tuple)) and isinstance(count, int) and count > 0:
                    _refuse_past(value_size(seq) * count, "repetition")
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > _MAX_PRODUCT_BITS:
                    raise RenderLimitError(f"a product of numbers that large is not computed (limit {_MAX_PRODUCT_BITS:,} bits)")
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and abs(left) > 1:
                if right * max(left.bit_length(), 1) > _MAX_POWER_BITS:
                    raise RenderLimitError(f"{left} ** {right} is too large to compute (limit {_MAX_POWER_BITS:,} bits)")
        elif operator == "%":
            _refuse_past(printf_size(left, right), "% formatting")
        elif operator == "+":
            if isinstance(left, (str, bytes, list, tuple)) and isinstance(right, (str, bytes, list, tuple)):
                _refuse_past(value_size(left) + value_size(right), "concatenation")
        return super().call_binop(context, operator, left, right)

    def step(self) -> None:
        """Count one loop iteration or call against the running render's :data:`MAX_RENDER_STEPS`."""
        _charge(1)

    def read_operand(self, value: Any) -> Any:
        """An operand of a comparison or membership test, charged for the scan it may take; returned as is."""
        _charge(read_cost(value))
        return value

    def slice_bounded(self, value: Any, start: Any, stop: Any, step: Any) -> Any:
        """``value[start:stop:step]``, charged as :func:`read_cost` charges what it copies."""
        part = slice(start, stop, step)
        if isinstance(value, (str, bytes, list, tuple)):
            with contextlib.suppress(TypeError, ValueError):  # bad bounds: the subscript says so below
                copied = len(range(*part.indices(len(value))))
                _charge(copied if isinstance(value, (list, tuple)) else copied // CHARS_PER_STEP)
        return value[part]

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        __self.step()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, (str, bytes)):
            _charge(len(owner) // CHARS_PER_STEP)  # a str method reads the whole string
        size = _method_size(__obj, args, kwargs)
        if size is not None:
            _refuse_past(size, f"str.{__obj.__name__}")
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format``/``format_map`` through :class:`_BoundedFormatter` (Jinja's own wrapper, with sizes)."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None or isinstance(value.__self__, Markup):
            return wrapped
        text: str = value.__self__
        is_map = value.__name__ == "format_map"

        @functools.wraps(value)
        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    return wrapped(*args, **kwargs)  # Jinja's wrapper raises the right TypeError
                args, kwargs = (), args[0]
            return _BoundedFormatter(self).vformat(text, args, kwargs)

        return bounded

    def join_bounded(self, pieces: tuple[Any, ...]) -> str:
        """``a ~ b ~ …``: measured first, then joined."""
        _refuse_past(sum(value_size(piece) for piece in pieces), "~ concatenation")
        return "".join(map(str, pieces))

    def concat(self, pieces: Iterable[str]) -> str:  # type: ignore[override]
        """Joins captured output (``{% set %}`` blocks, macros, ``{% filter %}``) after measuring it."""
        items = pieces if isinstance(pieces, list) else list(pieces)
        _refuse_past(sum(map(len, items)), "captured output")
        return "".join(items)

    def finalize_bounded(self, value: Any) -> Any:
        """Every ``{{ value }}``: measured before it is turned into text."""
        if not isinstance(value, str):
            _check_arguments([value], "output")
        return value

    def finalize_prompt_value(self, value: Any) -> Any:
        """Every ``{{ value }}`` of a prompt template: measured, and refused if it is a function or a class.

        ``{{ input.upper }}`` (the ``()`` forgotten) or ``{{ range }}`` wrote Python's
        ``<built-in method upper of str object at 0x7f…>`` into the prompt: a memory address
        sent to the model (a server's too), and a prompt, and so its hash, that changed from
        run to run. Nothing a prompt means is callable.
        """
        # (Undefined is callable too: an inline ``x if cond`` without else writes Jinja's empty one)
        if callable(value) and not isinstance(value, (str, jinja2.Undefined)):
            kind = "class" if isinstance(value, type) else "function"
            name = getattr(value, "__qualname__", None) or getattr(value, "name", None) or type(value).__name__
            raise UncalledError(f"{{{{ … }}}} writes the {kind} {name!s} itself, not a value; add () to call it")
        return self.finalize_bounded(value)


_JINJA_SETTINGS: dict[str, Any] = {"trim_blocks": True, "lstrip_blocks": True, "extensions": ["jinja2.ext.loopcontrols"]}


def bounded_environment(**settings: Any) -> PromptSandbox:
    """A :class:`PromptSandbox` with every amplifying filter bounded (prompt and chat templates alike)."""
    env = PromptSandbox(**{**_JINJA_SETTINGS, **settings})
    env.finalize = env.finalize_bounded
    for name in list(env.filters):
        _bounded_filter(env.filters, name)
    for name in _COMPARING_TESTS & set(env.tests):
        _charged_test(env.tests, name)
    env.globals.pop("lipsum", None)  # generates text; no prompt needs it
    return env


def make_environment(loader: jinja2.BaseLoader | None) -> PromptSandbox:
    """A fresh sandbox with the settings every prompt template renders under."""
    env = bounded_environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
        auto_reload=True,
    )
    env.finalize = env.finalize_prompt_value  # a model's chat template (bounded_environment) is not refused so
    return env


@contextlib.contextmanager
def step_budget() -> Iterator[None]:
    """One budget of :data:`MAX_RENDER_STEPS` for everything rendered inside.

    A prompt renders its body once per few-shot example as well as for the
    query: a budget per piece would let a template with many examples multiply
    it, so :func:`~assistant.templates.render.render_template` holds one for the
    whole prompt. Inside an outer budget this one adds nothing.
    """
    if _steps.get() is not None:
        yield
        return
    token = _steps.set(_Steps(MAX_RENDER_STEPS))
    try:
        yield
    finally:
        _steps.reset(token)


def render_bounded(
    template: jinja2.Template,
    context: dict[str, Any],
    limit: int = MAX_RENDERED_CHARS,
    allocation_limit: int | None = None,
) -> str:
    """Render chunk by chunk, stopping as soon as the output passes ``limit`` characters.

    ``allocation_limit`` bounds every value built on the way (default: the larger
    of ``limit`` and :data:`MAX_RENDERED_CHARS`, so a small remaining output budget
    does not forbid ordinary intermediate strings).
    """
    token = _allocation_limit.set(allocation_limit or max(limit, MAX_RENDERED_CHARS))
    try:
        with step_budget():
            parts: list[str] = []
            size = 0
            for piece in template.generate(context):
                size += len(piece)
                if size > limit:
                    raise OutputLimitError(f"rendered text exceeds {limit:,} characters")
                parts.append(piece)
            return "".join(parts)
    finally:
        _allocation_limit.reset(token)
