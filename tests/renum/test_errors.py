"""Errors are problem+json everywhere, never a stack trace."""

from __future__ import annotations

from typing import Any


async def test_unknown_route_is_problem_json(api: Any) -> None:
    async with api.http.get(api.url("/v1/nothing-here"), headers=api.auth()) as response:
        assert response.status == 404
        assert response.content_type == "application/problem+json"
        body = await response.json()
        assert body["code"] == "not_found"
        assert body["instance"] == "/v1/nothing-here"
        assert set(body) >= {"type", "title", "status", "detail", "code"}


async def test_wrong_method_is_problem_json(api: Any) -> None:
    async with api.http.post(api.url("/healthz")) as response:
        assert response.status == 405
        assert response.content_type == "application/problem+json"
        assert (await response.json())["code"] == "method_not_allowed"
