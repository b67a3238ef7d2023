"""The data version: a number that changes with every committed write the KPIs could read.

KPI results are cached under it (``engine.compute``). It must change with
every commit that touches KPI input and with nothing else: sign-ins, session
and token bookkeeping, snapshots and recompute runs leave it alone, so a
cached result survives them.

PostgreSQL only. A statement-level trigger on every input table records the
writing transaction's id in a log table, once per transaction; the version
is the number of logged transactions. Rows appear only when their
transaction commits, so the version read in a snapshot matches the data that
snapshot sees: exact, with no lock that writers would queue on (each
transaction inserts its own row). ``compact`` folds the log into a counter.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.http import HttpRequest, HttpResponse

COUNTER_TABLE = "funnel_kpi_data_version"
TRIGGER = "funnel_kpi_data_change"  # the trigger, its function and the log table

#: The apps whose tables hold KPI input.
INPUT_APPS = ("accounts", "engagement", "funnel")
#: Tables in those apps that the KPI engine never reads: what it writes or bookkeeping.
NOT_INPUT = (
    "funnel.DefinitionsVersion",  # in the cache key itself; marking one used must not bump it
    "funnel.AccountSnapshot",
    "funnel.StageCheckpoint",
    "funnel.FunnelSnapshot",
    "funnel.RecomputeRun",
    "funnel.RecomputeChunk",
)

_installed_in: set[str] = set()

_SETUP = """
CREATE TABLE IF NOT EXISTS funnel_kpi_data_change (txid bigint PRIMARY KEY);
CREATE TABLE IF NOT EXISTS funnel_kpi_data_version (
    id smallint PRIMARY KEY CHECK (id = 1),
    compacted bigint NOT NULL
);
-- Which database this is: the cache key carries it (see ``_IDENTITY``).
ALTER TABLE funnel_kpi_data_version
    ADD COLUMN IF NOT EXISTS instance uuid NOT NULL DEFAULT gen_random_uuid();
INSERT INTO funnel_kpi_data_version (id, compacted) VALUES (1, 0) ON CONFLICT DO NOTHING;
CREATE OR REPLACE FUNCTION funnel_kpi_data_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO funnel_kpi_data_change (txid) VALUES (txid_current()) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
"""
_VERSION = (
    "SELECT compacted + (SELECT count(*) FROM funnel_kpi_data_change) FROM funnel_kpi_data_version"
)
#: Which database the data version counts in: a random id stored in the database itself
#: (created with the counter), and the counter table's object id. Two databases sharing one
#: Redis database differ in the first; a restored dump (its tables created anew) in the second,
#: even at an equal version number. ``new_database_id`` changes it by hand (a physical restore).
_IDENTITY = (
    "SELECT instance::text || '/' || 'funnel_kpi_data_version'::regclass::oid::text "
    "FROM funnel_kpi_data_version"
)
_COMPACT = (
    "WITH gone AS (DELETE FROM funnel_kpi_data_change RETURNING 1) "
    "UPDATE funnel_kpi_data_version SET compacted = compacted + (SELECT count(*) FROM gone) "
    "RETURNING (SELECT count(*) FROM gone)"
)


def input_tables() -> list[str]:
    """The database tables of every KPI input model (many-to-many tables included)."""
    tables = []
    for label in INPUT_APPS:
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            if model._meta.label not in NOT_INPUT and model._meta.managed:
                tables.append(model._meta.db_table)
    return sorted(set(tables))


def install(using: str = DEFAULT_DB_ALIAS) -> None:
    """Create the log, the counter and the triggers; idempotent (runs after every migrate)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    existing = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        cursor.execute(_SETUP)
        for table in input_tables():
            if table not in existing:
                continue
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {quoted}")
            cursor.execute(
                f"CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {quoted} FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER}()"
            )


def _installed() -> bool:
    """Whether the data version's tables exist (checked once per process and database)."""
    if connection.vendor != "postgresql":
        return False
    database = connection.settings_dict["NAME"]
    if database not in _installed_in:  # tables, once there, stay
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [COUNTER_TABLE])
            if not cursor.fetchone()[0]:
                return False
        _installed_in.add(database)
    return True


def data_version() -> int | None:
    """The current data version, or None where there is none (SQLite, or not installed)."""
    if not _installed():
        return None
    with connection.cursor() as cursor:
        cursor.execute(_VERSION)
        row = cursor.fetchone()
    return int(row[0]) if row else None


def log_length() -> int:
    """How many transactions the data-version log holds (0 where there is none)."""
    if data_version() is None:
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM funnel_kpi_data_change")
        return int(cursor.fetchone()[0])


def database_id() -> str | None:
    """Which database the data version belongs to (None where there is none)."""
    if not _installed():
        return None
    with connection.cursor() as cursor:
        cursor.execute(_IDENTITY)
        row = cursor.fetchone()
    return row[0] if row else None


def data_key() -> str | None:
    """The database's id and its data version, ``"<id>@<version>"``, in one query: what a
    result derived from KPI input is cached under (None where there is none). Read once per
    request (``memoised``) until the request writes."""
    memo = _memo()
    if memo is not None and "data" in memo:
        return memo["data"]
    if not _installed():
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT ({_IDENTITY}) || '@' || ({_VERSION})")  # noqa: S608
        row = cursor.fetchone()
    if memo is not None and row:
        memo["data"] = row[0]
    return row[0] if row else None


# --- one read per request -------------------------------------------------------------

#: The connection attribute holding the current request's memo (None outside a request).
_MEMO_ATTR = "abm_data_version_memo"


def _memo() -> dict[Any, Any] | None:
    """The request's memo of the data key and definitions refs, where one may be used.

    Only in autocommit: inside a transaction (the engine's read-only snapshot, a
    caller's writes) the version must be read in that transaction.
    """
    memo = getattr(connection, _MEMO_ATTR, None)
    if memo is None or connection.in_atomic_block:
        return None
    return memo


def _is_read(sql: Any) -> bool:
    return isinstance(sql, str) and sql.lstrip()[:6].upper() == "SELECT"


@contextmanager
def memoised() -> Iterator[dict[Any, Any]]:
    """Read the data version (and the definitions version a ref names) at most once inside.

    A warm page asks for it from every cached part (KPIs, lists, trends): one
    statement each, the same answer. Any statement that is not a SELECT (a write,
    a COPY's follow-up, a savepoint) forgets it, so a write made inside is seen.
    A writer committing elsewhere meanwhile is seen by the next request, as it
    would be had it committed a moment later.
    """
    memo: dict[Any, Any] = {}

    def forget_on_write(execute: Callable, sql: Any, params: Any, many: bool, context: Any):
        if not _is_read(sql):
            memo.clear()
        return execute(sql, params, many, context)

    previous = getattr(connection, _MEMO_ATTR, None)
    setattr(connection, _MEMO_ATTR, memo)
    try:
        with connection.execute_wrapper(forget_on_write):
            yield memo
    finally:
        setattr(connection, _MEMO_ATTR, previous)


class DataVersionPerRequest:
    """Middleware: each request reads the data version once (``memoised``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with memoised():
            return self.get_response(request)


def new_database_id() -> str | None:
    """Give this database a new random id, so no result cached for it before is served again.

    For a database restored from a physical backup (same tables, an older version number)
    that shares a cache with its past; a dump restored with ``pg_restore`` needs nothing.
    """
    if not _installed():
        return None
    with connection.cursor() as cursor:
        cursor.execute("UPDATE funnel_kpi_data_version SET instance = gen_random_uuid()")
    return database_id()


@dataclass(frozen=True)
class DefinitionsRef:
    """Enough of a definitions version to key the cache: its id, name and generation."""

    pk: int
    name: str
    generation: int


def data_version_and_definitions(ref: int | str | None) -> tuple[str, DefinitionsRef] | None:
    """The data version (with the database's id, ``"<id>@<version>"``) and the definitions
    version ``ref`` names (the default for None), in one query; None where either cannot be
    read this way (SQLite, not installed, unknown)."""
    memo = _memo()
    if memo is not None and "data" in memo and ("definitions", ref) in memo:
        return memo["data"], memo["definitions", ref]
    if not _installed():
        return None
    if ref is None or ref == "":
        where, params = "is_default", []
    elif str(ref).strip().isdigit() and len(str(ref).strip()) < 19:
        where, params = "id = %s", [int(str(ref).strip())]
    else:
        where, params = "name = %s", [str(ref)]
    sql = (
        f"SELECT ({_IDENTITY}) || '@' || ({_VERSION}), id, name, generation "  # noqa: S608
        "FROM funnel_definitionsversion "
        f"WHERE {where} LIMIT 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    found = DefinitionsRef(int(row[1]), row[2], int(row[3]))
    if memo is not None:
        memo["data"], memo["definitions", ref] = row[0], found
    return row[0], found


def compact() -> int:
    """Fold the logged transactions into the counter; the version stays the same.

    One statement, so every snapshot sees either the rows or the counter that
    replaced them. Returns how many rows were folded.
    """
    if data_version() is None:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_COMPACT)
        return int(cursor.fetchone()[0])
