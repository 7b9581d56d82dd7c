"""Answers serialized once.

A route that returns a model or a dict has FastAPI validate it against the route's
``response_model`` and serialize the result again; on the hot read paths that doubled the
work of building the answer. Those routes return :func:`json_response` of rows already in
their public model's shape (see :func:`ehr_core.fastquery.columns_of`): pydantic-core
writes the JSON in one pass, the same JSON the response model writes (timestamps in UTC
with ``Z``, dates ``YYYY-MM-DD``, keys in the model's order). The route keeps its
``response_model=``, so the OpenAPI document does not change, and the tests check every
such answer against its model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic_core
from fastapi import Response

MEDIA_TYPE = "application/json"


def json_response(
    content: Any, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``content`` (rows, dicts, models) as a JSON answer."""
    return Response(
        pydantic_core.to_json(content),
        status_code=status_code,
        headers=headers,
        media_type=MEDIA_TYPE,
    )


def page(items: list[Any], *, total: int, page: int, page_size: int) -> dict[str, Any]:
    """The :class:`~ehr_core.schemas.common.Page` envelope."""
    return {"items": items, "total": total, "page": page, "page_size": page_size}


__all__ = ["MEDIA_TYPE", "json_response", "page"]
