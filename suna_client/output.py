"""A run's answer and token usage, read from its thread's messages (pure).

Suna streams the answer but stores the usage only: one row per LLM call,
``assistant_response_end`` in mid-2025 versions and ``llm_response_end`` in
later ones (with cache and ``estimated`` fields). Both are summed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .models import MessageRow, RunUsage, UsageRecord

__all__ = ["USAGE_ROW_TYPES", "answer_from_messages", "usage_from_messages", "usage_record"]

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
        estimated=bool(content.get("estimated") or row.metadata.get("estimated")),
        fallback=bool(content.get("fallback") or row.metadata.get("fallback")),
    )


def usage_from_messages(rows: Iterable[MessageRow]) -> RunUsage:
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
        models=tuple(models),
        estimated=any(r.estimated for r in ordered),
        records=ordered,
    )


def answer_from_messages(rows: Iterable[MessageRow]) -> str | None:
    """Text of the newest complete assistant message with text, or ``None``.

    Newest by ``created_at``, ties going to the later row (pass rows oldest
    first). Chunks (``stream_status: chunk``) are skipped: they are partial,
    and Suna never stores them anyway.
    """
    best_key: tuple[str, int] | None = None
    best_text: str | None = None
    for index, row in enumerate(rows):
        if row.type != "assistant" or row.stream_status == "chunk" or not row.text:
            continue
        key = (row.created_at or "", index)
        if best_key is None or key > best_key:
            best_key, best_text = key, row.text
    return best_text
