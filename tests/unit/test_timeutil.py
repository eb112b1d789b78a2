import pytest

from cluster.common.errors import InvalidInput
from cluster.common.timeutil import day_of, parse_day, parse_rfc3339, rfc3339


def test_rfc3339_round_trip_with_and_without_fraction():
    assert rfc3339(parse_rfc3339("2024-02-02T11:43:02Z")) == "2024-02-02T11:43:02Z"
    assert parse_rfc3339("2024-02-02T12:43:02.5+01:00") == parse_rfc3339("2024-02-02T11:43:02.5Z")
    assert day_of(parse_rfc3339("2024-02-02T23:59:59Z")) == "2024-02-02"


@pytest.mark.parametrize(
    "text",
    [
        "2024-02-02",  # a date, no time
        "2024-02-02T11:43:02",  # no offset
        "yesterday",
        "0001-01-01T00:00:00+14:00",  # before 1970: could not be written back
        "9999-12-31T23:59:59-14:00",  # after 9999
    ],
)
def test_bad_timestamps_are_invalid_input_naming_the_value(text):
    with pytest.raises(InvalidInput, match=repr(text).replace("+", r"\+")):
        parse_rfc3339(text)


@pytest.mark.parametrize("text", ["2024-13-01", "2024-02-30", "24-02-01", "2024-2-1"])
def test_bad_days_are_invalid_input(text):
    with pytest.raises(InvalidInput):
        parse_day(text)
