import pytest


@pytest.mark.django_db
def test_healthz_reports_database_and_broker(client):
    response = client.get("/healthz")
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    assert response.status_code == 200
    assert body["status"] == "ok"


@pytest.mark.django_db
def test_pages_need_sign_in(client):
    response = client.get("/accounts/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_api_answers_401_to_anonymous(client):
    response = client.get("/api/v1/accounts/")
    assert response.status_code == 401
