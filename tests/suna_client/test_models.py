"""Pure pieces: shapes, usage sums, answers, error mapping, SSE events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest

from suna_client import (
    AgentRun,
    MessageRow,
    PingEvent,
    RunStatusEvent,
    SunaConnectionError,
    SunaForbiddenError,
    SunaNotFoundError,
    SunaPaymentRequiredError,
    SunaProtocolError,
    SunaRateLimitedError,
    SunaServerError,
    SunaStatusError,
    SunaTimeoutError,
    answer_from_messages,
    usage_from_messages,
)
from suna_client.errors import status_error, translate
from suna_client.models import parse_event


def _row(kind: str, content: object, created: str, **extra: object) -> MessageRow:
    return MessageRow.model_validate(
        {"message_id": extra.pop("message_id", f"m-{created}"), "type": kind,
         "content": content, "metadata": extra.pop("metadata", {}), "created_at": created, **extra}
    )


def test_agent_run_reads_both_casings() -> None:
    camel = AgentRun.model_validate({"id": "r", "threadId": "t", "status": "failed",
                                     "startedAt": "a", "completedAt": "b", "error": "boom"})
    snake = AgentRun.model_validate({"id": "r", "thread_id": "t", "status": "running",
                                     "started_at": "a", "completed_at": None, "error": None,
                                     "created_at": "a", "updated_at": "a"})
    assert camel.thread_id == snake.thread_id == "t"
    assert camel.is_terminal and not snake.is_terminal


def test_stream_rows_decode_json_strings() -> None:
    event = parse_event({
        "message_id": None, "sequence": 2, "type": "assistant",
        "content": json.dumps({"role": "assistant", "content": "hi"}),
        "metadata": json.dumps({"stream_status": "chunk", "thread_run_id": "tr"}),
    })
    assert isinstance(event, MessageRow)
    assert event.text == "hi" and event.stream_status == "chunk" and event.sequence == 2
    assert parse_event({"type": "ping"}) == PingEvent()
    status = parse_event({"type": "status", "status": "END_STREAM"})
    assert isinstance(status, RunStatusEvent) and status.is_final
    assert not RunStatusEvent(status="error").is_final
    stored_status = parse_event({"type": "status", "message_id": "m",
                                 "content": '{"status_type": "finish"}', "metadata": "{}"})
    assert isinstance(stored_status, MessageRow)
    with pytest.raises(ValueError):
        parse_event(["not", "an", "object"])


def test_usage_sums_both_row_types_once_each() -> None:
    classic = _row("assistant_response_end", {
        "model": "openai/gpt-5-mini",
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                  "prompt_tokens_details": {"cached_tokens": 40},
                  "completion_tokens_details": {"reasoning_tokens": 7}},
    }, "2025-06-01T00:00:01")
    later = _row("llm_response_end", {
        "model": "anthropic/claude-sonnet-4",
        "usage": {"prompt_tokens": 300, "completion_tokens": 30,
                  "cache_read_input_tokens": 200, "cache_creation_input_tokens": 50,
                  "prompt_tokens_details": {"cached_tokens": 200}},
        "estimated": True, "fallback": False,
    }, "2025-06-01T00:00:02")
    noise = [_row("assistant", {"role": "assistant", "content": "x"}, "2025-06-01T00:00:00"),
             _row("assistant_response_end", "not a dict", "2025-06-01T00:00:03")]
    usage = usage_from_messages([later, classic, classic, *noise])
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (400, 50, 450)
    assert (usage.cached_tokens, usage.cache_creation_tokens) == (240, 50)
    assert usage.reasoning_tokens == 7 and usage.llm_calls == 2 and usage.estimated
    assert usage.model == "anthropic/claude-sonnet-4"
    assert usage.models == ("openai/gpt-5-mini", "anthropic/claude-sonnet-4")
    assert usage_from_messages([]).llm_calls == 0


def test_answer_is_the_last_complete_assistant_text_after_the_prompt() -> None:
    rows = [
        _row("user", {"role": "user", "content": "question"}, "2025-06-01T00:00:00"),
        _row("assistant", {"role": "assistant", "content": "first"}, "2025-06-01T00:00:01"),
        _row("assistant", {"role": "assistant", "content": "final"}, "2025-06-01T00:00:03"),
        _row("assistant", {"role": "assistant", "content": ""}, "2025-06-01T00:00:04"),
        _row("assistant", {"role": "assistant", "content": "partial"}, "2025-06-01T00:00:05",
             metadata={"stream_status": "chunk"}),
    ]
    assert answer_from_messages(rows) == "final"
    assert answer_from_messages(list(reversed(rows))) == "final"
    assert answer_from_messages(rows[4:]) is None
    later = _row("user", {"role": "user", "content": "again"}, "2025-06-01T00:00:06")
    assert answer_from_messages([*rows, later]) is None  # nothing answered the new prompt


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (404, b'{"detail": "Thread not found"}', SunaNotFoundError),
        (403, b'{"detail": {"message": "model not allowed", "allowed_models": []}}',
         SunaForbiddenError),
        (402, b'{"detail": {"message": "Monthly limit", "subscription": {}}}',
         SunaPaymentRequiredError),
        (402, b'{"detail": {"message": "limit", "error_code": "AGENT_RUN_LIMIT_EXCEEDED",'
              b' "running_count": 3, "limit": 3}}', SunaRateLimitedError),
        (429, b'{"detail": {"message": "too many", "running_count": 5, "limit": 3}}',
         SunaRateLimitedError),
        (502, b"<html>Bad Gateway</html>", SunaServerError),
        (422, b'{"detail": [{"loc": ["body"], "msg": "bad"}]}', SunaStatusError),
    ],
)
def test_status_mapping(status: int, body: bytes, cls: type[SunaStatusError]) -> None:
    err = status_error(status, body, retry_after=None, method="GET", route="GET /x",
                       request_id="rid")
    assert type(err) is cls and err.status == status and err.request_id == "rid"
    assert "rid" in str(err) and str(status) in str(err)
    if isinstance(err, SunaRateLimitedError):
        assert err.limit == 3 and err.running_count in (3, 5)


def test_retry_after_as_seconds_or_date() -> None:
    err = status_error(429, b"{}", retry_after="2.5", method="GET", route="r", request_id=None)
    assert isinstance(err, SunaRateLimitedError) and err.retry_after == 2.5
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    err = status_error(429, b"", retry_after=when, method="GET", route="r", request_id=None)
    assert isinstance(err, SunaRateLimitedError) and 25 < (err.retry_after or 0) <= 30


def test_translate_is_the_one_map() -> None:
    ctx = {"method": "GET", "route": "GET /r", "request_id": "x"}
    key = aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None)
    refused = translate(aiohttp.ClientConnectorError(key, OSError(111, "refused")), **ctx)
    assert isinstance(refused, SunaConnectionError) and refused.request_sent is False
    lost = translate(aiohttp.ServerDisconnectedError(), **ctx)
    assert isinstance(lost, SunaConnectionError) and lost.request_sent is True
    assert translate(aiohttp.ConnectionTimeoutError(), **ctx).request_sent is False
    slow = translate(TimeoutError(), **ctx)
    assert isinstance(slow, SunaTimeoutError) and slow.request_sent is True
    assert isinstance(translate(aiohttp.ClientPayloadError("cut"), **ctx), SunaConnectionError)
    assert isinstance(translate(ValueError("bad"), **ctx), SunaProtocolError)
