"""Fixtures of the API tests: clients for each kind of caller."""

import pytest

from tests.conftest import token_client


@pytest.fixture
def editor_read_api(editor):
    """An editor's read-only token: may read, may not write."""
    return token_client(editor, "read")


@pytest.fixture
def viewer_write_api(viewer):
    """A viewer's read-write token: the role still forbids writes."""
    return token_client(viewer, "write")
