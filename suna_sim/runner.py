"""A scripted run, emitting what Suna emits in the order Suna emits it.

Per LLM call: ``assistant_response_start``, the answer in chunks (streamed
only; ``message_id: null``, a ``sequence`` restarting at 0 per call, a fresh
``thread_run_id``), the complete assistant row, ``finish``, and the usage row
(stored, never streamed). Then ``thread_run_end``, the run-level
``completed`` event, the database status and the ``END_STREAM`` signal.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import TYPE_CHECKING, Any

from .agents import AgentScript
from .state import SimRun, SimThread

if TYPE_CHECKING:
    from .core import SimCore

__all__ = ["execute"]

_COMPLETED = "Agent run completed successfully"


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
    core: SimCore, thread: SimThread, run: SimRun, script: AgentScript, thread_run_id: str
) -> None:
    inp, out = script.input_tokens, script.output_tokens
    cached, created = script.cached_tokens, script.cache_creation_tokens
    usage: dict[str, Any] = {"prompt_tokens": inp, "completion_tokens": out,
                             "total_tokens": inp + out}
    later = core.config.usage_row_type == "llm_response_end"
    if cached or later:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    if run.model.startswith("anthropic/") or later:
        usage["cache_read_input_tokens"] = cached
        usage["cache_creation_input_tokens"] = created
    if script.reasoning_tokens:
        usage["completion_tokens_details"] = {"reasoning_tokens": script.reasoning_tokens}
    content: dict[str, Any] = {"model": run.model, "usage": usage}
    if later:
        content.update(estimated=False, fallback=False, thread_run_id=thread_run_id)
    else:
        content.update(
            id=f"chatcmpl-{core.new_id()[:12]}", object="chat.completion",
            created=int(time.time()), choices=[{"index": 0, "finish_reason": "stop"}],
        )
    core.store(thread, core.config.usage_row_type, content,
               {"thread_run_id": thread_run_id}, is_llm=False)
    core.usage.add(run.model, {
        "input_tokens": inp, "output_tokens": out, "cached_tokens": cached,
        "cache_creation_tokens": created, "reasoning_tokens": script.reasoning_tokens,
        "total_tokens": inp + out, "llm_calls": 1,
    })


async def _misbehave(core: SimCore, run: SimRun, fate: str) -> None:
    if fate == "hang":
        await asyncio.Event().wait()  # until stop cancels the task
    lag = core.faults.faults.status_lag_ms / 1000.0
    if fate == "billing":
        message = "Billing limit reached: Monthly limit of 60 minutes reached."
        run.push({"type": "status", "status": "stopped", "message": message})
        if lag:
            await asyncio.sleep(lag)
        core.finish(run, "stopped", error=message, control="STOP")
        return
    message = "Simulated LLM failure: upstream provider returned 500"
    run.push({"type": "status", "status": "error", "message": message})
    if lag:
        await asyncio.sleep(lag)
    core.finish(run, "failed", error=message, control="ERROR")


async def execute(core: SimCore, run: SimRun, script: AgentScript, fate: str) -> None:
    """Play ``script`` as run ``run``; ``fate`` is ok, fail, hang or billing."""
    thread = core.threads[run.thread_id]
    rng = random.Random(f"{core.config.seed}:{run.ordinal}")  # not the random id
    latency = script.latency_s(rng)
    spike = run.faults.latency_spike_rate
    if spike and rng.random() < spike:
        latency += run.faults.latency_spike_ms / 1000.0
    pause = latency / (script.llm_calls * script.chunks)
    text = script.render(run.prompt)
    _status(core, thread, run, "thread_run_start")
    for call in range(script.llm_calls):
        last = call == script.llm_calls - 1
        trid = core.new_id()
        _status(core, thread, run, "assistant_response_start", thread_run_id=trid)
        body = text if last else f"Working on it: step {call + 1} of {script.llm_calls}."
        pieces = _split(body, script.chunks)
        for seq, piece in enumerate(pieces):
            if pause > 0:
                await asyncio.sleep(pause)
            if last and fate != "ok" and seq == len(pieces) // 2:
                await _misbehave(core, run, fate)
                return
            now = core.clock.now()
            run.push({
                "sequence": seq, "message_id": None, "thread_id": thread.thread_id,
                "type": "assistant", "is_llm_message": True,
                "content": json.dumps({"role": "assistant", "content": piece}),
                "metadata": json.dumps({"stream_status": "chunk", "thread_run_id": trid}),
                "created_at": now, "updated_at": now,
            })
        row = core.store(
            thread, "assistant", {"role": "assistant", "content": body, "tool_calls": None},
            {"stream_status": "complete", "thread_run_id": trid},
            is_llm=True, agent_id=run.agent_id,
        )
        run.push(core.streamed(row))
        if not last:
            tool = core.store(
                thread, "tool", {"role": "tool", "content": f"Result of step {call + 1}."},
                {"thread_run_id": trid}, is_llm=True,
            )
            run.push(core.streamed(tool))
        _status(core, thread, run, "finish", thread_run_id=trid,
                finish_reason="stop" if last else "tool_calls")
        _usage_row(core, thread, run, script, trid)
    _status(core, thread, run, "thread_run_end")
    run.push({"type": "status", "status": "completed", "message": _COMPLETED})
    lag = core.faults.faults.status_lag_ms / 1000.0
    if lag:
        await asyncio.sleep(lag)
    core.finish(run, "completed", error=None, control="END_STREAM")
