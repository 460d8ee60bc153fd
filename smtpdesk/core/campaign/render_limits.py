"""Limits on what a template may cost: time and output per message, size of each value.

A template is user input that runs: ``{% for i in range(99999) %}{% for j in
range(99999) %}`` would take hours and ``{{ 'x' * 10**9 }}`` a gigabyte. Python
cannot stop a thread from outside, so the limits are cooperative: the sandbox
checks the message's deadline wherever a template can loop or grow (each item
of a ``range``, each call, attribute, operator and filter, each chunk of output),
refuses values beyond :data:`MAX_OUTPUT` characters before making them, and caps
``range`` as Jinja's own sandbox does. A message that breaks a limit raises
:class:`RenderLimitError` within about :data:`RENDER_SECONDS`.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jinja2.environment import Environment
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import MAX_RANGE, SandboxedEnvironment, safe_range
from jinja2.utils import Namespace

RENDER_SECONDS = 1.0  # per message, all of its parts
MAX_OUTPUT = 2_000_000  # characters per message, and per value a template makes
MAX_INT_BITS = 100_000  # ``**`` beyond this would take long to compute
_CHECK_EVERY = 256  # range items between two looks at the clock
# a width or precision of 7 digits or more in a format: '%0999999999d', '{:>9999999}'
_BIG_WIDTH = re.compile(r"%[-#0 +*]*\d*\.?\d{7,}|{[^{}]*:[^{}]*\d{7,}[^{}]*}")


class RenderLimitError(SecurityError):
    """A template went past a limit for one message (time, size or range)."""


class _State(threading.local):
    depth = 0
    deadline = math.inf
    budget = MAX_OUTPUT


_STATE = _State()


@contextlib.contextmanager
def message_limits() -> Iterator[None]:
    """One message's limits: a deadline and an output budget shared by its parts.

    Nested uses (the parts of one message) share the outer one's limits.
    """
    state = _STATE
    if state.depth == 0:
        state.deadline = time.monotonic() + RENDER_SECONDS
        state.budget = MAX_OUTPUT
    state.depth += 1
    try:
        yield
    finally:
        state.depth -= 1
        if state.depth == 0:
            state.deadline = math.inf


def check_time() -> None:
    if time.monotonic() > _STATE.deadline:
        raise RenderLimitError(
            f"rendering took longer than {RENDER_SECONDS:g} s for one message (a loop too long?)"
        )


def collect(chunks: Iterable[str]) -> str:
    """Join a template's output, stopping at the deadline or the output budget."""
    out: list[str] = []
    append = out.append
    state = _STATE
    budget = state.budget
    for chunk in chunks:
        budget -= len(chunk)
        if budget < 0:
            raise RenderLimitError(_too_long())
        append(chunk)
        if not len(out) % _CHECK_EVERY:
            check_time()
    state.budget = budget
    return "".join(out)


def _too_long() -> str:
    return f"the message would be longer than {MAX_OUTPUT:,} characters"


def _check_size(value: Any) -> None:
    if isinstance(value, str | bytes | list | tuple) and len(value) > MAX_OUTPUT:
        raise RenderLimitError(_too_long())


def _check_args(args: Iterable[Any], *, sizes: bool) -> None:
    """Refuse a format too wide and, where numbers size the result (``'x'.ljust(10**9)``),
    a number past the limit. ``'{:,}'.format(12345678)`` stays fine."""
    for arg in args:
        if sizes and isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_OUTPUT:
            raise RenderLimitError(f"the number {arg} is too large for a template")
        _check_format(arg)


def _check_format(value: Any) -> None:
    if isinstance(value, str) and ("%" in value or "{" in value) and _BIG_WIDTH.search(value):
        raise RenderLimitError(f"the format {value[:40]!r} asks for too wide a value")


class _Range:
    """``range`` for templates: at most Jinja's MAX_RANGE items, and it watches the clock."""

    def __init__(self, *args: int) -> None:
        try:
            self._range = safe_range(*args)
        except OverflowError as exc:  # past MAX_RANGE, as in Jinja's sandbox
            raise RenderLimitError(f"range() is limited to {MAX_RANGE:,} items") from exc

    def __iter__(self) -> Iterator[int]:
        return _watched(self._range)

    def __len__(self) -> int:
        return len(self._range)

    def __contains__(self, item: object) -> bool:
        return item in self._range

    def __getitem__(self, index: Any) -> Any:  # range(9)[2], range(9) | random
        return self._range[index]

    def __reversed__(self) -> Iterator[int]:
        return _watched(reversed(self._range))

    def __repr__(self) -> str:
        return repr(self._range)


def _watched(items: Iterable[int]) -> Iterator[int]:
    for count, item in enumerate(items):
        if count % _CHECK_EVERY == 0:
            check_time()
        yield item


class _Namespace(Namespace):
    """``namespace()`` whose values cannot grow past the limit (``ns.s = ns.s ~ ns.s``)."""

    def __setitem__(self, name: str, value: Any) -> None:
        check_time()
        _check_size(value)
        super().__setitem__(name, value)


# Filters and functions whose numbers say how big the result is.
_SIZED_FILTERS = frozenset({"batch", "center", "indent", "slice", "truncate", "wordwrap"})


def _limited_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    sized = name in _SIZED_FILTERS

    @functools.wraps(function)  # keeps Jinja's pass_context and similar marks
    def limited(*args: Any, **kwargs: Any) -> Any:
        check_time()
        given = list(args)
        while given and isinstance(given[0], Context | EvalContext | Environment):
            given.pop(0)  # what pass_context and the like put first
        _check_format(given[:1] and given[0])  # the filtered value: only as a format
        _check_args(given[1:], sizes=sized)
        _check_args(kwargs.values(), sizes=sized)
        result = function(*args, **kwargs)
        _check_size(result)
        return result

    return limited


class LimitedEnvironment(SandboxedEnvironment):
    """Jinja's sandbox with the limits above; see the module docstring."""

    # Intercepting an operator also keeps Jinja from folding it while compiling,
    # where ``{{ 'x' * 10**9 }}`` would be computed before any limit applies.
    intercepted_binops = frozenset({"*", "**", "+", "%", "//"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals["range"] = _Range
        self.globals["namespace"] = _Namespace
        self.filters = {name: _limited_filter(name, f) for name, f in self.filters.items()}
        self._sized_globals = (self.globals["lipsum"],)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_time()
        if operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "+":
            _check_concat(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_format(left)
        result = super().call_binop(context, operator, left, right)
        _check_size(result)
        return result

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        check_time()
        method = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
        owner = getattr(method, "__self__", None)
        _check_format(owner)  # '{:>999999999}'.format(1)
        sized = __obj in __self._sized_globals or (
            isinstance(owner, _SEQUENCE) and method.__name__ not in ("format", "format_map")
        )
        _check_args(args, sizes=sized)
        _check_args(kwargs.values(), sizes=sized)
        result = super().call(__context, __obj, *args, **kwargs)
        _check_size(result)
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        check_time()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        check_time()
        return super().getitem(obj, argument)


_SEQUENCE = (str, bytes, list, tuple)


def _check_repeat(sequence: Any, times: Any) -> None:
    repeat = isinstance(sequence, _SEQUENCE) and isinstance(times, int)
    if repeat and len(sequence) * times > MAX_OUTPUT:
        raise RenderLimitError(_too_long())


def _check_power(base: Any, exponent: Any) -> None:
    if not (isinstance(base, int) and isinstance(exponent, int)):
        return
    if abs(base) > 1 and exponent > 0 and exponent * abs(base).bit_length() > MAX_INT_BITS:
        raise RenderLimitError(f"{base} ** {exponent} is too large a number for a template")


def _check_concat(left: Any, right: Any) -> None:
    joined = isinstance(left, _SEQUENCE) and isinstance(right, _SEQUENCE)
    if joined and len(left) + len(right) > MAX_OUTPUT:
        raise RenderLimitError(_too_long())


__all__ = [
    "MAX_OUTPUT",
    "MAX_RANGE",
    "RENDER_SECONDS",
    "LimitedEnvironment",
    "RenderLimitError",
    "check_time",
    "collect",
    "message_limits",
]
