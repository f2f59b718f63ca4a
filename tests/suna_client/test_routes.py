"""Every route of the client against the simulator, happy paths and Suna's refusals."""

from __future__ import annotations

from typing import Any

import pytest

from suna_client import (
    AgentRun,
    AgentStartRequest,
    ApiKeyAuth,
    BearerAuth,
    InitiateRequest,
    MessageRow,
    RunStatusEvent,
    SunaForbiddenError,
    SunaNotFoundError,
    SunaPaymentRequiredError,
    SunaRateLimitedError,
    SunaStatusError,
)
from suna_sim import Faults, SunaSimulator, mint_token


async def test_create_thread_and_add_message(h: Any) -> None:
    thread = await h.client.create_thread("my project")
    assert thread.thread_id and thread.project_id
    row = await h.client.add_message(thread.thread_id, "What is 2+2?")
    assert isinstance(row, MessageRow)
    assert row.type == "user" and row.message_id and row.thread_id == thread.thread_id
    assert row.content == {"role": "user", "content": "What is 2+2?"}
    assert row.text == "What is 2+2?"


async def test_start_wait_answer_usage(h: Any) -> None:
    thread_id, run_id = await h.started("echo", "ping me")
    result = await h.client.wait_for_run(run_id)
    assert result.status == "completed" and result.run.id == run_id
    assert result.run.thread_id == thread_id and result.run.completed_at
    assert result.stream_status == "completed" and not result.polled
    assert await h.client.run_answer(thread_id) == "Echo: ping me"
    usage = await h.client.run_usage(thread_id)
    assert (usage.input_tokens, usage.output_tokens, usage.llm_calls) == (120, 40, 1)
    assert usage.model == "openai/gpt-5-mini"
    output = await h.client.run_output(thread_id)
    assert output.answer == "Echo: ping me" and output.usage == usage


async def test_start_options_reach_suna(h: Any) -> None:
    thread_id = await h.new_thread()
    request = AgentStartRequest(agent_id="thinker", model_name="openai/gpt-5", enable_thinking=True)
    started = await h.client.start_agent(thread_id, request)
    assert started.status == "running"
    await h.client.wait_for_run(started.agent_run_id)
    assert h.sim.run(started.agent_run_id).model == "openai/gpt-5"
    usage = await h.client.run_usage(thread_id)
    assert usage.model == "openai/gpt-5"
    assert (usage.cached_tokens, usage.reasoning_tokens) == (128, 64)
    assert await h.client.run_answer(thread_id) == '{"verdict": "ok", "score": 3}'


async def test_no_agent_id_runs_the_default_agent(h: Any) -> None:
    thread_id = await h.new_thread("x")
    started = await h.client.start_agent(thread_id)
    await h.client.wait_for_run(started.agent_run_id)
    assert h.sim.stats().runs_by_agent == {"echo": 1}


async def test_multi_call_run_sums_every_usage_row(h: Any) -> None:
    thread_id, run_id = await h.started("multi")
    seen: list[Any] = []
    result = await h.client.wait_for_run(run_id, on_event=seen.append)
    assert result.status == "completed"
    chunks = [e for e in seen if isinstance(e, MessageRow) and e.stream_status == "chunk"]
    assert len(chunks) == 9  # 3 calls x 3 chunks; sequences restart at 0 per call
    assert sorted(c.sequence for c in chunks) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    output = await h.client.run_output(thread_id)
    assert output.answer == "final answer"
    usage = output.usage
    assert usage.llm_calls == 3 and len(usage.records) == 3
    assert (usage.input_tokens, usage.output_tokens) == (3000, 300)
    assert (usage.cached_tokens, usage.cache_creation_tokens) == (1800, 150)
    assert usage.models == ("anthropic/claude-sonnet-4",)
    assert h.sim.stats().usage.input_tokens == usage.input_tokens


async def test_initiate_one_call(h: Any) -> None:
    request = InitiateRequest(prompt="one shot", agent_id="echo", enable_thinking=False)
    result = await h.client.initiate(request, files=[("notes.txt", b"hello")])
    assert result.thread_id and result.agent_run_id
    done = await h.client.wait_for_run(result.agent_run_id)
    assert done.status == "completed"
    assert await h.client.run_answer(result.thread_id) == "Echo: one shot"


async def test_get_run_reads_camel_case_and_list_is_newest_first(h: Any) -> None:
    thread_id, first = await h.started("echo")
    await h.client.wait_for_run(first)
    second = (await h.client.start_agent(thread_id)).agent_run_id
    run = await h.client.get_run(second)
    assert isinstance(run, AgentRun) and run.thread_id == thread_id and run.started_at
    runs = await h.client.list_thread_runs(thread_id)
    assert [r.id for r in runs] == [second, first]
    assert runs[0].created_at and runs[1].status == "completed"
    await h.client.wait_for_run(second)


async def test_messages_order(h: Any) -> None:
    thread_id, run_id = await h.started("echo")
    await h.client.wait_for_run(run_id)
    newest_first = await h.client.get_messages(thread_id)
    oldest_first = await h.client.get_messages(thread_id, order="asc")
    assert [m.message_id for m in newest_first] == [m.message_id for m in reversed(oldest_first)]
    assert oldest_first[0].type == "user"
    assert newest_first[0].type == "status"  # thread_run_end is the last stored row
    kinds = {m.type for m in oldest_first}
    assert "assistant_response_end" in kinds
    assert all(isinstance(m.content, dict) for m in oldest_first)


async def test_stream_run_decodes_string_content(h: Any) -> None:
    _, run_id = await h.started("echo")
    events = [event async for event in h.client.stream_run(run_id)]
    rows = [e for e in events if isinstance(e, MessageRow)]
    assert rows and all(isinstance(r.content, dict) for r in rows)
    assert isinstance(events[-1], RunStatusEvent) and events[-1].status == "completed"


async def test_stop_run(h: Any) -> None:
    thread_id, run_id = await h.started("hanger")
    stopped = await h.client.stop_run(run_id)
    assert stopped.status == "stopped"
    result = await h.client.wait_for_run(run_id)
    assert result.status == "stopped"
    assert (await h.client.list_thread_runs(thread_id))[0].status == "stopped"


async def test_api_key_auth_and_caller_token(h: Any) -> None:
    async with h.make_client(auth=ApiKeyAuth(h.API_KEY)) as by_key:
        thread_id = await h.new_thread(client=by_key)
        assert (await by_key.get_messages(thread_id))[0].text == "hello"
    other = mint_token(h.SECRET, "acct-b")
    thread = await h.client.create_thread(caller_token=other)
    with pytest.raises(SunaForbiddenError):
        await h.client.get_messages(thread.thread_id)
    assert await h.client.get_messages(thread.thread_id, caller_token=other) == []


async def test_ownership_403_and_404(h: Any) -> None:
    thread_id, run_id = await h.started("echo")
    async with h.make_client(auth=BearerAuth(mint_token(h.SECRET, "intruder"))) as intruder:
        with pytest.raises(SunaForbiddenError) as info:
            await intruder.add_message(thread_id, "hi")
        assert info.value.status == 403
        assert info.value.detail == "Not authorized to access this thread"
        with pytest.raises(SunaForbiddenError):
            await intruder.get_run(run_id)
        with pytest.raises(SunaForbiddenError):
            await intruder.wait_for_run(run_id)
    with pytest.raises(SunaNotFoundError) as missing:
        await h.client.get_messages("00000000-0000-4000-8000-000000000000")
    assert missing.value.detail == "Thread not found" and missing.value.request_id
    with pytest.raises(SunaNotFoundError):
        await h.client.get_run("nope")


async def test_unknown_agent_is_404(h: Any) -> None:
    thread_id = await h.new_thread()
    with pytest.raises(SunaNotFoundError) as info:
        await h.client.start_agent(thread_id, AgentStartRequest(agent_id="ghost"))
    assert "Agent not found" in str(info.value)


async def test_bad_credentials_are_a_status_error(h: Any) -> None:
    forged = mint_token("wrong-secret-wrong-secret-0123456", "x")
    async with h.make_client(auth=BearerAuth(forged)) as bad:
        with pytest.raises(SunaStatusError) as info:
            await bad.create_thread()
    assert info.value.status == 401 and type(info.value) is SunaStatusError


async def test_out_of_credit_is_402(h: Any) -> None:
    thread_id = await h.new_thread()
    h.sim.set_faults(Faults(out_of_credit=[h.ACCOUNT]))
    with pytest.raises(SunaPaymentRequiredError) as info:
        await h.client.start_agent(thread_id)
    assert info.value.status == 402 and "Monthly limit" in str(info.value)
    assert h.sim.stats().runs_started == 0


async def test_parallel_run_limit_is_429_with_counts(h: Any) -> None:
    runs = [(await h.started("hanger"))[1] for _ in range(3)]
    thread_id = await h.new_thread()
    with pytest.raises(SunaRateLimitedError) as info:
        await h.client.start_agent(thread_id)
    err = info.value
    assert (err.status, err.running_count, err.limit) == (429, 3, 3)
    assert h.sim.stats().requests["start_agent"] == 4  # the refused start was not retried
    await h.client.stop_run(runs[0])
    started = await h.client.start_agent(thread_id, AgentStartRequest(agent_id="echo"))
    assert (await h.client.wait_for_run(started.agent_run_id)).status == "completed"


async def test_later_run_limit_is_402_agent_run_limit_exceeded(h: Any) -> None:
    async with SunaSimulator(
        agents={"agents": [{"agent_id": "hanger", "faults": {"hang_rate": 1.0}}]},
        jwt_secret=h.SECRET, max_parallel_runs=1, run_limit_status=402,
    ) as later, h.make_client(later.base_url) as suna:
        first = await suna.create_thread()
        await suna.start_agent(first.thread_id)
        second = await suna.create_thread()
        with pytest.raises(SunaRateLimitedError) as info:
            await suna.start_agent(second.thread_id)
    err = info.value
    assert err.status == 402 and err.error_code == "AGENT_RUN_LIMIT_EXCEEDED"
    assert (err.running_count, err.limit) == (1, 1)


async def test_llm_response_end_usage_rows(h: Any) -> None:
    async with SunaSimulator(
        agents={"agents": [{"agent_id": "a", "model": "anthropic/claude-sonnet-4",
                            "input_tokens": 900, "output_tokens": 90, "cached_tokens": 300,
                            "cache_creation_tokens": 20, "llm_calls": 2}]},
        jwt_secret=h.SECRET, usage_row_type="llm_response_end",
    ) as later, h.make_client(later.base_url) as suna:
        thread = await suna.create_thread()
        await suna.add_message(thread.thread_id, "x")
        run = await suna.start_agent(thread.thread_id)
        await suna.wait_for_run(run.agent_run_id)
        usage = await suna.run_usage(thread.thread_id)
    assert {r.row_type for r in usage.records} == {"llm_response_end"}
    assert (usage.input_tokens, usage.cached_tokens, usage.cache_creation_tokens) == (1800, 600, 40)
    assert usage.llm_calls == 2 and usage.estimated is False
