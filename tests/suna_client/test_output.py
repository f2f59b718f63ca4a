"""Answers and usage read from message rows shaped as each Suna flavour stores them."""

from __future__ import annotations

import json
from typing import Any

from suna_client import (
    MessageRow,
    SunaPaymentRequiredError,
    SunaQuotaExceededError,
    answer_of,
    output_from_messages,
    usage_from_messages,
)
from suna_client.errors import status_error

_clock = iter(f"2026-01-01T00:00:{n:02d}+00:00" for n in range(60))


def row(kind: str, content: Any, metadata: dict[str, Any] | None = None) -> MessageRow:
    """A stored row, created after the previous one."""
    return MessageRow.model_validate({
        "message_id": f"m{kind}{next(_clock)}", "type": kind, "content": content,
        "metadata": metadata or {}, "created_at": next(_clock),
    })


def user(text: str = "question") -> MessageRow:
    return row("user", {"role": "user", "content": text})


def assistant(text: str, tool_calls: list[dict[str, Any]] | None = None) -> MessageRow:
    content: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls is not None:
        content["tool_calls"] = tool_calls
    return row("assistant", content, {"stream_status": "complete"})


def native(name: str, arguments: Any) -> dict[str, Any]:
    encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": "call_1", "type": "function", "function": {"name": name, "arguments": encoded}}


def xml(name: str, text: str) -> str:
    return (f'<function_calls>\n<invoke name="{name}">\n<parameter name="text">{text}'
            "</parameter>\n</invoke>\n</function_calls>")  # fmt: skip


def test_xml_complete_call_is_the_answer_prose_is_not() -> None:
    rows = [user(), assistant("Let me finish.\n" + xml("complete", "The answer is 4."))]
    assert answer_of(rows) == ("The answer is 4.", "complete", True)


def test_xml_entities_are_unescaped_and_the_last_call_wins() -> None:
    rows = [user(), assistant(xml("ask", "first?")), assistant(xml("complete", "a &lt; b &amp; c"))]
    assert answer_of(rows) == ("a < b & c", "complete", True)


def test_native_tool_call_with_empty_text() -> None:
    rows = [user(), assistant("", [native("web_search", {"query": "x"})]),
            row("tool", {"role": "tool", "content": "results"}),
            assistant("", [native("ask", {"text": "Which year?"})])]  # fmt: skip
    assert answer_of(rows) == ("Which year?", "ask", True)


def test_unified_metadata_tool_calls_are_read_too() -> None:
    unified = {"stream_status": "complete", "tool_calls": [
        {"source": "native", "function_name": "complete", "arguments": {"text": "done"}}]}
    rows = [user(), row("assistant", {"role": "assistant", "content": ""}, unified)]
    assert answer_of(rows) == ("done", "complete", True)


def test_text_without_markup_when_no_answer_tool() -> None:
    rows = [user(), assistant("Plain prose." + xml("web_search", "q"))]
    assert answer_of(rows) == ("Plain prose.", "text", True)


def test_empty_answer_is_not_no_answer() -> None:
    assert answer_of([user(), assistant("")]) == ("", "text", True)
    assert answer_of([user(), row("status", {"status_type": "finish"})]) == (None, "none", False)


def test_only_rows_after_the_last_prompt_count() -> None:
    rows = [user("first"), assistant("old answer"), user("second")]
    assert answer_of(rows) == (None, "none", False)


def test_chunks_are_never_the_answer() -> None:
    chunk = row("assistant", {"role": "assistant", "content": "partial"},
                {"stream_status": "chunk"})  # fmt: skip
    assert answer_of([user(), chunk]) == (None, "none", False)


def test_usage_flags_inside_usage_and_cache_tokens() -> None:
    end = row("llm_response_end", {
        "model": "claude-sonnet-4",
        "usage": {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050,
                  "cache_read_input_tokens": 600, "cache_creation_input_tokens": 40,
                  "prompt_tokens_details": {"cached_tokens": 600},
                  "estimated": True, "fallback": True}})  # fmt: skip
    old = row("assistant_response_end", {
        "model": "claude-sonnet-4",
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
    usage = usage_from_messages([end, old], requested_model="anthropic/claude-sonnet-4")
    assert (usage.input_tokens, usage.output_tokens, usage.llm_calls) == (1010, 55, 2)
    assert (usage.cached_tokens, usage.cache_creation_tokens) == (600, 40)
    assert usage.estimated and usage.records[0].fallback and not usage.records[1].fallback
    assert usage.model == "claude-sonnet-4"
    assert usage.requested_model == "anthropic/claude-sonnet-4"


def test_output_says_where_the_answer_came_from() -> None:
    output = output_from_messages([user(), assistant("", [native("complete", {"text": "ok"})])])
    assert (output.answer, output.answer_source, output.has_answer) == ("ok", "complete", True)


def test_a_thread_quota_is_not_out_of_credit() -> None:
    body = json.dumps({"detail": {"message": "Maximum of 10 threads allowed.", "current_count": 10,
                                  "limit": 10, "error_code": "THREAD_LIMIT_EXCEEDED"}}).encode()
    err = status_error(402, body, retry_after=None, method="POST", route="POST /v1/threads",
                       request_id=None)  # fmt: skip
    assert isinstance(err, SunaQuotaExceededError)
    assert not isinstance(err, SunaPaymentRequiredError)
    credit = json.dumps({"detail": {"message": "Monthly limit reached."}}).encode()
    assert isinstance(status_error(402, credit, retry_after=None, method="POST", route="x",
                                   request_id=None), SunaPaymentRequiredError)  # fmt: skip
