"""orjson-rendered JSON responses: several times faster than the stdlib encoder on big maps."""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.responses import JSONResponse as _StarletteJSON


class JSONResponse(_StarletteJSON):
    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except orjson.JSONEncodeError:
            # An integer past 64 bits (a day's total of events can add up that far once its
            # counter was deleted and posted again): JSON has no such bound, and json writes it.
            return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()
