import pytest
from pydantic import ValidationError

from api.schemas import IncrementIn


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
