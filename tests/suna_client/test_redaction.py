"""Users' keys go to Suna as headers and nowhere else: not logs, errors or reprs."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from suna_client import (
    ApiKeyAuth,
    BearerAuth,
    JwtAuth,
    StartRequest,
    SunaError,
    SunaNotFoundError,
)
from suna_client.errors import status_error
from suna_sim import Faults, RouteFault


def _all_text(caplog: pytest.LogCaptureFixture, errors: list[BaseException]) -> str:
    parts = [caplog.text]
    parts += [f"{r.getMessage()} {r.args!r}" for r in caplog.records]
    for err in errors:
        parts += [str(err), repr(err), repr(err.args), repr(vars(err))]
    return "\n".join(parts)


async def test_canary_reaches_suna_and_nothing_else(
    h: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    keys = {"openai": h.CANARY, "anthropic": h.CANARY + "-b"}
    errors: list[BaseException] = []
    thread_id, run_id = await h.started(extra_keys=keys)
    await h.client.wait_for_run(run_id)
    received = h.sim.stats().key_headers[run_id]
    assert received == {"openai": h.CANARY, "anthropic": h.CANARY + "-b"}

    h.sim.set_faults(Faults(routes=[
        RouteFault(kind="error", route="start_agent", status=502, count=1),
        RouteFault(kind="error", route="get_messages", status=503),
        RouteFault(kind="drop", route="create_thread", count=1),
    ]))
    again = StartRequest(prompt="again", thread_id=thread_id, agent_id=h.agent("echo"),
                         model_name=h.MODEL)  # fmt: skip
    for attempt in (
        h.client.start(again, extra_keys=keys),
        h.client.list_thread_runs(str(uuid.uuid4()), extra_keys=keys),
        h.client.get_messages(thread_id, extra_keys=keys),
        h.client.create_thread(extra_keys=keys),
    ):
        with pytest.raises(SunaError) as info:
            await attempt
        errors.append(info.value)
    assert isinstance(errors[1], SunaNotFoundError)
    text = _all_text(caplog, errors)
    assert h.CANARY not in text
    assert h.SECRET not in text
    assert "request_id=" in str(errors[0])


def test_key_values_in_bodies_are_scrubbed() -> None:
    body = b'{"detail": {"message": "bad key sk-canary-7f3a9c2e1b for openai"}}'
    err = status_error(
        400, body, retry_after=None, method="POST", route="POST /api/threads",
        request_id="r1", secrets=("sk-canary-7f3a9c2e1b",),
    )
    assert "sk-canary" not in str(err) + err.body_excerpt + repr(err.detail)
    assert "***" in err.body_excerpt and err.request_id == "r1"


@pytest.mark.parametrize("service", ["", "OpenAI", "open ai", "a:b", "x\nX-Other"])
async def test_bad_service_names_are_refused(h: Any, service: str) -> None:
    with pytest.raises(ValueError) as info:
        await h.client.create_thread(extra_keys={service: h.CANARY})
    assert h.CANARY not in str(info.value)
    assert h.sim.stats().requests.get("create_thread", 0) == 0


@pytest.mark.parametrize("value", ["", "line\nbreak", "cr\rhere"])
async def test_bad_key_values_are_refused_without_echo(h: Any, value: str) -> None:
    with pytest.raises(ValueError) as info:
        await h.client.create_thread(extra_keys={"openai": value})
    if value:
        assert value not in str(info.value)


def test_reprs_mask_credentials() -> None:
    secret = "jwt-secret-value-0123456789abcdef0123"
    auth = JwtAuth(secret, "svc")
    auth.token()
    for obj in (auth, BearerAuth("tok-secret-xyz"), ApiKeyAuth("pk_abc:sk_hidden_part")):
        text = repr(obj)
        assert "***" in text
        assert "secret-value" not in text and "tok-secret" not in text
        assert "sk_hidden" not in text


async def test_client_repr_masks_auth(h: Any) -> None:
    async with h.make_client(auth=BearerAuth("tok-very-secret")) as suna:
        assert "tok-very-secret" not in repr(suna) and "***" in repr(suna)


async def test_caller_token_is_scrubbed_from_errors(h: Any) -> None:
    token = "caller-token-abcdef-0123456789"
    with pytest.raises(SunaError) as info:
        await h.client.get_run(str(uuid.uuid4()), caller_token=token)
    assert info.value.status == 401 and token not in repr(vars(info.value))


def test_call_repr_hides_headers() -> None:
    from suna_client import SunaClient

    suna = SunaClient("http://127.0.0.1:1", auth=BearerAuth("tok-hidden-123"))
    thread_id = "{0a1b2c3d-0000-4000-8000-000000000000}"  # a UUID form that needs quoting
    call = suna.transport.build_call(
        "POST", "/api/thread/{tid}/agent/start", idempotent=False, ids=(thread_id,),
        extra_keys={"openai": "sk-canary-7f3a9c2e1b"},
    )
    assert call.path == "/api/thread/%7B0a1b2c3d-0000-4000-8000-000000000000%7D/agent/start"
    assert call.headers["X-API-Key-openai"] == "sk-canary-7f3a9c2e1b"
    assert "sk-canary" not in repr(call) and "tok-hidden" not in repr(call)
