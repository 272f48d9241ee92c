"""``/api/settings``: the settings as one JSON object; PUT and DELETE one key (SPEC 13).

``GET /api/settings`` is what the dictionary trim reads (with the daemon's internal
token when a password is set, see :mod:`cashserver.http.security`); changing a
setting needs the login and the CSRF token like every other write.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cashserver.http.context import HttpContext
from cashserver.log import get_logger
from cashserver.store.settings import BadSettingKey, Settings

log = get_logger(__name__)


async def _value_of(request: Request) -> str | None:
    """The new value: ``{"value": "..."}`` as JSON, or a ``value`` form field."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            document: Any = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None
        value = document.get("value") if isinstance(document, dict) else None
    else:
        value = (await request.form()).get("value")
    return value if isinstance(value, str) else None


def routes(ctx: HttpContext) -> list[BaseRoute]:
    store = Settings(ctx.engine)

    def list_settings(_request: Request) -> Response:
        return JSONResponse(store.all())

    async def put_setting(request: Request) -> Response:
        key = request.path_params["key"]
        value = await _value_of(request)
        if value is None:
            return JSONResponse({"error": 'expected {"value": "<text>"}'}, 400)
        try:
            await run_in_threadpool(store.set, key, value)
        except BadSettingKey as exc:
            return JSONResponse({"error": str(exc)}, 400)
        log.info("settings.changed", key=key, via="http")
        return JSONResponse({"key": key, "value": value})

    def delete_setting(request: Request) -> Response:
        key = request.path_params["key"]
        try:
            removed = store.unset(key)
        except BadSettingKey as exc:
            return JSONResponse({"error": str(exc)}, 400)
        if not removed:
            return JSONResponse({"error": f"no setting {key!r}"}, 404)
        log.info("settings.removed", key=key, via="http")
        return JSONResponse({"key": key, "removed": True})

    return [
        Route("/api/settings", list_settings, methods=["GET"]),
        Route("/api/settings/{key}", put_setting, methods=["PUT"]),
        Route("/api/settings/{key}", delete_setting, methods=["DELETE"]),
    ]
