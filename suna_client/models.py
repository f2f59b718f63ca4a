"""Pydantic models of what goes to Suna and what comes back.

Shapes follow Suna as it is, quirks included: ``GET agent-run`` answers in
camelCase while the thread's run list is snake_case (one :class:`AgentRun`
reads both); message ``content``/``metadata`` are objects over REST but
JSON-encoded strings on the stream (:class:`MessageRow` decodes both).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "CONTROL_STATUSES",
    "TERMINAL_STATUSES",
    "Agent",
    "AgentPage",
    "AgentRun",
    "AgentStartRequest",
    "AgentStarted",
    "AnswerSource",
    "InitiateRequest",
    "InitiateResult",
    "MessageRow",
    "PingEvent",
    "RunOutput",
    "RunResult",
    "RunStatusEvent",
    "RunUsage",
    "StartRequest",
    "Started",
    "StopResult",
    "StreamEvent",
    "ThreadCreated",
    "UsageRecord",
    "parse_event",
]

TERMINAL_STATUSES = frozenset({"completed", "failed", "stopped"})
"""Run statuses Suna writes once a run is over."""

CONTROL_STATUSES = frozenset({"STOP", "END_STREAM", "ERROR"})
"""Upper-case control signals the stream relays just before it closes."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


def _decoded(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class ThreadCreated(_Model):
    """Answer of ``POST /api/threads``."""

    thread_id: str
    project_id: str | None = None


class MessageRow(_Model):
    """A message of a thread, from the messages route or from a run's stream."""

    message_id: str | None = None
    thread_id: str | None = None
    type: str
    is_llm_message: bool = True
    content: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    agent_id: str | None = None
    agent_version_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    sequence: int | None = None
    event_id: str | None = Field(None, alias="_event_id")
    """The ``v1`` stream's entry id (what ``?last_id=`` resumes after)."""

    @field_validator("content", mode="before")
    @classmethod
    def _content(cls, value: Any) -> Any:
        return _decoded(value)

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata(cls, value: Any) -> dict[str, Any]:
        value = _decoded(value)
        return value if isinstance(value, dict) else {}

    @property
    def text(self) -> str | None:
        """The text of an assistant or user message (``content.content``)."""
        if isinstance(self.content, dict):
            inner = self.content.get("content")
            return inner if isinstance(inner, str) else None
        return self.content if isinstance(self.content, str) else None

    @property
    def tool_calls(self) -> list[tuple[str, Any]]:
        """Native tool calls of an assistant row: ``(name, arguments)`` in order.

        Read from ``content.tool_calls`` (OpenAI shape, JSON-string arguments)
        or, failing that, ``metadata.tool_calls`` (Suna's unified shape).
        """
        calls: list[tuple[str, Any]] = []
        inner = self.content.get("tool_calls") if isinstance(self.content, dict) else None
        for call in inner if isinstance(inner, list) else []:
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                calls.append((fn["name"], _decoded(fn.get("arguments"))))
        if calls:
            return calls
        unified = self.metadata.get("tool_calls")
        for call in unified if isinstance(unified, list) else []:
            if isinstance(call, dict) and isinstance(call.get("function_name"), str):
                calls.append((call["function_name"], _decoded(call.get("arguments"))))
        return calls

    @property
    def stream_status(self) -> str | None:
        """``chunk`` or ``complete`` for assistant messages on the stream."""
        value = self.metadata.get("stream_status")
        return value if isinstance(value, str) else None


class RunStatusEvent(_Model):
    """A run-level status on the stream: ``completed``, ``error``, ``STOP``, …"""

    type: Literal["status"] = "status"
    status: str
    message: str | None = None
    event_id: str | None = Field(None, alias="_event_id")

    @property
    def is_final(self) -> bool:
        """Whether an ``api-2025`` stream closes after it (``error`` closes only in ``v1``)."""
        return self.status in TERMINAL_STATUSES or self.status in CONTROL_STATUSES


class PingEvent(_Model):
    """Keep-alive sent by later Suna versions after 5 idle seconds."""

    type: Literal["ping"] = "ping"


StreamEvent = RunStatusEvent | PingEvent | MessageRow
"""One decoded ``data:`` line of a run stream."""


def parse_event(obj: Any) -> StreamEvent:
    """The typed event for one decoded stream line (``ValueError`` if it is not one)."""
    if not isinstance(obj, dict):
        raise ValueError("stream event is not a JSON object")
    kind = obj.get("type")
    if kind == "ping":
        return PingEvent()
    if kind == "status" and "status" in obj and "content" not in obj:
        return RunStatusEvent.model_validate(obj)
    return MessageRow.model_validate(obj)


class AgentStartRequest(_Model):
    """Body of ``POST /api/thread/{tid}/agent/start``; unset fields take Suna's defaults."""

    model_name: str | None = None
    enable_thinking: bool | None = None
    reasoning_effort: str | None = None
    stream: bool | None = None
    enable_context_manager: bool | None = None
    agent_id: str | None = None


class StartRequest(_Model):
    """One start of a run, whatever the flavour (:meth:`SunaClient.start`).

    ``api-2025`` creates the thread when ``thread_id`` is unset, adds
    ``prompt`` as a message, then starts. ``agent-start`` / ``v1`` send the
    prompt with the start (Suna writes it into the thread) and, with
    ``optimistic``, create the thread under the caller's ``thread_id`` and
    ``project_id`` (a known project is shared).
    """

    prompt: str | None = None
    thread_id: str | None = None
    project_id: str | None = None
    optimistic: bool = False
    agent_id: str | None = None
    model_name: str | None = None
    enable_thinking: bool | None = None
    reasoning_effort: str | None = None
    memory_enabled: bool | None = None
    """``agent-start`` / ``v1`` only."""


class Started(_Model):
    """What a start created: its run, and the thread (and project) it runs on."""

    thread_id: str
    agent_run_id: str
    project_id: str | None = None
    status: str = "running"


class Agent(_Model):
    """An agent of the calling account, from ``GET P/agents`` or ``GET P/agents/{id}``."""

    agent_id: str
    name: str
    description: str | None = None
    account_id: str | None = None
    is_default: bool = False
    created_at: str | None = None
    updated_at: str | None = None


class AgentPage(_Model):
    """One page of the agents list."""

    agents: tuple[Agent, ...]
    page: int
    total: int
    has_next: bool


class AgentStarted(_Model):
    """Answer of a start: the new run's id."""

    agent_run_id: str
    status: str = "running"


class InitiateRequest(AgentStartRequest):
    """Form of ``POST /api/agent/initiate`` (thread, message and run in one call)."""

    prompt: str


class InitiateResult(_Model):
    """Answer of ``agent/initiate``."""

    thread_id: str
    agent_run_id: str | None = None


class AgentRun(_Model):
    """A run, from ``GET agent-run/{rid}`` (camelCase) or a thread's run list."""

    id: str
    thread_id: str | None = Field(None, validation_alias=AliasChoices("threadId", "thread_id"))
    """Absent from the run list Suna answers for a thread still being set up."""
    status: str
    started_at: str | None = Field(None, validation_alias=AliasChoices("startedAt", "started_at"))
    completed_at: str | None = Field(
        None, validation_alias=AliasChoices("completedAt", "completed_at")
    )
    error: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def is_terminal(self) -> bool:
        """Whether the run is over (completed, failed or stopped)."""
        return self.status in TERMINAL_STATUSES


class StopResult(_Model):
    """Answer of ``POST agent-run/{rid}/stop``."""

    status: str


class RunResult(_Model):
    """What :meth:`SunaClient.wait_for_run` found: the confirmed final run."""

    run: AgentRun
    stream_status: str | None = None
    """The last run-level status the stream sent (``completed`` even for a failed run)."""
    events: int = 0
    """Distinct events seen (replays and pings not counted)."""
    reconnects: int = 0
    polled: bool = False
    """Whether the stream broke for good and the status came from polling."""

    @property
    def status(self) -> str:
        """The confirmed final status: completed, failed or stopped."""
        return self.run.status


class UsageRecord(_Model):
    """One LLM call's usage row (``assistant_response_end`` or ``llm_response_end``)."""

    message_id: str | None
    row_type: str
    model: str | None
    input_tokens: int
    """Prompt tokens as reported, cached ones included."""
    output_tokens: int
    cached_tokens: int
    cache_creation_tokens: int
    reasoning_tokens: int
    total_tokens: int
    estimated: bool = False
    fallback: bool = False


class RunUsage(_Model):
    """Usage summed over every usage row of a thread (one thread per step attempt)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0
    llm_calls: int = 0
    model: str | None = None
    """The model of the last call as Suna records it: the provider's name,
    without a provider prefix (``claude-…`` for ``anthropic/claude-…``)."""
    requested_model: str | None = None
    """The model the start asked for (``provider/name``), when the caller says."""
    models: tuple[str, ...] = ()
    estimated: bool = False
    """True if any row says its figures were estimated."""
    records: tuple[UsageRecord, ...] = ()


AnswerSource = Literal["complete", "ask", "text", "none"]
"""Which rule produced an answer: the last ``complete``/``ask`` tool call's
``text``, the assistant text without tool-call markup, or no answer at all."""


class RunOutput(_Model):
    """A finished run's answer and usage, read with one messages request."""

    answer: str | None
    """The answer (``""`` for an empty but real one), ``None`` if there is none."""
    usage: RunUsage
    answer_source: AnswerSource = "none"
    has_answer: bool = False
    """Whether the run wrote any assistant message after the prompt: ``False``
    is Suna's way of saying the LLM call failed (``api-2025`` ends such a run
    ``completed``)."""
