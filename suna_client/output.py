"""A run's answer and token usage, read from its thread's messages (pure).

Suna streams the answer but stores the usage only: one row per LLM call,
``assistant_response_end`` in mid-2025 versions and ``llm_response_end`` in
later ones (with cache fields, and ``estimated``/``fallback`` inside
``usage``). Both are summed.

Real agents finish by calling a ``complete`` or ``ask`` tool: in the
assistant text as XML (``<function_calls><invoke name="complete"><parameter
name="text">…``, ``api-2025``) or as native ``tool_calls`` (``v1``, often with
empty text). The answer is the ``text`` of the last such call, else the
assistant text without tool-call markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .models import AnswerSource, MessageRow, RunOutput, RunUsage, UsageRecord

__all__ = [
    "ANSWER_TOOLS",
    "USAGE_ROW_TYPES",
    "answer_from_messages",
    "answer_of",
    "output_from_messages",
    "strip_tool_markup",
    "usage_from_messages",
    "usage_record",
]

ANSWER_TOOLS = frozenset({"complete", "ask"})
"""Tools whose ``text`` argument is the agent's answer to the user."""
_FUNCTION_CALLS = re.compile(r"<function_calls>(.*?)(?:</function_calls>|\Z)", re.DOTALL)
_INVOKE = re.compile(r'<invoke\s+name="([^"]+)"\s*>(.*?)(?:</invoke>|\Z)', re.DOTALL)
_TEXT_PARAMETER = re.compile(
    r'<parameter\s+name="text"\s*>(.*?)(?:</parameter>|\Z)', re.DOTALL
)
_OLD_STYLE = re.compile(r"<(complete|ask)>(.*?)</\1>", re.DOTALL)

USAGE_ROW_TYPES = frozenset({"assistant_response_end", "llm_response_end"})
"""Message types that carry one LLM call's usage."""


def _n(mapping: Mapping[str, Any] | None, *keys: str) -> int:
    """The first non-negative integer among ``keys`` of ``mapping`` (0 if none)."""
    if not isinstance(mapping, Mapping):
        return 0
    for key in keys:
        value = mapping.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return int(value)
    return 0


def _flag(name: str, *places: Mapping[str, Any]) -> bool:
    """Whether ``name`` is true in any of ``places`` (Suna puts it inside ``usage``)."""
    return any(bool(place.get(name)) for place in places)


def usage_record(row: MessageRow) -> UsageRecord | None:
    """The usage of one usage row, or ``None`` for any other row."""
    if row.type not in USAGE_ROW_TYPES or not isinstance(row.content, dict):
        return None
    content: dict[str, Any] = row.content
    raw_usage = content.get("usage")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    input_tokens = _n(usage, "prompt_tokens", "input_tokens")
    output_tokens = _n(usage, "completion_tokens", "output_tokens")
    model = content.get("model") or row.metadata.get("model")
    return UsageRecord(
        message_id=row.message_id,
        row_type=row.type,
        model=model if isinstance(model, str) else None,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=max(
            _n(usage, "cache_read_input_tokens"), _n(prompt_details, "cached_tokens")
        ),
        cache_creation_tokens=_n(usage, "cache_creation_input_tokens"),
        reasoning_tokens=max(
            _n(completion_details, "reasoning_tokens"), _n(usage, "reasoning_tokens")
        ),
        total_tokens=_n(usage, "total_tokens") or input_tokens + output_tokens,
        estimated=_flag("estimated", usage, content, row.metadata),
        fallback=_flag("fallback", usage, content, row.metadata),
    )


def usage_from_messages(
    rows: Iterable[MessageRow], *, requested_model: str | None = None
) -> RunUsage:
    """Sum of every usage row among ``rows`` (in any order), each counted once."""
    seen: set[str] = set()
    records: list[tuple[str, UsageRecord]] = []
    for row in rows:
        record = usage_record(row)
        if record is None:
            continue
        if record.message_id is not None:
            if record.message_id in seen:
                continue
            seen.add(record.message_id)
        records.append((row.created_at or "", record))
    records.sort(key=lambda item: item[0])
    ordered = tuple(record for _, record in records)
    models: list[str] = []
    for record in ordered:
        if record.model and record.model not in models:
            models.append(record.model)
    last_model = next((r.model for r in reversed(ordered) if r.model), None)
    return RunUsage(
        input_tokens=sum(r.input_tokens for r in ordered),
        output_tokens=sum(r.output_tokens for r in ordered),
        cached_tokens=sum(r.cached_tokens for r in ordered),
        cache_creation_tokens=sum(r.cache_creation_tokens for r in ordered),
        reasoning_tokens=sum(r.reasoning_tokens for r in ordered),
        total_tokens=sum(r.total_tokens for r in ordered),
        llm_calls=len(ordered),
        model=last_model,
        requested_model=requested_model,
        models=tuple(models),
        estimated=any(r.estimated for r in ordered),
        records=ordered,
    )


def _xml_calls(text: str) -> list[tuple[str, Any]]:
    """``(tool, {"text": …})`` for each XML tool call in ``text``, in order."""
    calls: list[tuple[str, Any]] = []
    for block in _FUNCTION_CALLS.finditer(text):
        for invoke in _INVOKE.finditer(block.group(1)):
            parameter = _TEXT_PARAMETER.search(invoke.group(2))
            value = html.unescape(parameter.group(1).strip()) if parameter else None
            calls.append((invoke.group(1), {"text": value} if value is not None else {}))
    for old in _OLD_STYLE.finditer(text):
        calls.append((old.group(1), {"text": old.group(2).strip()}))
    return calls


def strip_tool_markup(text: str) -> str:
    """``text`` without XML tool-call blocks (the prose around them), trimmed."""
    return _OLD_STYLE.sub("", _FUNCTION_CALLS.sub("", text)).strip()


def _answer_text(arguments: Any) -> str:
    if isinstance(arguments, Mapping):
        value = arguments.get("text")
        return value if isinstance(value, str) else ""
    return arguments if isinstance(arguments, str) else ""


def _run_rows(rows: Iterable[MessageRow]) -> list[MessageRow]:
    """The rows after the last user message (what the run wrote), oldest first."""
    ordered = sorted(enumerate(rows), key=lambda item: (item[1].created_at or "", item[0]))
    out: list[MessageRow] = []
    for _, row in ordered:
        if row.type == "user":
            out = []
        else:
            out.append(row)
    return out


def answer_of(rows: Sequence[MessageRow]) -> tuple[str | None, AnswerSource, bool]:
    """``(answer, the rule that produced it, whether the run wrote any assistant row)``.

    ``rows`` are a thread's messages, any order; only the rows after the last
    user message count. Chunks (``stream_status: chunk``) are partial and never
    stored, so they are skipped.
    """
    assistant = [
        row for row in _run_rows(rows)
        if row.type == "assistant" and row.stream_status not in ("chunk", "tool_call_chunk")
    ]
    if not assistant:
        return None, "none", False
    last_call: tuple[str, Any] | None = None
    for row in assistant:
        calls = row.tool_calls or _xml_calls(row.text or "")
        for name, arguments in calls:
            if name in ANSWER_TOOLS:
                last_call = (name, arguments)
    if last_call is not None:
        tool: AnswerSource = "complete" if last_call[0] == "complete" else "ask"
        return _answer_text(last_call[1]), tool, True
    for row in reversed(assistant):
        text = strip_tool_markup(row.text or "")
        if text:
            return text, "text", True
    return "", "text", True


def answer_from_messages(rows: Iterable[MessageRow]) -> str | None:
    """The run's answer (see :func:`answer_of`), ``None`` when it wrote none."""
    return answer_of(list(rows))[0]


def output_from_messages(
    rows: Iterable[MessageRow], *, requested_model: str | None = None
) -> RunOutput:
    """Answer, its source and usage of a thread's messages."""
    listed = list(rows)
    answer, source, has_answer = answer_of(listed)
    return RunOutput(
        answer=answer, answer_source=source, has_answer=has_answer,
        usage=usage_from_messages(listed, requested_model=requested_model),
    )
