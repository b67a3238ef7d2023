"""Database helpers shared by the KPI engine and the pages."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, transaction


class StatementTimeout(OperationalError):
    """A query ran past the limit set with ``statement_timeout``."""


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
