"""Bodies that hold a list of items (`POST /metrics/batch`, the originals' JSON lists): counted
before they are validated, then validated in steps with the event loop free between them.

pydantic-core validates without releasing the GIL or running Python code, so a worker thread
would not let the loop serve while a big body is validated (measured: the longest gap of the
loop's 1 ms ticker is the whole validation, thread or not). Steps do: each item is kept as its
raw JSON (msgspec's loose decode, ~3 ms a MiB), and the items are validated a step at a time.
A step also bounds what a refusal costs: validation stops at the first step with an error, so a
list of 10,000 wrong items builds the errors of one step, not 30,000 of them (34 ms, measured)."""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Callable, Sequence
from typing import TypeVar

import msgspec
from pydantic import BaseModel, TypeAdapter, ValidationError

from api.errors import describe_validation
from cluster.common.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)
Piece = bytes | msgspec.Raw  # one item's JSON, not decoded

# Lists of up to this many items are validated at once: the small requests of the hot path.
AT_ONCE = 64
# Items of a step: a step of 500 small items validates in ~1 ms.
ITEMS_A_STEP = 500

_list = msgspec.json.Decoder(list[msgspec.Raw]).decode


def json_list(raw: bytes) -> list[msgspec.Raw]:
    """The items of a JSON list, each as its raw JSON; 400 when the body is no JSON list."""
    try:
        return _list(raw)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the body is not a JSON list of objects: {exc}") from None


async def validated(
    pieces: Sequence[Piece],
    model: type[M],
    where: Callable[[int], str],
    steps: Sequence[int] = (),
) -> list[M]:
    """Every piece validated as `model`, a step at a time, the loop free between steps: 400 at
    the first step with an error, each problem named after `where(index of its piece)` (e.g.
    `items.3.`, then the field). `steps`:
    the indexes where steps start after the first (default: every ITEMS_A_STEP pieces)."""
    adapter = _list_of(model)
    starts = [0, *(steps or range(ITEMS_A_STEP, len(pieces), ITEMS_A_STEP)), len(pieces)]
    found: list[M] = []
    for start, end in itertools.pairwise(starts):
        body = b"[" + b",".join(pieces[start:end]) + b"]"
        try:
            found.extend(adapter.validate_json(body))
        except ValidationError as exc:
            detail = describe_validation(exc, where=lambda index, start=start: where(start + index))
            raise InvalidInput(detail) from None
        if end < len(pieces):
            await asyncio.sleep(0)
    return found


@functools.cache
def _list_of(model: type[BaseModel]) -> TypeAdapter[list[BaseModel]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]
