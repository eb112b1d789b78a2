"""Request and response models of the HTTP API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cluster.store import MAX_VALUE

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


class BatchIn(BaseModel):
    """`POST /metrics/batch`: many increments, applied all together or not at all."""

    model_config = ConfigDict(strict=True, extra="forbid")

    items: list[IncrementIn] = Field(min_length=1)
