"""A scripted run, emitting what Suna emits in the order Suna emits it.

After a worker picks the run up: ``thread_run_start``, then per LLM call a
start marker (``assistant_response_start``; ``llm_response_start`` in ``v1``),
the answer in chunks (streamed only; ``message_id: null``, a ``sequence``
restarting at 0 per call, a fresh ``thread_run_id``), the complete assistant
row, ``finish``, and the usage row (stored, never streamed; the model under
the provider's own name). Then ``thread_run_end``, the run-level
``completed`` event, the database status and the ``END_STREAM`` signal.

The final answer is given the way the flavour's agents give it: inside a
``complete`` tool call, in XML in the text (``api-2025``, ``agent-start``) or
as a native tool call (``v1``). An LLM failure ends the run ``completed``
with no answer and no usage, its error event stored after the completion
(``api-2025``), or ``failed`` (``v1``). Where events are reordered, chunks
arrive swapped in pairs, as Suna's fire-and-forget pushes do.
"""

from __future__ import annotations

import asyncio
import html
import json
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .agents import AgentScript
from .state import SimRun, SimThread

if TYPE_CHECKING:
    from .core import SimCore

__all__ = ["execute", "provider_model"]

_COMPLETED = "Agent run completed successfully"
_INTRO = "I have finished the task."
_NO_MODEL = "AttributeError: 'NoneType' object has no attribute 'lower'"
_LLM_FAILURE = "litellm.InternalServerError: upstream provider returned 500"


def provider_model(model: str) -> str:
    """The model as the provider names it: without LiteLLM's provider prefix."""
    return model.partition("/")[2] or model


def _split(text: str, parts: int) -> list[str]:
    parts = max(1, min(parts, len(text)))
    size, extra = divmod(len(text), parts)
    out, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        out.append(text[start:end])
        start = end
    return out


def _status(core: SimCore, thread: SimThread, run: SimRun, kind: str, **extra: Any) -> None:
    metadata = {"thread_run_id": extra.pop("thread_run_id")} if "thread_run_id" in extra else {}
    row = core.store(thread, "status", {"status_type": kind, **extra}, metadata, is_llm=False)
    run.push(core.streamed(row))


def _usage_row(
    core: SimCore, thread: SimThread, run: SimRun, script: AgentScript, thread_run_id: str,
    late: list[Callable[[], None]],
) -> None:
    inp, out = script.input_tokens, script.output_tokens
    cached, created = script.cached_tokens, script.cache_creation_tokens
    usage: dict[str, Any] = {"prompt_tokens": inp, "completion_tokens": out,
                             "total_tokens": inp + out}
    row_type = core.behaviour.usage_row_type
    later = row_type == "llm_response_end"
    if cached or later:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    if run.model.startswith("anthropic/") or later:
        usage["cache_read_input_tokens"] = cached
        usage["cache_creation_input_tokens"] = created
    if script.reasoning_tokens:
        usage["completion_tokens_details"] = {"reasoning_tokens": script.reasoning_tokens}
    if later:
        usage.update(estimated=False, fallback=False)
    content: dict[str, Any] = {"model": provider_model(run.model), "usage": usage}
    if later:
        content["thread_run_id"] = thread_run_id
    else:
        content.update(
            id=f"chatcmpl-{core.new_id()[:12]}", object="chat.completion",
            created=int(time.time()), choices=[{"index": 0, "finish_reason": "stop"}],
            response_ms=1, streaming=True,
        )
    def store() -> None:
        core.store(thread, row_type, content, {"thread_run_id": thread_run_id}, is_llm=False)

    if core.config.usage_lag_ms:
        late.append(store)  # written after the final status
    else:
        store()
    core.usage.add(run.model, {
        "input_tokens": inp, "output_tokens": out, "cached_tokens": cached,
        "cache_creation_tokens": created, "reasoning_tokens": script.reasoning_tokens,
        "total_tokens": inp + out, "llm_calls": 1,
    })


def _final_message(core: SimCore, text: str, call_id: str) -> tuple[str, dict[str, Any], Any]:
    """(streamed text, assistant content, unified tool calls) of the answering call."""
    form = core.behaviour.answer_via
    if form == "text":
        return text, {"role": "assistant", "content": text, "tool_calls": None}, None
    if form == "xml":
        body = (f'{_INTRO}\n\n<function_calls>\n<invoke name="complete">\n'
                f'<parameter name="text">{html.escape(text, quote=False)}</parameter>\n'
                "</invoke>\n</function_calls>")  # fmt: skip
        return body, {"role": "assistant", "content": body, "tool_calls": None}, None
    arguments = {"text": text}
    calls = [{"id": call_id, "type": "function",
              "function": {"name": "complete", "arguments": json.dumps(arguments)}}]
    unified = [{"function_name": "complete", "arguments": arguments, "tool_call_id": call_id}]
    return _INTRO, {"role": "assistant", "content": _INTRO, "tool_calls": calls}, unified


def _order(pieces: list[str], rng: random.Random, reorder: bool) -> list[int]:
    """The order chunks reach the stream: in order, or with adjacent pairs swapped."""
    order = list(range(len(pieces)))
    if reorder:
        for i in range(0, len(order) - 1, 2):
            if rng.random() < 0.5:
                order[i], order[i + 1] = order[i + 1], order[i]
    return order


async def _lag(core: SimCore) -> None:
    lag = core.faults.faults.status_lag_ms / 1000.0
    if lag:
        await asyncio.sleep(lag)


async def _fail(core: SimCore, run: SimRun, message: str) -> None:
    """An error in the worker: ``failed`` with the error, and an error event."""
    run.push({"type": "status", "status": "error", "message": message})
    await _lag(core)
    core.finish(run, "failed", error=message, control="ERROR")


async def _llm_failure(core: SimCore, thread: SimThread, run: SimRun) -> None:
    message = run.faults.failure_message or _LLM_FAILURE
    key = next(iter(run.key_headers.values()), "")
    message = message.replace("{key}", key)
    if not core.behaviour.silent_llm_failure:
        await _fail(core, run, message)
        return
    _status(core, thread, run, "thread_run_end")
    run.push({"type": "status", "status": "completed", "message": _COMPLETED})
    await _lag(core)
    core.finish(run, "completed", error=None, control="END_STREAM")
    # pushed fire-and-forget by the agent, it lands after the awaited final status
    run.push({"type": "status", "status": "error", "message": message})


async def _misbehave(core: SimCore, run: SimRun, fate: str) -> None:
    if fate == "hang":
        await asyncio.Event().wait()  # until stop cancels the task
    message = "Billing limit reached: Monthly limit of 60 minutes reached."
    run.push({"type": "status", "status": "stopped", "message": message})
    await _lag(core)
    core.finish(run, "stopped", error=message, control="STOP")


async def execute(core: SimCore, run: SimRun, script: AgentScript, fate: str) -> None:
    """Play ``script`` as run ``run``; ``fate`` is ok, fail, hang or billing."""
    behaviour = core.behaviour
    if core.config.pickup_delay_ms:
        await asyncio.sleep(core.config.pickup_delay_ms / 1000.0)
    run.picked_up = True
    thread = core.threads[run.thread_id]
    if behaviour.redis_stream:
        run.push({"type": "status", "status": "initializing"})
    if behaviour.require_model and run.requested_model is None:
        await _fail(core, run, _NO_MODEL)
        return
    rng = random.Random(f"{core.config.seed}:{run.ordinal}")  # not the random id
    latency = script.latency_s(rng)
    spike = run.faults.latency_spike_rate
    if spike and rng.random() < spike:
        latency += run.faults.latency_spike_ms / 1000.0
    pause = latency / (script.llm_calls * script.chunks)
    # an agent echoing what it was given: ``{key}`` is the first X-API-Key-<service> value
    answer = script.render(run.prompt).replace("{key}", next(iter(run.key_headers.values()), ""))
    _status(core, thread, run, "thread_run_start")
    late: list[Callable[[], None]] = []
    for call in range(script.llm_calls):
        last = call == script.llm_calls - 1
        trid = core.new_id()
        if behaviour.redis_stream:
            run.push({"type": "llm_response_start", "thread_run_id": trid})
        else:
            _status(core, thread, run, "assistant_response_start", thread_run_id=trid)
        if fate == "fail" and last:  # the provider fails the answering call
            await _llm_failure(core, thread, run)
            return
        call_id = f"call_{core.new_id()[:8]}"
        unified: Any = None
        if last:
            body, content, unified = _final_message(core, answer, call_id)
        else:
            body = f"Working on it: step {call + 1} of {script.llm_calls}."
            content = {"role": "assistant", "content": body, "tool_calls": None}
        pieces = _split(body, script.chunks)
        order = _order(pieces, rng, behaviour.reorder_events)
        for position, seq in enumerate(order):
            if pause > 0:
                await asyncio.sleep(pause)
            if last and fate != "ok" and position == len(pieces) // 2:
                await _misbehave(core, run, fate)
                return
            now = core.clock.now()
            run.push({
                "sequence": seq, "message_id": None, "thread_id": thread.thread_id,
                "type": "assistant", "is_llm_message": True,
                "content": json.dumps({"role": "assistant", "content": pieces[seq]}),
                "metadata": json.dumps({"stream_status": "chunk", "thread_run_id": trid}),
                "created_at": now, "updated_at": now,
            })
        metadata: dict[str, Any] = {"stream_status": "complete", "thread_run_id": trid}
        if unified is not None:
            metadata["tool_calls"] = unified
        row = core.store(thread, "assistant", content, metadata, is_llm=True,
                         agent_id=run.agent_id)  # fmt: skip
        run.push(core.streamed(row))
        result = "The task is complete." if last else f"Result of step {call + 1}."
        tool = core.store(
            thread, "tool", {"role": "tool", "tool_call_id": call_id, "content": result},
            {"thread_run_id": trid}, is_llm=True,
        )
        run.push(core.streamed(tool))
        _status(core, thread, run, "finish", thread_run_id=trid,
                finish_reason="stop" if last else "tool_calls")  # fmt: skip
        _usage_row(core, thread, run, script, trid, late)
        if behaviour.redis_stream:
            run.push({"type": "llm_response_end", "thread_run_id": trid})
    _status(core, thread, run, "thread_run_end")
    run.push({"type": "status", "status": "completed", "message": _COMPLETED})
    await _lag(core)
    core.finish(run, "completed", error=None, control="END_STREAM")
    if late:
        await asyncio.sleep(core.config.usage_lag_ms / 1000.0)
        for store in late:
            store()
