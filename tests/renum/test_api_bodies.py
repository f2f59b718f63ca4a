"""Bodies are bounded while they are read and JSON is strict: a 413 or a 422 naming the
value, before any route or authentication runs, never a 500."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renum.api.bodies import MAX_BODY_BYTES
from tests.conftest import ApiClient

WORKFLOW = '{"type": "sequential", "agents": [{"agent_id": "researcher", "role": "r"}]}'


async def _post(api: ApiClient, path: str, text: str, *, auth: bool = True) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", **(api.auth() if auth else {})}
    async with api.http.post(api.url(path), data=text.encode(), headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


def _team(fields: str) -> str:
    """A team body whose JSON text holds ``fields`` beside a valid workflow."""
    return '{"workflow": ' + WORKFLOW + ", " + fields + "}"


@pytest.mark.parametrize(("body", "where"), [
    (_team('"name": "\\ud800"'), "/body/name"),
    (_team('"name": "a\\u0000b"'), "/body/name"),
    (_team('"name": "t", "extra": NaN'), "/body"),
    (_team('"name": "t", "n": Infinity'), "/body"),
    (_team('"name": "t", "n": 1e309'), "/body"),
    ('{"name": "t", "workflow": {"type": "sequential", "agents": [{"agent_id": "\\udfff"}]}}',
     "/body/workflow/agents/0/agent_id"),
])  # fmt: skip
async def test_json_that_cannot_be_stored_is_a_422_naming_it(
    api: ApiClient, body: str, where: str
) -> None:
    status, problem = await _post(api, "/v1/teams", body)
    assert status == 422, problem
    assert problem["errors"][0]["path"] == where
    assert problem["code"] == "validation_error"


async def test_launch_metadata_with_nan_is_refused(api: ApiClient) -> None:
    body = '{"initial_prompt": "hi", "metadata": {"score": NaN}}'
    status, problem = await _post(api, f"/v1/teams/{'0' * 8}-0000-4000-8000-{'0' * 12}"
                                       "/executions", body)  # fmt: skip
    assert status == 422 and "NaN" in problem["errors"][0]["message"]


async def test_a_body_too_large_is_refused_before_authentication(api: ApiClient) -> None:
    big = '{"name": "' + "x" * (MAX_BODY_BYTES + 10) + '"}'
    status, problem = await _post(api, "/v1/teams", big, auth=False)
    assert status == 413 and problem["code"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536

    try:
        async with api.http.post(api.url("/v1/teams"), data=chunks(),
                                 headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 413
    except aiohttp.ClientError:  # the server answered and closed while the rest was sent
        pass


#: JSON values with what breaks storage: lone surrogates, NUL, NaN, infinities, big numbers.
HOSTILE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(codec=None, categories=("Cs", "Cc", "Ll", "Nd")), max_size=8),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(st.characters(codec=None), max_size=6), inner, max_size=4),
    max_leaves=12,
)


@pytest.mark.fuzz
@pytest.mark.parametrize("path", ["/v1/teams", "/v1/dsl/validate", "/v1/keys/openai"])
async def test_hostile_json_never_gets_a_500(api: ApiClient, path: str) -> None:
    cases = []

    @given(value=HOSTILE, field=st.sampled_from(["name", "workflow", "value", "metadata"]))
    @settings(max_examples=25, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def collect(value: object, field: str) -> None:
        base = {"name": "t", "workflow": {"type": "sequential", "agents": []}, "value": "x"}
        cases.append(json.dumps({**base, field: value}, allow_nan=True))

    collect()
    method = "PUT" if path.startswith("/v1/keys") else "POST"
    for body in cases:
        async with api.http.request(method, api.url(path), data=body.encode(), headers={
                "Content-Type": "application/json", **api.auth()}) as resp:  # fmt: skip
            assert resp.status < 500, (body[:200], await resp.text())
