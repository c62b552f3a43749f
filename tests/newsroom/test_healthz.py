import pytest
from django.db import connection


@pytest.mark.django_db
def test_healthz_answers_200_when_the_database_answers(client):
    """Load balancers see a healthy instance while PostgreSQL answers."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.django_db(transaction=True)
def test_healthz_answers_503_when_the_database_is_down(client, tmp_path):
    """Pointed at a server that is not there, the check fails with 503, not 500."""
    original_host = connection.settings_dict["HOST"]
    connection.close()
    # An empty folder: no PostgreSQL socket listens there.
    connection.settings_dict["HOST"] = str(tmp_path)
    try:
        response = client.get("/healthz")
    finally:
        connection.close()
        connection.settings_dict["HOST"] = original_host
    assert response.status_code == 503
    assert response.json()["database"] == "unavailable"
    # and the site is healthy again once the database is back
    assert client.get("/healthz").status_code == 200
