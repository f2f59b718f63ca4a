"""The OpenAPI document and the offline /docs page."""

from __future__ import annotations

import re

from renum.api.docs import EXAMPLES, TAGS
from tests.conftest import ApiClient
from tests.renum.helpers import get_json


async def test_every_operation_is_tagged_and_summarized(api: ApiClient) -> None:
    spec = await get_json(api, "/openapi.json")
    known = {t["name"] for t in TAGS}
    assert {t["name"] for t in spec["tags"]} == known
    for path, item in spec["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            assert op.get("tags") and set(op["tags"]) <= known, where
            assert op.get("summary"), where
            assert op.get("description"), where


async def test_core_routes_carry_examples(api: ApiClient) -> None:
    spec = await get_json(api, "/openapi.json")
    for method, path, status in EXAMPLES:
        content = spec["paths"][path][method]["responses"][status]["content"]
        assert "example" in content["application/json"], (method, path)
    events = spec["paths"]["/v1/executions/{execution_id}/events"]["get"]["responses"]["200"]
    assert events["content"]["text/event-stream"]["example"].startswith("id: ")
    schemas = spec["components"]["schemas"]
    assert schemas["TeamIn"]["properties"]["workflow"]["examples"]
    assert schemas["LaunchIn"]["properties"]["webhook_url"]["examples"]


async def test_docs_page_needs_no_network(api: ApiClient) -> None:
    async with api.http.get(api.url("/docs")) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        page = await resp.text()
    assert "/openapi.json" in page
    assert re.findall(r"(?:src|href)=\"(https?:)?//", page) == []
    assert "cdn" not in page.lower()
    async with api.http.get(api.url("/redoc")) as resp:
        assert resp.status == 404
