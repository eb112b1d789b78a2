import pytest

from cluster.common.errors import InvalidInput
from cluster.common.timeutil import day_of, not_after, parse_day, parse_rfc3339, rfc3339


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


@pytest.mark.parametrize(
    "text",
    [
        "20240202T114302Z",  # ISO 8601 basic format
        "2024-W05-5T11:43:02Z",  # ISO 8601 week date
        "2024-02-02T11:43:02+0100",  # offset without its colon
    ],
)
def test_iso8601_forms_that_are_not_rfc3339_are_refused(text):
    with pytest.raises(InvalidInput, match="offset") as refused:
        parse_rfc3339(text)
    assert repr(text) in refused.value.detail


def test_rfc3339_with_fractional_seconds_and_an_offset_is_accepted():
    assert parse_rfc3339("2024-02-02T11:43:02.099Z") == 1_706_874_182.099
    assert parse_rfc3339("2024-02-02T12:43:02.250+01:00") == 1_706_874_182.25


def test_out_of_range_and_too_far_ahead_say_so():
    with pytest.raises(InvalidInput, match="1970"):
        parse_rfc3339("0001-01-01T00:00:00+14:00")
    with pytest.raises(InvalidInput, match="ahead"):
        parse_rfc3339("2024-02-02T11:43:03Z", latest=1_706_874_182.0)
    with pytest.raises(InvalidInput, match=r"'2024-02-02T11:43:03Z' is too far ahead"):
        not_after(1_706_874_183.0, latest=1_706_874_182.0)
    assert not_after(1_706_874_182.0, latest=1_706_874_182.0) == 1_706_874_182.0
