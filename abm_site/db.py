"""Database helpers shared by the KPI engine, the pages and the imports.

The generic SQL expressions (day arithmetic, LIKE, typed float literals,
per-account annotations, percentiles) live here once, for every app.
"""

import datetime as dt
import hashlib
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, transaction
from django.db.models import Aggregate, BooleanField, DateTimeField, FloatField, Func, Q, Value
from django.db.models.expressions import RawSQL
from django.utils import timezone

_BIGINT = range(-(2**63), 2**63)
_ARRAY_TYPES = frozenset({"bigint", "text"})


_T = TypeVar("_T")

#: PostgreSQL's deadlock_detected and serialization_failure: the transaction lost a
#: race with another one and succeeds when it is run again.
WRITE_CONFLICT_STATES = frozenset({"40P01", "40001"})


class StatementTimeout(OperationalError):
    """A query ran past the limit set with ``statement_timeout``."""


class WriteConflict(OperationalError):
    """Concurrent writes to the same rows kept colliding after the retries; retry later."""


def is_write_conflict(exc: BaseException) -> bool:
    """True for a deadlock or serialization failure (or a ``WriteConflict`` after retries)."""
    return isinstance(exc, WriteConflict) or (
        getattr(exc.__cause__, "sqlstate", None) in WRITE_CONFLICT_STATES
    )


def retry_on_write_conflict(
    write: Callable[[], _T], *, attempts: int = 4, base_delay: float = 0.05
) -> _T:
    """Run ``write`` (one transaction) again when it loses a deadlock or serialization race.

    Two writers inserting overlapping new keys into a unique index can each
    wait for the other; PostgreSQL cancels one, whose work then succeeds on
    a second run. Waits grow exponentially with full jitter so the racers
    spread out. After ``attempts`` runs the conflict is raised as
    ``WriteConflict``, which the API answers with a 409 and ``Retry-After``.
    """
    for attempt in range(1, attempts + 1):
        try:
            return write()
        except OperationalError as exc:
            if not is_write_conflict(exc) or isinstance(exc, WriteConflict):
                raise
            if attempt == attempts:
                raise WriteConflict(
                    f"Concurrent writes to the same rows collided {attempts} times."
                ) from exc
            time.sleep(random.uniform(0, base_delay * 2**attempt))  # noqa: S311  # nosec B311
    raise AssertionError("unreachable")  # pragma: no cover


def is_query_canceled(exc: BaseException) -> bool:
    """True when PostgreSQL cancelled the query (``statement_timeout``)."""
    return isinstance(exc, StatementTimeout) or _is_query_canceled(exc)


def _is_query_canceled(exc: BaseException) -> bool:
    try:
        from psycopg import errors
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(exc.__cause__, errors.QueryCanceled)


@contextmanager
def statement_timeout(ms: int, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Cancel any query in the block that runs longer than ``ms`` milliseconds.

    On PostgreSQL the block runs in a transaction (a savepoint when one is
    already open) with ``SET LOCAL statement_timeout``; the previous value is
    put back on the way out, so an enclosing transaction keeps its own limit.
    A cancelled query raises ``StatementTimeout`` (an ``OperationalError``),
    which pages and the API answer with a 503 and a message. On SQLite the
    block runs unchanged.

    Usage (a report query)::

        with statement_timeout(15_000):
            rows = list(queryset)
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    ms = int(ms)
    if ms <= 0:
        raise ValueError("statement_timeout needs a positive number of milliseconds")
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout')")
            previous = cursor.fetchone()[0]
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{ms}ms"])
        try:
            yield
        except OperationalError as exc:
            if _is_query_canceled(exc) and not isinstance(exc, StatementTimeout):
                raise StatementTimeout(
                    f"The query was cancelled after the {ms} ms statement timeout."
                ) from exc
            raise
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])


def in_values(field: str, values: Iterable[Any], db_type: str, using: str = DEFAULT_DB_ALIAS) -> Q:
    """``Q(<field>__in=values)``; on PostgreSQL the values go as one array parameter.

    Django and psycopg spend several microseconds on each parameter of an
    ``IN`` list, and a 10,000-touch request names some 2,000 accounts: on
    PostgreSQL this is ``<field> IN (SELECT unnest(%s::<db_type>[]))``, a
    fifth of the time. ``db_type`` is the column's SQL type (``bigint``,
    ``text``); ids outside the bigint range match nothing and are left out.
    """
    if db_type not in _ARRAY_TYPES:
        raise ValueError(f"in_values: unsupported column type {db_type!r}")
    values = list(values)
    if db_type == "bigint":
        values = [v for v in values if not isinstance(v, int) or v in _BIGINT]
    if connections[using].vendor != "postgresql":
        return Q(**{f"{field}__in": values})
    # db_type is one of _ARRAY_TYPES; the values travel as a parameter.
    sql = f"SELECT unnest(%s::{db_type}[])"
    return Q(**{f"{field}__in": RawSQL(sql, [values])})  # noqa: S611  # nosec B611 - fixed type


# --- SQL expressions -----------------------------------------------------------------


class _BinarySQL(Func):
    """A two-argument expression written as one SQL template per database.

    ``postgresql`` and ``sqlite`` are format strings over ``{a}`` and ``{b}``,
    the compiled arguments.
    """

    arity = 2
    postgresql = sqlite = ""

    def as_sql(self, compiler, connection, **extra_context):
        a, a_params = compiler.compile(self.source_expressions[0])
        b, b_params = compiler.compile(self.source_expressions[1])
        template = self.postgresql if connection.vendor == "postgresql" else self.sqlite
        return template.format(a=a, b=b), (*a_params, *b_params)


class DaysBetween(_BinarySQL):
    """``later - earlier`` in calendar days (a float) for two date expressions.

    PostgreSQL subtracts dates; SQLite subtracts Julian day numbers. Both
    sides are dates, so the result is a whole number of days.
    """

    output_field = FloatField()
    postgresql = "CAST((CAST({a} AS date) - CAST({b} AS date)) AS double precision)"
    sqlite = "(julianday(date({a})) - julianday(date({b})))"


class AgeDays(_BinarySQL):
    """``later - earlier`` in fractional days for two datetime expressions.

    ``date_part``, not ``EXTRACT``: EXTRACT returns numeric, whose arithmetic is
    many times slower than double precision over a large touch scan.
    """

    output_field = FloatField()
    postgresql = "(date_part('epoch', {a} - {b}) / 86400.0::double precision)"
    sqlite = "(julianday({a}) - julianday({b}))"


class LikeAny(Func):
    """Case-insensitive ``expression LIKE pattern`` (``\\`` escapes) for any of ``patterns``.

    PostgreSQL upper-cases the expression once per row (``LIKE ANY``; its default
    escape is ``\\`` too) instead of once per pattern; elsewhere an OR of the patterns.
    """

    output_field = BooleanField()
    conditional = True

    def __init__(self, expression: Any, patterns: list[str]):
        super().__init__(expression, *(Value(p) for p in patterns))

    def as_sql(self, compiler, connection, **extra):  # noqa: ANN001, ANN201
        expression, *patterns = self.get_source_expressions()
        sql, params = compiler.compile(expression)
        compiled = [compiler.compile(p) for p in patterns]
        if connection.vendor == "postgresql":
            array = ", ".join(f"UPPER({p})" for p, _ in compiled)
            pattern_params = tuple(x for _, ps in compiled for x in ps)
            return f"UPPER({sql}) LIKE ANY (ARRAY[{array}])", (*params, *pattern_params)
        ors = [f"UPPER({sql}) LIKE UPPER({p}) ESCAPE '\\'" for p, _ in compiled]
        all_params = tuple(x for _, ps in compiled for x in (*params, *ps))
        return "(" + " OR ".join(ors) + ")", all_params


class LocalDayStart(Func):
    """The moment a day (a date expression) begins in the deployment's time zone.

    For comparisons of a timestamp column with a day held in another column
    (a range an index can serve). PostgreSQL converts in the time zone; SQLite
    stores UTC and has no zone data, so there the day begins at UTC midnight
    (SQLite is the single-user embedded default).
    """

    output_field = DateTimeField()
    arity = 1

    def as_sql(self, compiler, connection, **extra_context):
        day, params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "postgresql":
            return f"(CAST({day} AS timestamp) AT TIME ZONE %s)", (
                *params,
                timezone.get_current_timezone_name(),
            )
        return f"datetime({day})", params


def day_start(day: dt.date) -> dt.datetime:
    """The aware datetime at which ``day`` begins in the deployment's time zone."""
    return timezone.make_aware(
        dt.datetime.combine(day, dt.time.min), timezone.get_current_timezone()
    )


def day_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """``[start of start, start of the day after end)``: a closed date range as datetimes."""
    return day_start(start), day_start(end + dt.timedelta(days=1))


class FloatValue(Value):
    """A float literal typed ``double precision`` on PostgreSQL.

    The driver binds a Python float as an untyped literal, which PostgreSQL
    reads as ``numeric``; arithmetic with it (weights, decay) then runs in
    arbitrary precision, many times slower over a large touch scan.
    """

    def __init__(self, value: float):
        super().__init__(float(value), output_field=FloatField())

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = self.as_sql(compiler, connection, **extra_context)
        return f"({sql})::double precision", params


class PercentileCont(Aggregate):
    """PostgreSQL ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expr)``."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float = 0.5, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


class PerAccount(Func):
    """An account-level expression in a query grouped by account: evaluated once per group.

    Django would otherwise add a wrapped correlated subquery to the GROUP BY,
    which makes PostgreSQL run it once per joined touch row. Grouping by the
    account's primary key already fixes its value.
    """

    template = "%(expressions)s"
    arity = 1

    def get_group_by_cols(self):
        return []


# --- sets shared by several expressions of one statement ------------------------------

_SHARED: ContextVar[dict[str, tuple[str, tuple]] | None] = ContextVar("shared_sets", default=None)


class InShared(Func):
    """``ref IN (SELECT column FROM rows [WHERE flag])``, where ``rows`` may be shared.

    Several conditions often test one expensive set (the accounts with an intent
    surge, and those with a competitor-topic surge; accounts a program reached, and
    those it engaged). Written as plain subqueries, PostgreSQL computes the set once
    per reference. Inside ``shared_sets()`` every ``InShared`` of one statement that
    reads the same ``rows`` (same SQL and parameters) reads one ``WITH ... AS
    MATERIALIZED`` set instead, computed once; anywhere else (a drill-down, another
    statement) the set is inlined, with the same meaning. ``flag`` names a boolean
    column of ``rows`` that narrows it (NULL counts as false either way); ``keys``, a
    column and its values (``("program_id", (3,))``): one set of pairs read by many
    conditions, each its own keys' part (the programs of a grouped pass share one set of
    (program, account) pairs; inlined, PostgreSQL pushes the keys into the set).
    ``materialized``: other rows and keys, read instead when the set is shared (a set that
    is cheap computed once but slow inlined: the tiers' one set of (tier, account) pairs).
    """

    output_field = BooleanField()

    def __init__(
        self,
        ref: Any,
        rows: Any,
        column: str = "account_id",
        flag: str | None = None,
        keys: tuple[str, Sequence[Any]] | None = None,
        materialized: tuple[Any, tuple[str, Sequence[Any]]] | None = None,
    ):
        from django.db.models import Subquery
        from django.db.models.expressions import RawSQL

        # ``rows`` compiled already (``RawSQL``): a set read by many conditions of one
        # statement is then not resolved and compiled again for each of them.
        sets = [rows] if materialized is None else [rows, materialized[0]]
        super().__init__(ref, *(r if isinstance(r, RawSQL) else Subquery(r) for r in sets))
        self.column = column
        self.flag = flag
        self.keys = keys
        self.materialized_keys = None if materialized is None else materialized[1]

    def as_sql(self, compiler, connection, **extra):  # noqa: ANN001, ANN201
        ref, rows, *other = self.get_source_expressions()
        shared = _SHARED.get()
        keys = self.keys
        if shared is not None and connection.vendor == "postgresql":
            if other:
                rows, keys = other[0], self.materialized_keys
            rows = _unordered(rows)
        ref_sql, ref_params = compiler.compile(ref)
        rows_sql, rows_params = compiler.compile(rows)
        quote = connection.ops.quote_name
        where = f" WHERE {quote(self.flag)}" if self.flag else ""
        key_params: tuple = ()
        if keys is not None:
            name, values = keys
            marks = ", ".join(["%s"] * len(values))
            where += f"{' AND' if where else ' WHERE'} {quote(name)} IN ({marks})"
            key_params = tuple(values)
        if shared is None or connection.vendor != "postgresql":
            source = f"{rows_sql} AS {quote('_rows')}"
            params: tuple = (*ref_params, *rows_params)
        else:
            body = rows_sql[1:-1] if rows_sql.startswith("(") else rows_sql
            source = share(body, tuple(rows_params))
            params = tuple(ref_params)
        # Quoted identifiers and compiled SQL only: every value is a parameter.
        sql = f"{ref_sql} IN (SELECT {quote(self.column)} FROM {source}{where})"  # noqa: S608
        return sql, (*params, *key_params)


def flag_column(where: Q) -> Any:
    """``where`` as a boolean column (true where it holds, else false; ``Q()``: every row),
    to compute a condition once per row and test the column wherever it is read."""
    from django.db.models import Case, When

    if not where:  # every row (an empty Q cannot be a When condition)
        return Value(True, output_field=BooleanField())
    return Case(When(where, then=Value(True)), default=Value(False), output_field=BooleanField())


def _unordered(rows: Any) -> Any:
    """``rows`` without its ORDER BY (a model's default ordering, say), for a set the
    statement materializes: ``IN`` reads it as a hash, so a sort of it is wasted work (a
    program's touches: 10-13 % of the SQL of a grouped programs pass, #18). A ``DISTINCT ON`` or a
    slice keeps its ordering, which decides its rows. An inlined set keeps it too: there
    it stops PostgreSQL pulling the set up into a join (``funnel.kpis.scope._tiered``).
    """
    query = getattr(rows, "query", None)
    if query is None or query.is_sliced or query.distinct_fields:
        return rows
    ordered = query.order_by or (query.default_ordering and query.get_meta().ordering)
    if not ordered:
        return rows
    rows = rows.copy()
    rows.query.clear_ordering(force=True)
    return rows


#: How a shared set is named in a statement (``share``): its SQL identifier, quoted.
SHARED_NAME = re.compile(r'"_shared_[0-9a-f]{16}"')


def share(body: str, params: tuple) -> str:
    """The quoted name of the set ``body`` (with ``params``) in the statement being
    compiled inside ``shared_sets()``, registered there once: equal sets, one name."""
    shared = _SHARED.get()
    assert shared is not None, "share() outside shared_sets()"
    digest = hashlib.sha256(repr((body, params)).encode()).hexdigest()[:16]
    name = f'"_shared_{digest}"'
    shared.setdefault(name, (body, params))
    return name


def shared_set(name: str) -> tuple[str, tuple] | None:
    """The SQL and parameters of the shared set ``name`` (quoted), if registered here."""
    shared = _SHARED.get()
    return None if shared is None else shared.get(name)


@contextmanager
def shared_sets(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Let the statements run inside compute each ``InShared`` set once (a ``WITH``).

    Only for statements that run here in full (an ``aggregate()``), not for lazy
    querysets returned to a caller: the sets are attached when the SQL executes.
    """
    sets: dict[str, tuple[str, tuple]] = {}

    def attach(execute, sql, params, many, context):  # noqa: ANN001, ANN202
        if not sets or many:
            return execute(sql, params, many, context)
        used = {name: body for name, body in sets.items() if name in sql}
        sets.clear()
        if not used:
            return execute(sql, params, many, context)
        ctes = ", ".join(f"{name} AS MATERIALIZED ({body})" for name, (body, _) in used.items())
        before = tuple(p for _, body_params in used.values() for p in body_params)
        # A statement of its own WITH (a raw one, positional parameters): the sets join it.
        if sql.lstrip().startswith("WITH "):
            assert not isinstance(params, dict), "shared sets need positional parameters"
            own = sql.lstrip()[5:]
            return execute(f"WITH {ctes}, {own}", (*before, *(params or ())), many, context)
        return execute(f"WITH {ctes} {sql}", (*before, *(params or ())), many, context)

    token = _SHARED.set(sets)
    try:
        with connections[using].execute_wrapper(attach):
            yield
    finally:
        _SHARED.reset(token)
