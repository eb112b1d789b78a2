"""Counters, compatible with the original distributed counter: POST/GET /metrics, query.

Handlers return responses themselves: a declared response model would make FastAPI validate
every counter of a large map again on the way out. The two write routes are plain Starlette
routes (`WRITE_ROUTES`, mounted by create_app): FastAPI's per-request machinery (dependency
solving, exit stacks) was a measurable share of the hot path; their errors still go through
api/errors.py, which is installed on the whole app."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence

import msgspec
import orjson
from fastapi import APIRouter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import exposition, promql
from api.bodies import AT_ONCE, ITEMS_A_STEP, Piece, validated
from api.deps import NodeDep, idempotency_key, media_type, read_body
from api.errors import describe_validation
from api.responses import JSONResponse
from api.schemas import BatchIn, IncrementIn
from cluster.common import wire
from cluster.common.errors import InvalidInput, NotFound, TooLarge
from cluster.node.node import Node
from cluster.query import QueryError

NDJSON = ("application/x-ndjson", "application/jsonl", "application/ndjson")

router = APIRouter(tags=["counters"])


async def increment(request: Request) -> Response:
    """Add `increment` to every label; answer each label's value right after this request's
    increment, once it is durably applied. (The hot path: no dependencies, see api/deps.py.)"""
    state = request.app.state
    body = IncrementIn.model_validate_json(await read_body(request, state.settings.max_body_bytes))
    increments = [wire.Increment(body.labels, body.increment)]
    return JSONResponse(await state.node.submit(wire.Request(increments, idempotency_key(request))))


async def increment_batch(request: Request) -> Response:
    """Many increments in one request, all applied or none: `{"items": [{"labels": [...],
    "increment": n}, ...]}`, or NDJSON (`Content-Type: application/x-ndjson`, one item a line).
    Answers the value of every touched label right after this request."""
    state = request.app.state
    settings = state.settings
    raw = await read_body(request, settings.max_batch_body_bytes, also=NDJSON)
    ndjson = media_type(request) in NDJSON
    items = await batch_items(raw, ndjson, settings.max_batch_items, settings.max_request_labels)
    increments = [wire.Increment(item.labels, item.increment) for item in items]
    return JSONResponse(await state.node.submit(wire.Request(increments, idempotency_key(request))))


WRITE_ROUTES = [
    Route("/metrics", increment, methods=["POST"]),
    Route("/metrics/batch", increment_batch, methods=["POST"]),
]


class _Items(msgspec.Struct, forbid_unknown_fields=True):
    items: list[msgspec.Raw] = []  # each item kept as its JSON: counted, then validated


class _Labels(msgspec.Struct):
    labels: list[str] = []


_items = msgspec.json.Decoder(_Items).decode
_labels = msgspec.json.Decoder(_Labels).decode
# Labels of a validation step: ~3 ms of the loop (validating costs ~0.3 us a label).
LABELS_A_STEP = 10_000


async def batch_items(
    raw: bytes, ndjson: bool, max_items: int, max_labels: int
) -> list[IncrementIn]:
    """The batch's items, validated; 413 past `max_items` or `max_labels`, counted before
    anything is validated. First bounds that escapes cannot lower: every item is an object (an
    opening brace) and every label a JSON string (two quotes). Within small bounds (the hot
    path) the body is validated at once. Else each item is kept as its JSON (a loose decode;
    not JSON: 400 with the decoder's message), its labels are counted a few hundred items at a
    time with the loop free in between, stopping as soon as the cap is passed, and the items
    are validated in steps of about LABELS_A_STEP labels (api/bodies.py). So no client's
    oversized batch holds the node for long, nor its largest accepted one."""
    items_bound = raw.count(b"{") - (0 if ndjson else 1)
    labels_bound = raw.count(b'"') // 2
    if items_bound <= min(AT_ONCE, max_items) and labels_bound <= max_labels:
        return _ndjson_items(raw) if ndjson else BatchIn.model_validate_json(raw).items
    pieces, names = _pieces(raw, ndjson)
    if len(pieces) > max_items:
        raise TooLarge(_too_many(len(pieces), max_items, "", max_labels))
    steps, labels, in_step = [], 0, 0
    for index, piece in enumerate(pieces):
        try:
            count = len(_labels(piece).labels)
        except msgspec.DecodeError as exc:
            raise InvalidInput(f"{names(index).rstrip('.: ')}: {exc}") from None
        labels += count
        in_step += count
        if labels > max_labels:
            raise TooLarge(_too_many(len(pieces), max_items, f"at least {labels}", max_labels))
        if in_step >= LABELS_A_STEP or (index + 1) % ITEMS_A_STEP == 0:
            steps.append(index + 1)
            in_step = 0
            await asyncio.sleep(0)
    return await validated(pieces, IncrementIn, names, [s for s in steps if s < len(pieces)])


def _pieces(raw: bytes, ndjson: bool) -> tuple[Sequence[Piece], Callable[[int], str]]:
    """The items as their JSON, and how an error names the item at an index."""
    if ndjson:
        numbered = [(n, line) for n, line in enumerate(raw.split(b"\n"), 1) if line.strip()]
        if not numbered:
            raise InvalidInput("the body holds no item; send one JSON object a line")
        return [line for _, line in numbered], lambda index: f"line {numbered[index][0]}: "
    try:
        items = _items(raw).items
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the body is not a batch of items: {exc}") from None
    if not items:
        raise InvalidInput('items: the batch holds no item; send {"items": [...]}')
    return items, lambda index: f"items.{index}."


def _too_many(items: int, max_items: int, labels: str, max_labels: int) -> str:
    held = f"{items} items and {labels} labels" if labels else f"{items} items"
    return (
        f"the batch holds {held}; the limits are {max_items} items and {max_labels} labels "
        "a request; split the batch"
    )


def _ndjson_items(raw: bytes) -> list[IncrementIn]:
    items = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if line.strip():
            try:
                items.append(IncrementIn.model_validate_json(line))
            except ValidationError as exc:
                raise InvalidInput(f"line {number}: {describe_validation(exc)}") from None
    if not items:
        raise InvalidInput("the body holds no item; send one JSON object a line")
    return items


@router.get("/metrics")
async def all_counters(node: NodeDep, request: Request) -> Response:
    """Every counter as JSON, or in Prometheus's exposition format for a scraper that asks."""
    kind = exposition.chosen(request.headers.get("accept", ""))
    if kind is None:
        return Response(await node.read(wire.AllCounters()), media_type="application/json")
    counters, samples = await node.read(wire.Scrape())
    body, content_type = exposition.render(kind, orjson.loads(counters), samples)
    return Response(body, headers={"Content-Type": content_type})


@router.get("/metrics/query")
async def query(node: NodeDep, expression: str = "") -> Response:
    """`expression` is a comma-separated list of labels (the answer has those that exist; empty
    means every counter) or a PromQL query, evaluated now (Prometheus's answer). A list whose
    parts are all plain labels (letters, digits, `_ : . - /`) is a list; so is any text that
    is not PromQL but names counters."""
    labels = [part.strip() for part in expression.split(",") if part.strip()]
    if not labels:
        return Response(await node.read(wire.AllCounters()), media_type="application/json")
    if all(_PLAIN.fullmatch(label) for label in labels):
        return await _counter_values(node, labels)
    try:
        data = await promql.instant(node, expression, None)
    except QueryError as exc:
        if exc.error_type == "execution":
            raise
        found = await node.read(wire.CounterValues(labels))
        if found:  # labels that are not PromQL, as the list always took them
            return JSONResponse(found)
        raise InvalidInput(exc.detail, message="invalid expression") from None
    return JSONResponse({"status": "success", "data": data})


_PLAIN = re.compile(r"[A-Za-z0-9_:./-]+")


async def _counter_values(node: Node, labels: list[str]) -> Response:
    found = await node.read(wire.CounterValues(labels))
    if not found:
        raise NotFound(f"none of the labels {', '.join(labels)[:500]} exists")
    return JSONResponse(found)
