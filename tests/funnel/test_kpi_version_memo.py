"""The data version is read once per request (``version.memoised``), yet a write made in
the request is seen: any statement that is not a SELECT forgets it (#18)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from funnel.kpis import definitions_resolve, version
from tests.factories import AccountFactory, UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "connection.vendor != 'postgresql'", reason="the data version needs PostgreSQL"
    ),
]


def _reads(queries) -> int:
    return sum("funnel_kpi_data_change" in q["sql"] for q in queries)


def test_inside_a_request_the_version_is_read_once():
    definitions_resolve(None)  # the shipped versions
    with version.memoised(), CaptureQueriesContext(connection) as queries:
        first = version.data_key()
        assert version.data_key() == first
        found = version.data_version_and_definitions(None)
        assert found is not None and found[0] == first
        assert version.data_version_and_definitions(None) == found
    # data_key once; the definitions ref once (it came with the version, read again).
    assert _reads(queries) == 2
    with CaptureQueriesContext(connection) as queries:  # outside: every call reads
        version.data_key()
        version.data_key()
    assert _reads(queries) == 2


def test_a_write_inside_the_request_is_seen():
    definitions_resolve(None)
    with version.memoised():
        before = version.data_key()
        AccountFactory()
        after = version.data_key()
        assert after != before
        assert version.data_version_and_definitions(None)[0] == after
    assert version.data_key() == after


def test_the_role_is_read_once_and_follows_a_change_of_groups():
    from django.contrib.auth.models import Group

    user = UserFactory()
    viewer, _ = Group.objects.get_or_create(name="viewer")
    editor, _ = Group.objects.get_or_create(name="editor")
    user.groups.add(viewer)
    with CaptureQueriesContext(connection) as queries:
        assert user.role == "viewer"
        assert user.role == "viewer"
    assert len(queries) == 1
    user.groups.add(editor)
    assert user.role == "editor"
    user.groups.remove(editor)
    assert user.role == "viewer"
    user.groups.clear()
    assert user.role is None
