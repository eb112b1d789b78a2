"""The OpenAPI document tells the truth: the write routes from their own models, exactly the
statuses each operation answers, schemas as strict as the validation (schemathesis checks the
whole of it in test_fuzz.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.openapi import ERRORS
from api.schemas import DATE_TIME
from cluster.common.timeutil import parse_rfc3339


@pytest.fixture
def document(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_write_routes_are_in_the_openapi_document(document):
    schemas = document["components"]["schemas"]
    for path, model in (("/metrics", "IncrementIn"), ("/metrics/batch", "BatchIn")):
        post = document["paths"][path]["post"]
        body = post["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{model}"}
        assert {"200", "400", "409", "413", "415", "422", "429", "503"} == set(post["responses"])
        assert [p["name"] for p in post["parameters"]] == ["Idempotency-Key"]
    labels = schemas["IncrementIn"]["properties"]["labels"]
    assert labels["maxItems"] == 1000 and labels["items"]["maxLength"] == 256
    assert schemas["IncrementIn"]["additionalProperties"] is False
    assert schemas["BatchIn"]["properties"]["items"]["maxItems"] == 10_000  # max_batch_items
    assert "get" in document["paths"]["/metrics"]  # the read is still there
    operations = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(operations) == len(set(operations))


def test_each_operation_lists_exactly_the_errors_it_answers(document):
    for path, method, operation in _operations(document):
        errors = {status for status in operation["responses"] if status >= "400"}
        assert errors == set(ERRORS[operation["operationId"]]), (method, path)
        for status in errors:
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            shape = schema["$ref"].rsplit("/", 1)[1]
            if path.startswith("/v1/integers"):
                assert shape == "LoopstockErrorOut"
            elif path.startswith("/v1/metrics"):
                assert shape == "MetricsServerErrorOut"
            elif path.startswith("/api/v1/") and not path.startswith("/api/v1/admin"):
                assert shape == "PrometheusErrorOut"
            else:
                assert shape == "ErrorOut"
    # FastAPI's own 422 is never answered (api/errors.py makes it a 400): not described.
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_every_write_declares_its_idempotency_key_and_its_body(document):
    for path, method, operation in _operations(document):
        if method == "post" and not path.startswith("/api/v1/"):  # writes, not queries
            names = [p["name"] for p in operation["parameters"]]
            assert "Idempotency-Key" in names, path
            assert operation["requestBody"]["required"] is True, path


def test_the_admin_routes_state_their_token_and_their_selectors(document):
    assert document["components"]["securitySchemes"]["adminToken"]["scheme"] == "bearer"
    for method in ("post", "put"):
        operation = document["paths"]["/api/v1/admin/tsdb/delete_series"][method]
        assert operation["security"] == [{"adminToken": []}]
        [match] = operation["parameters"]  # start and end are refused, not offered
        assert match["name"] == "match[]" and match["required"] is True
        assert match["schema"]["items"]["type"] == "string"


def test_the_loopstock_body_states_what_its_route_checks(document):
    schema = document["components"]["schemas"]["IntegerIn"]
    assert schema["required"] == ["integer"]
    assert schema["properties"]["integer"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 2**32 - 1,
    }
    created = document["paths"]["/v1/integers"]["post"]["responses"]["201"]
    assert "content" not in created  # an empty body


@settings(max_examples=300, derandomize=True, database=None)
@given(
    moment=st.datetimes(datetime(1971, 1, 1), datetime(9998, 12, 31, 23, 59, 59)),
    minutes=st.integers(-23 * 60 - 59, 23 * 60 + 59),
    fraction=st.sampled_from(["", ".5", ".123456"]),
    separator=st.sampled_from("Tt "),
)
def test_every_date_time_of_the_documented_years_matches_and_parses(
    moment, minutes, fraction, separator
):
    moment = moment.replace(microsecond=0, tzinfo=timezone(timedelta(minutes=minutes)))
    text = moment.isoformat(sep=separator)
    text = text.replace("+00:00", "Z") if minutes == 0 else text
    text = text[:19] + fraction + text[19:]
    assert re.fullmatch(DATE_TIME["pattern"], text)
    ts = parse_rfc3339(text)
    assert ts == pytest.approx(moment.timestamp() + float(fraction or 0), abs=1e-6)
    assert datetime.fromtimestamp(ts, UTC).year in range(1970, 10_000)
