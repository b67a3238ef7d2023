"""TouchIngest: batches validated on the caller's thread while a writer thread stores.

On PostgreSQL a batch's database work runs on a writer thread over the
caller's own connection and transaction while the caller validates the next
batch, so Python and PostgreSQL work at the same time. ``touch_bulk_create``
drives one ingest over a list of rows.
"""

from __future__ import annotations

import functools
import gc
import itertools
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from abm_site.db import retry_on_write_conflict

from .references import _Asks, _records, _References
from .rows import BulkTouchResult, ParseOptions, TouchRejection, _clean, _Reject, _row_keys
from .writers import _copy_text, _OrmWriter, _PostgresWriter, _Writer

#: Rows per batch of ``touch_bulk_create`` (one INSERT each on PostgreSQL): a
#: 10,000-touch request is four, so PostgreSQL stores one while Python validates the next.
BULK_BATCH = 2_500
#: The first batch is smaller and each next one twice the size up to ``BULK_BATCH``:
#: PostgreSQL waits only for a small batch to be validated before it starts writing.
FIRST_BATCH = 500


_Done = Callable[[BulkTouchResult], None]


def ramped_batches(items: Iterable[Any], most: int, first: int = FIRST_BATCH) -> Iterator[list]:
    """Lists of ``first`` items, then each twice the last, up to ``most`` items each.

    PostgreSQL stores nothing until the first batch is validated, so a small
    first batch starts the writer at once and the growing ones keep it busy
    while Python validates the next (full batches stay few round trips).
    """
    iterator = iter(items)
    size = min(first, most)
    while batch := list(itertools.islice(iterator, size)):
        yield batch
        size = min(size * 2, most)


class TouchIngest:
    """Touches stored batch by batch in one transaction (the caller's, or its own).

    ``add(rows, done)`` validates a batch and builds its rows on the
    caller's thread. On PostgreSQL the database work runs on a writer
    thread meanwhile: one COPY and INSERT … ON CONFLICT per batch (which
    also marks the accounts ``needs_recompute``), and the lookups of the
    references a batch names that no earlier batch did. A batch whose
    lookups are queued waits (staged) until the next ``add`` or the end of
    the block, so its rows are built while PostgreSQL still writes the
    batch before it and the writer thread runs nothing but SQL. The writer
    borrows the caller's connection (Django's thread sharing), so it works
    in the caller's transaction and sees its uncommitted rows. Elsewhere
    all of it runs inline. ``done(result)`` is called on the caller's
    thread, in order, once a batch is written (its indexes count within
    that batch); leaving the block writes what is staged, waits for the
    last write and commits, or rolls back on an error. While the block is
    open the caller must not use the database.
    """

    #: Batches written or queued but not yet reported before ``add`` waits for one.
    depth = 2

    def __init__(
        self,
        *,
        source: str = "",
        options: ParseOptions | None = None,
        keys: Mapping[str, str] | None = None,
    ) -> None:
        self.source = source
        self.options = options or ParseOptions()
        self._keys = _row_keys(keys)
        self._domains: dict[str, str | None] = {}
        self._refs = _References(create_programs=self.options.create_programs)
        self._pending: deque[tuple[Future | None, BulkTouchResult, _Done]] = deque()
        #: A batch whose lookups the writer is making: (cleaned rows, result, done, lookups).
        self._staged: tuple[list, BulkTouchResult, _Done, Future] | None = None
        self._last: Future | None = None  # the writer's last job
        self._atomic: Any = None
        self._shared: Any = None
        self._executor: ThreadPoolExecutor | None = None
        self._writer: _Writer = _OrmWriter()
        self._started = False
        self._failed = False

    @property
    def programs_created(self) -> list[str]:
        """Names of the programs this ingest created (``ParseOptions.create_programs``)."""
        return list(self._refs.programs_created)

    def __enter__(self) -> TouchIngest:
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        _NO_GC.acquire()
        if connection.vendor == "postgresql":
            self._writer = _PostgresWriter()
            self._shared = connections[DEFAULT_DB_ALIAS]
            self._shared.inc_thread_sharing()
            _SHORT_SWITCH.acquire()
            self._executor = ThreadPoolExecutor(
                max_workers=1,
                thread_name_prefix="touch-writer",
                initializer=_use_connection,
                initargs=(self._shared,),
            )
        return self

    def add(self, rows: Sequence[Any], done: _Done) -> None:
        """Validate ``rows`` now; store them (on the writer thread on PostgreSQL), then ``done``."""
        self._report(wait=False)  # a writer error surfaces here, before more work
        result = BulkTouchResult()
        cleaned: list[tuple[int, tuple]] = []
        clean, source, options = _clean, self.source, self.options
        domains, keys = self._domains, self._keys
        for index, row in enumerate(rows):
            try:
                cleaned.append((index, clean(row, source, options, domains, keys)))
            except _Reject as exc:
                result.rejected.append(TouchRejection(index, exc.field, exc.reason))
        asks = self._refs.new(cleaned)
        executor = self._executor
        if executor is None:
            self._refs.fetch(asks)
            records = _records(cleaned, self._refs, result)
            if records:
                self._write(records, result, None)
            self._pending.append((None, result, done))
            self._report(wait=False)
            return
        lookups = None
        if asks:
            if self._staged is None and (self._last is None or self._last.done()):
                self._refs.fetch(asks)  # the writer is idle: the connection is free
            else:
                lookups = self._last = executor.submit(self._fetch, asks)
        staged, self._staged = self._staged, None
        if staged is not None:
            self._submit(executor, *_looked_up(staged))
        if lookups is None:
            self._submit(executor, cleaned, result, done)
        else:
            self._staged = (cleaned, result, done, lookups)
        self._report(wait=len(self._pending) > self.depth)

    def _submit(
        self, executor: ThreadPoolExecutor, cleaned: list, result: BulkTouchResult, done: _Done
    ) -> None:
        """Build a batch's rows on this thread and queue their write."""
        records = _records(cleaned, self._refs, result)
        future = None
        if records:
            future = self._last = executor.submit(self._write, records, result, _copy_text(records))
        self._pending.append((future, result, done))

    def _fetch(self, asks: _Asks) -> None:
        """Lookups, on the writer thread; skipped after a failure."""
        if self._failed:
            return
        try:
            self._refs.fetch(asks)
        except BaseException:
            self._failed = True
            raise

    def _write(
        self, records: list[tuple[int, tuple]], result: BulkTouchResult, data: bytes | None
    ) -> None:
        """Write one batch; after a failure the queued batches are skipped."""
        if self._failed:
            return
        try:
            if not self._started:
                self._started = True
                self._writer.start()
            self._writer.write(records, result, data)
        except BaseException:
            self._failed = True
            raise

    def _report(self, *, wait: bool, all_: bool = False) -> None:
        """Hand written batches to their ``done``; wait for the oldest when asked."""
        while self._pending:
            future, result, done = self._pending[0]
            if future is not None and not (wait or all_ or future.done()):
                return
            self._pending.popleft()
            wait = False
            if future is not None:
                future.result()  # re-raises the writer's error here
            result.rejected.sort(key=_by_index)
            done(result)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            staged, self._staged = self._staged, None
            if exc_type is None:
                if staged is not None and self._executor is not None:
                    self._submit(self._executor, *_looked_up(staged))
                self._report(wait=True, all_=True)
                if self._started:
                    self._writer.finish()
        except BaseException as error:
            self._stop()
            self._atomic.__exit__(type(error), error, error.__traceback__)
            raise
        self._stop()
        self._atomic.__exit__(exc_type, exc, tb)

    def _stop(self) -> None:
        """Let a running write finish (the connection is shared); drop the queued ones."""
        if self._executor is not None:
            self._failed = True
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
            self._shared.dec_thread_sharing()
            _SHORT_SWITCH.release()
        _NO_GC.release()


def _looked_up(
    staged: tuple[list, BulkTouchResult, _Done, Future],
) -> tuple[list, BulkTouchResult, _Done]:
    """A staged batch once the writer has made its lookups (their error raises here)."""
    cleaned, result, done, lookups = staged
    lookups.result()
    return cleaned, result, done


class _ProcessSetting:
    """A process-wide setting changed while any ingest runs; the last one out restores it."""

    def __init__(
        self, get: Callable[[], Any], put: Callable[[Any], None], value: Callable[[Any], Any]
    ) -> None:
        self._get, self._put, self._value = get, put, value
        self._lock = threading.Lock()
        self._users = 0
        self._saved: Any = None

    def acquire(self) -> None:
        with self._lock:
            if self._users == 0:
                self._saved = self._get()
                self._put(self._value(self._saved))
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._put(self._saved)


def _gc_enabled(on: bool) -> None:
    if on:
        gc.enable()
    else:
        gc.disable()


#: No cyclic garbage collection while an ingest runs. Its batches are thousands of
#: container objects that live a little while, which set off a full collection every
#: few batches: a quarter of an import's Python time. Its data makes no cycles (they
#: are freed by reference counting), and collection resumes at the end.
_NO_GC = _ProcessSetting(gc.isenabled, _gc_enabled, lambda saved: False)
#: A short GIL switch interval while a writer thread runs. The writer mostly waits for
#: PostgreSQL; after each reply it needs the GIL back, and with Python's 5 ms default a
#: busy caller thread keeps it that long every time (a tenth of an import's time).
_SHORT_SWITCH = _ProcessSetting(
    sys.getswitchinterval, sys.setswitchinterval, lambda saved: min(saved, 0.001)
)


def _use_connection(shared: Any) -> None:
    """Writer-thread initializer: the ORM in this thread uses the caller's connection."""
    connections[DEFAULT_DB_ALIAS] = shared


def _by_index(rejection: TouchRejection) -> int:
    return rejection.index


def touch_bulk_create(
    rows: Sequence[Any],
    *,
    source: str = "",
    options: ParseOptions | None = None,
    keys: Mapping[str, str] | None = None,
) -> BulkTouchResult:
    """Validate and store touches set-based; idempotent on (source, external id).

    Every row is checked first; rejected rows are returned with their index
    and never block the valid ones. A row without an external id gets one
    derived from a hash of its content (account, stakeholder, program,
    kind, time, channel, direction, url, asset, position, minutes, cost),
    so re-sending the same touch is a duplicate, not a second touch. On
    PostgreSQL the rows go in batches of up to ``BULK_BATCH`` by COPY
    (see :class:`_PostgresWriter`; the unique index on the keys also makes
    concurrent requests with the same keys count as duplicates) while the
    next batch is validated (:class:`TouchIngest`); on SQLite
    through ``bulk_create(ignore_conflicts=True)``. The accounts that
    received touches are marked ``needs_recompute`` in the same
    transaction. ``keys`` maps row keys to fields for rows that spell some
    fields differently (rejections still name the fields).
    """

    def write() -> BulkTouchResult:
        total = BulkTouchResult()
        with TouchIngest(source=source, options=options, keys=keys) as ingest:
            start = 0
            for batch in ramped_batches(rows, BULK_BATCH):
                ingest.add(batch, functools.partial(total.absorb, offset=start))
                start += len(batch)
        total.rejected.sort(key=_by_index)
        return total

    # Concurrent requests with overlapping new keys can deadlock on the unique index;
    # the loser's whole ingest (one transaction or savepoint) runs again.
    return retry_on_write_conflict(write)
