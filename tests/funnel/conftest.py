"""Fixtures shared by the KPI engine's tests."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from funnel.kpis import measures


@pytest.fixture
def source_statements(monkeypatch) -> dict[str, str]:
    """Source name -> the SQL of its last aggregate statement run (filled as they run)."""
    statements: dict[str, str] = {}
    built, run = measures.pending_by_group, measures._aggregate

    def pending(ctx, source, *args, **kwargs):
        made = built(ctx, source, *args, **kwargs)
        made.source = source.name
        return made

    def aggregate(made, *args):
        with CaptureQueriesContext(connection) as queries:
            row = run(made, *args)
        statements[made.source] = queries[-1]["sql"]
        return row

    monkeypatch.setattr(measures, "pending_by_group", pending)
    monkeypatch.setattr(measures, "_aggregate", aggregate)
    return statements
