"""Compiled aggregate statements reused across computations of one shape, per process.

Building, resolving and compiling a source's aggregate (hundreds of conditional
aggregates) costs more Python time than PostgreSQL spends running it. Its SQL text
depends on the shape of the computation (the source, its cohorts and measures, the
definitions, the filters, the groups, the day for version 2), not on the period: the
dates enter as parameters. So a statement is compiled for a shape, and the next
computation of that shape for another period (the pages' presets, the warmer, the
snapshot slices) runs the same SQL with its own parameters.

Only where proven: each parameter must be a constant or a function of the period
from a small family (a date or the local midnight of a date some days from the
period's start or end, the period's length plus a constant). The rule is learnt from
the first compile (the one rule of the family that gives its value there) and checked
on compiles at four other periods (``PROBES``), which the SQL text must be the same in:
other years and seasons (DST), and lengths from one day to the longest period, so a
piecewise function of the dates (the earlier of the start and 120 days before the end:
a look-back window) agrees with no single rule and is never reused (the accounts' touch
window sends both as parameters and lets SQL take the least: ``sources.accounts._lowest``).
Anything else (a
parameter no rule predicts, a statement that reads the database while it is built) is
compiled every time, as before. What the building reads from the database (the high-value page patterns) is
read again when the statement is reused and must be the same. ``reuse`` (setting
``ABM_KPI_STATEMENT_REUSE``) turns it off.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.signals import setting_changed
from django.db import connections
from django.db.models.sql.compiler import SQLCompiler
from django.db.models.sql.constants import SINGLE
from django.utils import timezone

from abm_site.db import SHARED_NAME, day_start

if TYPE_CHECKING:
    from .context import Context

logger = logging.getLogger(__name__)

#: How many shapes a process keeps (least recently used out first).
SIZE = 128

#: The periods a shape is compiled for besides its first, as (days the end moves from
#: the first's, length in days): other years and DST sides, and lengths from one day to
#: the longest period (``query.MAX_PERIOD_DAYS``), so no piecewise rule fits them all.
PROBES = ((-371, 1), (-1113, 3660), (-200, 45), (-50, 400))

Row = dict[str, Any]
#: ``build(ctx, groups, wrapper)``: the source's aggregate row, the statement run with
#: ``wrapper`` as the innermost execute wrapper (after the shared sets are attached).
Build = Callable[["Context", "list[Context] | None", Any], Row]

_READS: ContextVar[set[str] | None] = ContextVar("statement_reads", default=None)


def note_read(name: str) -> None:
    """Record that building the statement being observed read ``name`` from the
    database (a value it must find the same when the statement is reused)."""
    reads = _READS.get()
    if reads is not None:
        reads.add(name)


@dataclass(frozen=True)
class _Compiled:
    """One compile of a shape: its period, SQL (shared sets numbered) and parameters."""

    start: dt.date
    end: dt.date
    sql: str
    params: tuple


@dataclass(frozen=True)
class _Statement:
    """A proven shape: its SQL, one rule per parameter, and what converts its row."""

    sql: str
    rules: tuple[tuple, ...]
    query: Any  # the compiled (outer) query: its columns' converters and aliases
    aliases: tuple[str, ...]
    db: str
    patterns: tuple[str, ...] | None


@dataclass(frozen=True)
class _Seen:
    """A shape compiled once, not proven yet (``query``: its compiled query)."""

    first: _Compiled
    query: Any
    aliases: tuple[str, ...]
    db: str
    patterns: tuple[str, ...] | None


_NEVER = "never"  # a shape whose parameters could not be proven: compiled every time
_LOCK = threading.Lock()
_ENTRIES: OrderedDict[tuple, Any] = OrderedDict()
#: Compiles skipped and made, for tests and benchmarks.
counts = {"reused": 0, "compiled": 0, "probed": 0}


def reuse() -> bool:
    return bool(getattr(settings, "ABM_KPI_STATEMENT_REUSE", True))


def clear(**kwargs: Any) -> None:
    """Forget every shape (a setting changed: the SQL may read it)."""
    if kwargs.get("setting") == "ABM_KPI_STATEMENT_REUSE":
        return
    with _LOCK:
        _ENTRIES.clear()


setting_changed.connect(clear, dispatch_uid="kpi_statements_clear")


def _key(ctx: Context, groups: list[Context] | None, shape: tuple) -> tuple | None:
    """Everything but the period the SQL of ``shape`` can depend on; None: never reused."""
    rules = ctx.definitions
    if rules is None or rules.pk is None:  # an unsaved draft: nothing names it
        return None
    if groups is not None and any(g.period != ctx.period for g in groups):
        return None  # a series' buckets: groups of other periods
    members = None if groups is None else tuple(repr(g.filters) for g in groups)
    return (
        shape,
        rules.pk,
        rules.generation,
        repr(sorted(ctx.params.items())),
        repr(ctx.filters),
        members,
        ctx.programs_of,
        ctx.pairs_set,
        ctx.today,
        timezone.get_current_timezone_name(),
        settings.TIME_ZONE,
    )


def aggregate_row(ctx: Context, groups: list[Context] | None, shape: tuple, build: Build) -> Row:
    """The aggregate row of ``shape`` for ``ctx``: a proven statement with this period's
    parameters, or ``build`` (compiling), observed towards a proof."""
    key = _key(ctx, groups, shape) if reuse() else None
    if key is None:
        return _built(ctx, groups, build)
    with _LOCK:
        entry = _ENTRIES.get(key)
        if entry is not None:
            _ENTRIES.move_to_end(key)
    if entry is _NEVER:
        return _built(ctx, groups, build)
    if isinstance(entry, _Statement) and _same_reads(entry.patterns, ctx):
        row = _run(entry, ctx)
        if row is not None:
            counts["reused"] += 1
            return row
    if isinstance(entry, _Seen) and _same_reads(entry.patterns, ctx):
        statement = _prove(entry, ctx, groups, build)
        _store(key, statement or _NEVER)
        if statement is not None:
            row = _run(statement, ctx)
            if row is not None:
                counts["reused"] += 1
                return row
        return _built(ctx, groups, build)
    row, seen = _observe(ctx, groups, build)
    _store(key, seen or _NEVER)
    return row


def _built(ctx: Context, groups: list[Context] | None, build: Build) -> Row:
    counts["compiled"] += 1
    return build(ctx, groups, None)


def _store(key: tuple, entry: Any) -> None:
    with _LOCK:
        _ENTRIES[key] = entry
        _ENTRIES.move_to_end(key)
        while len(_ENTRIES) > SIZE:
            _ENTRIES.popitem(last=False)


def _same_reads(patterns: tuple[str, ...] | None, ctx: Context) -> bool:
    """The database's values the building read are still the same (read as it would)."""
    return patterns is None or tuple(ctx.patterns) == patterns


class _Stop(Exception):
    """Raised by a probe's wrapper instead of running the statement it captured."""


class _Capture:
    """An execute wrapper that records the one statement a build runs and its compiler."""

    def __init__(self, run: bool):
        self.run = run
        self.statements: list[tuple[str, Any]] = []
        self.compiler: SQLCompiler | None = None

    def __call__(self, execute, sql, params, many, context):  # noqa: ANN001, ANN204
        self.statements.append((sql, params))
        self.compiler = _running_compiler()
        if not self.run:
            raise _Stop
        return execute(sql, params, many, context)


def _running_compiler() -> SQLCompiler | None:
    """The compiler whose ``execute_sql(SINGLE)`` runs the statement being executed:
    its query's columns convert the row (Django offers no other way to reach them)."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code is SQLCompiler.execute_sql.__code__:
            if frame.f_locals.get("result_type") != SINGLE:
                return None
            return frame.f_locals.get("self")
        frame = frame.f_back
    return None


@contextmanager
def _counting(db: str) -> Iterator[list[str]]:
    """Every statement run meanwhile (the builds must run none but their aggregate)."""
    ran: list[str] = []

    def count(execute, sql, params, many, context):  # noqa: ANN001, ANN202
        ran.append(sql)
        return execute(sql, params, many, context)

    with connections[db].execute_wrapper(count):
        yield ran


@contextmanager
def _unlogged(db: str) -> Iterator[None]:
    """A probe's statement, stopped before it runs, is no query: not logged as one
    (``CaptureQueriesContext`` forces the debug cursor, which logs even a stopped one;
    under ``DEBUG`` every statement is logged, a probe's too)."""
    connection = connections[db]
    forced = connection.force_debug_cursor
    connection.force_debug_cursor = False
    try:
        yield
    finally:
        connection.force_debug_cursor = forced


@contextmanager
def _reading() -> Iterator[set[str]]:
    reads: set[str] = set()
    token = _READS.set(reads)
    try:
        yield reads
    finally:
        _READS.reset(token)


def _observe(ctx: Context, groups: list[Context] | None, build: Build) -> tuple[Row, _Seen | None]:
    """Build and run the statement, keeping its compile when it can be learnt from."""
    db = "default"
    loaded = "patterns" in ctx._shared
    capture = _Capture(run=True)
    with _reading() as reads, _counting(db) as ran:
        row = build(ctx, groups, capture)
    counts["compiled"] += 1
    allowed = 1 + ("patterns" in reads and not loaded)
    if (
        len(capture.statements) != 1
        or len(ran) != allowed
        or capture.compiler is None
        or reads - {"patterns"}
    ):
        return row, None
    sql, params = capture.statements[0]
    query = capture.compiler.query
    aliases = tuple(query.annotation_select)
    if tuple(row) != aliases:
        return row, None
    first = _compiled(ctx, sql, params)
    patterns = tuple(ctx.patterns) if "patterns" in reads else None
    return row, _Seen(first, query, aliases, capture.compiler.connection.alias, patterns)


def _compiled(ctx: Context, sql: str, params: Any) -> _Compiled:
    return _Compiled(ctx.start, ctx.end, _canonical(sql), tuple(params or ()))


def _canonical(sql: str) -> str:
    """``sql`` with its shared sets named by order of appearance (their names are
    digests of their parameters: any other consistent names mean the same)."""
    names: dict[str, str] = {}

    def number(match: Any) -> str:
        return names.setdefault(match[0], f'"_shared_{len(names):016x}"')

    return SHARED_NAME.sub(number, sql)


def _prove(
    seen: _Seen, ctx: Context, groups: list[Context] | None, build: Build
) -> _Statement | None:
    """The statement of ``seen`` with a rule for each parameter, or None where the
    compiles at the probe periods do not bear one out."""
    from .context import Context

    first = seen.first
    compiles = [first]
    for period in probe_periods(first.end):

        def at(c: Context, period: Any = period) -> Context:
            other = Context(period, c.filters, c.plan, c.definitions, shared=c._shared)
            other.today, other.programs_of, other.pairs_set = c.today, c.programs_of, c.pairs_set
            return other

        capture = _Capture(run=False)
        try:
            members = None if groups is None else [at(g) for g in groups]
            with (
                _reading() as reads,
                _counting(seen.db) as ran,
                _unlogged(seen.db),
                suppress(_Stop),
            ):
                build(at(ctx), members, capture)
        except Exception:  # a period this shape cannot be built for: not proven
            logger.info("%s: not reused, no compile at %s", seen.aliases[:1], period, exc_info=True)
            return None
        counts["probed"] += 1
        if len(capture.statements) != 1 or len(ran) != 1 or reads - {"patterns"}:
            return None
        compiles.append(_compiled(at(ctx), *capture.statements[0]))
    if any(c.sql != first.sql or len(c.params) != len(first.params) for c in compiles):
        return None
    rules = []
    for i in range(len(first.params)):  # the statement's parameters, not data rows
        rule = _rule([c.params[i] for c in compiles], compiles)
        if rule is None:
            return None
        rules.append(rule)
    return _Statement(first.sql, tuple(rules), seen.query, seen.aliases, seen.db, seen.patterns)


def probe_periods(end: dt.date) -> list[Any]:
    """The periods (``PROBES``) a shape first compiled for a period ending ``end`` is
    compiled for too, to prove its parameters' rules."""
    from .base import Period

    periods = []
    for end_by, length in PROBES:
        last = end + dt.timedelta(days=end_by)
        periods.append(Period(last - dt.timedelta(days=length - 1), last))
    return periods


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b and repr(a) == repr(b)


def _rule(values: list[Any], compiles: list[_Compiled]) -> tuple | None:
    """The one rule that gives ``values`` at the compiles' periods: the rules that give
    the first value at the first period (one per anchor), checked at every other; None
    unless exactly one holds at all (the lengths differ: two anchors never agree)."""
    first = values[0]
    if all(_same(v, first) for v in values):
        return ("same", first, 0)
    fitting = [
        rule
        for rule in _candidates(first, compiles[0])
        if all(
            _same(_value(rule, c.start, c.end), v)
            for c, v in zip(compiles[1:], values[1:], strict=True)
        )
    ]
    return fitting[0] if len(fitting) == 1 else None


def _candidates(value: Any, at: _Compiled) -> list[tuple]:
    """The rules that give ``value`` at ``at``'s period."""
    anchors = {"start": at.start, "end": at.end}
    if type(value) is dt.date:
        return [("date", name, (value - day).days) for name, day in anchors.items()]
    if type(value) is dt.datetime and value.tzinfo is not None:
        day = timezone.localtime(value).date()
        if not _same(day_start(day), value):
            return []
        return [("day_start", name, (day - d).days) for name, d in anchors.items()]
    if type(value) is int:
        return [("length", "", value - ((at.end - at.start).days + 1))]
    return []


def _value(rule: tuple, start: dt.date, end: dt.date) -> Any:
    """The parameter ``rule`` gives for the period ``start``-``end``."""
    kind, anchor, k = rule
    if kind == "same":
        return anchor
    if kind == "length":
        return (end - start).days + 1 + k
    day = (start if anchor == "start" else end) + dt.timedelta(days=k)
    return day if kind == "date" else day_start(day)


def _run(statement: _Statement, ctx: Context) -> Row | None:
    """The statement run with ``ctx``'s parameters, its row converted as Django does."""
    params = [
        rule[1] if rule[0] == "same" else _value(rule, ctx.start, ctx.end)
        for rule in statement.rules
    ]
    connection = connections[statement.db]
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    compiler = statement.query.get_compiler(statement.db)
    columns = list(statement.query.annotation_select.values())
    converted = next(
        compiler.apply_converters((row[: len(columns)],), compiler.get_converters(columns))
    )
    return dict(zip(statement.aliases, converted, strict=True))
