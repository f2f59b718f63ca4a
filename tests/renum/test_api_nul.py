"""A NUL character anywhere in a request is the client's error (422), never a 500.

PostgreSQL cannot store NUL in text or jsonb; schemathesis found the 500.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ApiClient

WORKFLOW = {"type": "sequential", "agents": [
    {"agent_id": "x", "role": "r", "input": {"source": "initial_prompt"}}]}  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/v1/keys?user_id=%00", None),
    ("GET", "/v1/usage?user_id=a%00", None),
    ("GET", "/v1/budgets/a%00", None),
    ("POST", "/v1/teams", {"name": "a\u0000", "workflow": WORKFLOW}),
])  # fmt: skip
async def test_nul_is_a_validation_error(api: ApiClient, method: str, path: str, body: Any) -> None:
    headers = api.auth("root", admin=True)
    async with api.http.request(method, api.url(path), json=body, headers=headers) as resp:
        assert resp.status == 422, await resp.text()
        assert (await resp.json())["code"] == "validation_error"
