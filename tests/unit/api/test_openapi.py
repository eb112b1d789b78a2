"""The OpenAPI document describes the write routes of the counters, from their own models."""

from __future__ import annotations


def test_write_routes_are_in_the_openapi_document(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    schemas = document["components"]["schemas"]
    for path, model in (("/metrics", "IncrementIn"), ("/metrics/batch", "BatchIn")):
        post = document["paths"][path]["post"]
        body = post["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{model}"}
        assert {"200", "400", "409", "413", "415", "422", "429", "503"} <= set(post["responses"])
        assert [p["name"] for p in post["parameters"]] == ["Idempotency-Key"]
    labels = schemas["IncrementIn"]["properties"]["labels"]
    assert labels["maxItems"] == 1000 and labels["items"]["maxLength"] == 256
    assert schemas["IncrementIn"]["additionalProperties"] is False
    assert "get" in document["paths"]["/metrics"]  # the read is still there
    operations = [
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
    ]
    assert len(operations) == len(set(operations))
