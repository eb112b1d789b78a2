"""The admin API: delete_series behind a bearer token; off without one; bad selectors 400."""

from __future__ import annotations

import pytest

TOKEN = "s3cret-admin-token-0123"
DELETE = "/api/v1/admin/tsdb/delete_series"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def admin(make_client):
    client = make_client({"admin_token": TOKEN})
    for labels in (["tmp_a", "tmp_b", "keep"], ["tmp_a"]):
        client.post("/metrics", json={"labels": labels, "increment": 1}).raise_for_status()
    return client


def test_without_a_configured_token_the_admin_api_is_off(client):
    client.post("/metrics", json={"labels": ["x"], "increment": 1}).raise_for_status()
    response = client.post(DELETE, params={"match[]": "x"}, headers=AUTH)
    assert response.status_code == 403
    assert "METRICS_ADMIN_TOKEN" in response.json()["detail"]
    assert client.get("/metrics").json() == {"x": 1}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Basic abc"}, 401),
        ({"Authorization": "Bearer"}, 401),
        ({"Authorization": "Bearer wrong-token-of-some-length"}, 403),
        ({"Authorization": f"Bearer {TOKEN}x"}, 403),
    ],
)
def test_missing_or_wrong_credentials_change_nothing(admin, headers, status):
    response = admin.post(DELETE, params={"match[]": "tmp_a"}, headers=headers)
    assert response.status_code == status, response.text
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert admin.get("/metrics").json() == {"tmp_a": 2, "tmp_b": 1, "keep": 1}


def test_delete_by_name_and_by_regex(admin):
    response = admin.post(DELETE, params={"match[]": "tmp_b"}, headers=AUTH)
    assert response.status_code == 204, response.text
    assert admin.get("/metrics").json() == {"tmp_a": 2, "keep": 1}
    response = admin.put(DELETE, params={"match[]": '{__name__=~"tmp_.*"}'}, headers=AUTH)
    assert response.status_code == 204, response.text
    assert admin.get("/metrics").json() == {"keep": 1}
    # Deleting what is gone is no error (a retried delete).
    assert admin.post(DELETE, params={"match[]": "tmp_b"}, headers=AUTH).status_code == 204
    # A deleted counter starts again from zero.
    assert admin.post("/metrics", json={"labels": ["tmp_a"], "increment": 1}).json() == {"tmp_a": 1}


@pytest.mark.parametrize(
    ("params", "wanted"),
    [
        ({}, "at least one match[]"),
        ({"match[]": "a b"}, 'unexpected identifier "b"'),
        ({"match[]": "sum(x)"}, "not a series selector"),
        ({"match[]": '{job=~".*"}'}, "at least one non-empty matcher"),
        ({"match[]": '{__name__=~"("}'}, "invalid regex"),
        ({"match[]": "x" * 20000}, "longer than 10000"),
        ({"match[]": "tmp_a", "start": "0"}, "start and end are not supported"),
    ],
)
def test_bad_selectors_get_400_and_change_nothing(admin, params, wanted):
    response = admin.post(DELETE, params=params, headers=AUTH)
    assert response.status_code == 400, response.text
    assert wanted in response.json()["detail"]
    assert admin.get("/metrics").json() == {"tmp_a": 2, "tmp_b": 1, "keep": 1}
