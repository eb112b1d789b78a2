import orjson
import pytest
from pydantic import ValidationError

from api.schemas import HostIn, IncrementIn, IntegerIn, SampleIn
from cluster.common.errors import InvalidInput


@pytest.mark.parametrize(
    "body",
    [
        {"labels": ["a"], "increment": 1.0},
        {"labels": ["a"], "increment": True},
        {"labels": ["a"], "increment": "1"},
        {"labels": ["a"], "increment": -1},
        {"labels": ["a"], "increment": 2**63},
        {"labels": [], "increment": 1},
        {"labels": "a", "increment": 1},
        {"labels": [""], "increment": 1},
        {"labels": [1], "increment": 1},
        {"labels": ["a\nb"], "increment": 1},
        {"labels": ["x" * 257], "increment": 1},
        {"labels": ["a"] * 1001, "increment": 1},
        {"labels": ["a"]},
        {"increment": 1},
        {"labels": ["a"], "increment": 1, "extra": 1},
    ],
)
def test_increment_rejects(body):
    with pytest.raises(ValidationError):
        IncrementIn.model_validate(body)


def test_increment_accepts_limits():
    body = IncrementIn.model_validate({"labels": ["x" * 256, "é"], "increment": 2**63 - 1})
    assert body.increment == 2**63 - 1


def test_timestamps_are_parsed_in_the_schemas_to_unix_seconds():
    sample = SampleIn.model_validate(
        {"timestamp": "2024-02-02T11:43:02.099Z", "name": "t", "value": 1}
    )
    assert sample.timestamp == 1_706_874_182.099
    row = {"id": "h", "cpu_usage": 1, "memory_usage": 2, "disk_usage": 3}
    host = HostIn.model_validate({**row, "timestamp": "2024-02-02T12:43:02+01:00"})
    assert host.timestamp == 1_706_874_182.0
    assert IntegerIn.model_validate({"integer": 1}).timestamp is None
    assert (
        IntegerIn.model_validate({"integer": 1, "timestamp": "1970-01-01T00:00:00Z"}).timestamp == 0
    )


@pytest.mark.parametrize(
    "text", ["20240202T114302Z", "2024-W05-5T11:43:02Z", "2024-02-02T11:00:00"]
)
def test_a_bad_timestamp_is_invalid_input_naming_the_value(text):
    with pytest.raises(InvalidInput, match="offset") as refused:
        SampleIn.model_validate_json(orjson.dumps({"timestamp": text, "name": "t", "value": 1}))
    assert repr(text) in refused.value.detail


@pytest.mark.parametrize("stamp", [1_706_874_182, 1_706_874_182.5, None, ["2024-02-02T11:00:00Z"]])
def test_a_timestamp_that_is_not_a_string_is_a_validation_error(stamp):
    with pytest.raises(ValidationError, match="valid string"):
        SampleIn.model_validate({"timestamp": stamp, "name": "t", "value": 1})
