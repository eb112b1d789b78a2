"""Request and response models of the HTTP API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from cluster.common.timeutil import parse_rfc3339
from cluster.common.wire import MAX_VALUE

MAX_LABELS_PER_REQUEST = 1000
MAX_LABEL_LENGTH = 256

# Printable text only: control characters in a label break logs, terminals and exposition
# formats. A pattern, not a Python validator: it runs in pydantic-core, on every label of a
# 100k-label batch (api/errors.py words its error).
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"

Label = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_LABEL_LENGTH, pattern=PRINTABLE),
]


class IncrementIn(BaseModel):
    """`POST /metrics`: add `increment` to every label listed (a label listed twice, twice)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    labels: list[Label] = Field(min_length=1, max_length=MAX_LABELS_PER_REQUEST)
    increment: int = Field(ge=0, le=MAX_VALUE)


class ErrorOut(BaseModel):
    """Every error of our own routes: a short name and what to fix."""

    error: str
    detail: str


class MetricsServerErrorOut(BaseModel):
    """Errors under /v1/metrics: the metrics-server's sentence, then ours."""

    message: str
    error: str
    detail: str


class PrometheusErrorOut(BaseModel):
    """Errors of Prometheus's query API (/api/v1/ but the admin's): as Prometheus writes them."""

    status: Literal["error"]
    errorType: str  # noqa: N815 (Prometheus's name)
    error: str


class LoopstockErrorOut(BaseModel):
    """Errors under /v1/integers: loopstock's code and message."""

    code: str
    message: str


class BatchIn(BaseModel):
    """`POST /metrics/batch`: many increments, applied all together or not at all."""

    model_config = ConfigDict(strict=True, extra="forbid")

    items: list[IncrementIn] = Field(min_length=1)


# The original systems' bodies. Unknown fields are ignored, as they were there.
# A name that becomes a path segment of a read (/v1/metrics/{name}/..., /v1/users/{username})
# cannot hold "/": it would be stored and never found again.
NAME = r"^[^\x00-\x1f\x7f/]+$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LABEL_LENGTH, pattern=NAME)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


def _timestamp(value: Any) -> float:
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "Input should be a valid string")
    # InvalidInput, not a ValueError: it leaves validation as it is, so the route answers with
    # its detail naming the value, exactly as when the routes parsed it.
    return parse_rfc3339(value)


# The years every offset keeps within 1970-9999 in UTC (1970-01-01T00:30+01:00 is 1969).
_YEARS = r"(?:197[1-9]|19[89][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
# What cluster/common/timeutil.py's parse_rfc3339 takes (ciso8601, strict: an offset, no leap
# second), as the OpenAPI document states it: RFC 3339's grammar, years as above.
DATE_TIME = {
    "type": "string",
    "format": "date-time",
    "pattern": (
        rf"^{_YEARS}-[0-9]{{2}}-[0-9]{{2}}[Tt ][0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}(\.[0-9]+)?"
        r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
    ),
}
DATE = {"type": "string", "format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}

# An RFC 3339 date-time on the wire (cluster/common/timeutil.py: strict, with its offset, 1970 to
# 9999), Unix seconds in the model. How far ahead it may be depends on the settings and the clock,
# which no JSON Schema can state: the routes check that (timeutil.not_after), and the document
# says it in words.
Timestamp = Annotated[
    float,
    PlainValidator(_timestamp),
    WithJsonSchema(
        {**DATE_TIME, "description": "RFC 3339 with its offset; at most max_future ahead"}
    ),
]


class _Original(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


# A series' label: Prometheus's names, but those starting with "__" (reserved there).
LABEL_NAME = r"^(?:[a-zA-Z][a-zA-Z0-9_]*|_(?:[a-zA-Z0-9][a-zA-Z0-9_]*)?)$"
MAX_SAMPLE_LABELS = 30
LabelName = Annotated[str, StringConstraints(pattern=LABEL_NAME, max_length=MAX_LABEL_LENGTH)]
LabelValue = Annotated[str, StringConstraints(max_length=1024)]


class SampleIn(_Original):
    """`POST /v1/metrics` (metrics-server): one sample; `timestamp` is RFC 3339. `labels` (ours,
    optional) make it a sample of the series of that name and those labels; a label with an
    empty value is no label, as in Prometheus."""

    timestamp: Timestamp
    name: Name
    # Bounded so that no sum of samples in a rollup can overflow to infinity.
    value: float = Field(ge=-1e100, le=1e100, allow_inf_nan=False)
    labels: Annotated[
        dict[LabelName, LabelValue],
        Field(
            max_length=MAX_SAMPLE_LABELS,
            # pydantic states the key pattern as patternProperties, which lets other keys by.
            json_schema_extra={
                "additionalProperties": False,
                "propertyNames": {"pattern": LABEL_NAME, "maxLength": MAX_LABEL_LENGTH},
            },
        ),
    ] = {}

    def label_pairs(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((k, v) for k, v in self.labels.items() if v))


class HostIn(_Original):
    """`POST /v1/hosts/metrics` (metricSys rows, sent by the host agent)."""

    id: Name
    cpu_usage: Percent
    memory_usage: Percent
    disk_usage: Percent
    timestamp: Timestamp


class EventIn(_Original):
    """`POST /event` (the data-ingestion service): every field required, unlike the original,
    which stored a missing field as "" or 0."""

    username: Name
    metric: Name
    count: int = Field(ge=0, le=MAX_VALUE)


MAX_INTEGER = 2**32 - 1  # the original's INT UNSIGNED column


def _integer_in_schema(schema: dict[str, Any]) -> None:
    """The document states what the route checks after the model (with loopstock's own error
    codes): `integer` is required, 1..2^32-1; `generator` and `seq` come both or neither."""
    schema["required"] = ["integer"]
    schema["properties"]["integer"] = {"type": "integer", "minimum": 1, "maximum": MAX_INTEGER}
    schema["anyOf"] = [
        {
            "required": ["generator", "seq"],
            "properties": {"generator": {"type": "string"}, "seq": {"type": "integer"}},
        },
        {"properties": {"generator": {"type": "null"}, "seq": {"type": "null"}}},
    ]


class IntegerIn(_Original):
    """`POST /v1/integers` (loopstock). `generator` and `seq` identify a sample so that a resend
    is not counted twice; `timestamp` (RFC 3339) is its event time, else the server's time."""

    model_config = ConfigDict(json_schema_extra=_integer_in_schema)

    integer: int | None = None
    generator: Name | None = None
    seq: int | None = Field(default=None, ge=0, le=MAX_VALUE)
    timestamp: Timestamp | None = Field(
        default=None,
        description="its window must still be open (integer_window + integer_grace, ~6 s), "
        "else 400 late_integer",
    )
