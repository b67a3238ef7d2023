"""A lost database answers 503 (JSON or HTML, with Retry-After); the next request recovers."""

import pytest
from django.db import close_old_connections, connection
from django.db.utils import OperationalError
from django.test import Client

from tests.conftest import postgresql_only, token_client


def _kill_our_connection() -> None:
    """Terminate this process's PostgreSQL backend, as a database restart would."""
    with pytest.raises(OperationalError), connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_api_and_pages_answer_503_then_recover(viewer, request):
    api = token_client(viewer)
    # Errors outside views reach handler500; the test client would re-raise them.
    page = Client(raise_request_exception=False)
    page.force_login(viewer)
    assert api.get("/api/v1/accounts/").status_code == 200

    _kill_our_connection()
    request.addfinalizer(connection.close)
    response = api.get("/api/v1/accounts/")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "database is unavailable" in response.json()["detail"]

    html = page.get("/accounts/")
    assert html.status_code == 503
    assert html["Content-Type"].startswith("text/html")
    assert b"Temporarily unavailable" in html.content
    assert html["Retry-After"] == "30"

    as_json = page.get("/accounts/", HTTP_ACCEPT="application/json")
    assert as_json.status_code == 503 and "detail" in as_json.json()

    # What Django does at the start of every request (CONN_HEALTH_CHECKS is on):
    close_old_connections()
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True
    assert api.get("/api/v1/accounts/").status_code == 200
    assert page.get("/accounts/").status_code == 200


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_unreachable_server_is_503(viewer, settings):
    api = token_client(viewer)
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = "1"  # nothing listens there
    try:
        response = api.get("/api/v1/accounts/")
        assert response.status_code == 503
        assert response["Retry-After"] == "30"
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port
    assert api.get("/api/v1/accounts/").status_code == 200
