"""What the routes share: the settings and the node (kept in app.state) as dependencies, and
the body and header readers of the write routes."""

from __future__ import annotations

import re
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from api.bodies import json_list, validated
from cluster.common.config import Settings
from cluster.common.errors import InvalidInput
from cluster.node.node import Node


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _node(request: Request) -> Node:
    return request.app.state.node


SettingsDep = Annotated[Settings, Depends(_settings)]
NodeDep = Annotated[Node, Depends(_node)]


def media_type(request: Request) -> str | None:
    """The request's media type, lower case, without parameters; None without the header."""
    value = request.headers.get("content-type")
    return None if value is None else value.split(";", 1)[0].strip().lower()


def _is_json(media: str) -> bool:
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_body(
    request: Request, limit: int, also: tuple[str, ...] = (), any_media: bool = False
) -> bytes:
    """The raw body: 415 unless it is JSON (or one of the media types `also`; no header is read
    as JSON), 413 past `limit` bytes (checked while reading, so a lying or missing
    Content-Length cannot make the node buffer more). `any_media`: the Content-Type is not
    looked at (an original system ignored it, and its clients rely on that, e.g. curl's
    default form type). A plain function, not a dependency:
    FastAPI's dependency solving is a measurable share of the hot path's cost."""
    media = media_type(request)
    if not any_media and media is not None and not (_is_json(media) or media in also):
        accepted = ", ".join(("application/json", *also))
        raise HTTPException(415, f"Content-Type {media!r} is not accepted here; send {accepted}")
    body = await read_limited(request, limit)
    if not body:
        raise InvalidInput("the body is empty; send a JSON object")
    return body


async def read_limited(request: Request, limit: int) -> bytes:
    """The raw body, maybe empty; 413 past `limit` bytes, checked while reading."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


M = TypeVar("M", bound=BaseModel)


async def one_or_many(raw: bytes, model: type[M], limit: int) -> list[M]:
    """A JSON object, or a JSON list of up to `limit` of them (the originals took both). A list
    is counted before it is validated (a loose decode, each item kept as its JSON), and a long
    one is validated in steps with the loop free in between (api/bodies.py)."""
    if raw.lstrip()[:1] != b"[":
        return [model.model_validate_json(raw)]
    items = json_list(raw)
    if not items:
        raise InvalidInput("the list is empty; send at least one object")
    if len(items) > limit:
        raise InvalidInput(f"{len(items)} objects exceed the limit of {limit}; split the list")
    return await validated(items, model, "{}.".format)


IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


def idempotency_key(request: Request) -> str | None:
    """The optional `Idempotency-Key` header: a client retrying with the same key (within
    `idempotency_window`) gets the first answer, and the request is not applied again."""
    key = request.headers.get("idempotency-key")
    if key is not None and not _KEY.match(key):
        raise InvalidInput("Idempotency-Key must be 1-255 visible ASCII characters, no spaces")
    return key
