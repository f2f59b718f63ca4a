"""Every route of the client against the simulator of each flavour: happy paths and
Suna's refusals."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp import web

from suna_client import (
    AgentRun,
    ApiKeyAuth,
    BearerAuth,
    InitiateRequest,
    MessageRow,
    RunStatusEvent,
    StartRequest,
    SunaAgentsDisabledError,
    SunaClient,
    SunaConnectionError,
    SunaFlavourError,
    SunaForbiddenError,
    SunaInvalidIdError,
    SunaNotFoundError,
    SunaPaymentRequiredError,
    SunaQuotaExceededError,
    SunaRateLimitedError,
    SunaServerError,
    SunaStatusError,
    SunaUnauthorizedError,
    SunaUnknownAgentError,
    probe,
)
from suna_sim import Faults, SunaSimulator, agent_uuid, mint_token

OTHER = "b0b0b000-0000-4000-8000-00000000000b"


async def test_auto_finds_the_flavour(h: Any) -> None:
    assert h.client.flavour_setting == "auto"
    assert await h.client.flavour() == h.flavour
    assert (await h.client.routes()).prefix == h.p


async def test_a_probe_that_cannot_decide_says_what_it_tried() -> None:
    app = web.Application()  # answers 404 to everything: no Suna
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with SunaClient(f"http://127.0.0.1:{port}") as suna:
            with pytest.raises(SunaFlavourError) as info:
                await suna.get_run(str(uuid.uuid4()))
        text = str(info.value)
        assert "GET /v1/agent/start: 404" in text and "GET /api/agent/start: 404" in text
        assert "SUNA_API_FLAVOUR" in text
        import aiohttp

        async with aiohttp.ClientSession() as session:
            with pytest.raises(SunaConnectionError) as refused:  # down: waited out, not final
                await probe(session, "http://127.0.0.1:1")
            assert not isinstance(refused.value, SunaFlavourError)
    finally:
        await runner.cleanup()


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
    assert usage.model == "gpt-5-mini"  # as Suna records it: the provider's name
    output = await h.client.run_output(thread_id, requested_model=h.MODEL)
    assert output.answer == "Echo: ping me" and output.answer_source == "complete"
    assert output.usage.requested_model == h.MODEL
    users = [m for m in await h.client.get_messages(thread_id) if m.type == "user"]
    assert [m.text for m in users] == ["ping me"]  # the prompt once, whatever the flavour


async def test_start_options_reach_suna(h: Any) -> None:
    request = StartRequest(prompt="x", agent_id=h.agent("thinker"), model_name="openai/gpt-5",
                           enable_thinking=True)  # fmt: skip
    started = await h.client.start(request)
    assert started.status == "running" and started.thread_id
    await h.client.wait_for_run(started.agent_run_id)
    assert h.sim.run(started.agent_run_id).model == "openai/gpt-5"
    usage = await h.client.run_usage(started.thread_id)
    assert usage.model == "gpt-5"
    assert (usage.cached_tokens, usage.reasoning_tokens) == (128, 64)
    assert await h.client.run_answer(started.thread_id) == '{"verdict": "ok", "score": 3}'


async def test_no_agent_id_runs_the_default_agent(h: Any) -> None:
    started = await h.client.start(StartRequest(prompt="x", model_name=h.MODEL))
    await h.client.wait_for_run(started.agent_run_id)
    assert h.sim.stats().runs_by_agent == {"echo": 1}


async def test_a_start_on_an_existing_thread(h: Any) -> None:
    thread_id, first = await h.started("echo", "one")
    await h.client.wait_for_run(first)
    again = await h.client.start(StartRequest(prompt="two", thread_id=thread_id,
                                              model_name=h.MODEL))  # fmt: skip
    assert again.thread_id == thread_id
    await h.client.wait_for_run(again.agent_run_id)
    users = [m.text for m in await h.client.get_messages(thread_id, order="asc")
             if m.type == "user"]  # fmt: skip
    assert users == ["one", "two"]
    assert await h.client.run_answer(thread_id) == "Echo: two"


async def test_optimistic_start_uses_the_callers_ids(h: Any) -> None:
    thread_id, project_id = str(uuid.uuid4()), str(uuid.uuid4())
    request = StartRequest(prompt="x", thread_id=thread_id, project_id=project_id,
                           optimistic=True, model_name=h.MODEL)  # fmt: skip
    if h.flavour == "api-2025":
        with pytest.raises(SunaFlavourError):
            await h.client.start(request)
        assert h.sim.stats().requests == {"create_thread": 0} or not h.sim.stats().threads
        return
    started = await h.client.start(request)
    assert (started.thread_id, started.project_id) == (thread_id, project_id)
    shared = await h.client.start(StartRequest(
        prompt="y", thread_id=str(uuid.uuid4()), project_id=project_id, optimistic=True))
    assert shared.project_id == project_id  # threads of one project share its sandbox
    generated = await h.client.start(StartRequest(prompt="z", optimistic=True))
    assert uuid.UUID(generated.thread_id) and uuid.UUID(str(generated.project_id))
    with pytest.raises(SunaServerError):  # the same optimistic ids twice
        await h.client.start(request)
    assert h.sim.stats().duplicate_starts == 0


async def test_multi_call_run_sums_every_usage_row(h: Any) -> None:
    thread_id, run_id = await h.started("multi", model="anthropic/claude-sonnet-4")
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
    assert usage.models == ("claude-sonnet-4",)
    assert h.sim.stats().usage.input_tokens == usage.input_tokens


@pytest.mark.flavours("api-2025")
async def test_initiate_one_call(h: Any) -> None:
    request = InitiateRequest(prompt="one shot", agent_id=h.agent("echo"), enable_thinking=False,
                              model_name=h.MODEL)  # fmt: skip
    result = await h.client.initiate(request, files=[("notes.txt", b"hello")])
    assert result.thread_id and result.agent_run_id
    done = await h.client.wait_for_run(result.agent_run_id)
    assert done.status == "completed"
    assert await h.client.run_answer(result.thread_id) == "Echo: one shot"


@pytest.mark.flavours("agent-start", "v1")
async def test_routes_a_flavour_lacks_are_refused(h: Any) -> None:
    with pytest.raises(SunaFlavourError):
        await h.client.initiate(InitiateRequest(prompt="x"))
    with pytest.raises(SunaFlavourError):
        await h.client.start_agent(str(uuid.uuid4()))


async def test_get_run_reads_camel_case_and_list_is_newest_first(h: Any) -> None:
    thread_id, first = await h.started("echo")
    await h.client.wait_for_run(first)
    second = await h.start_on(thread_id)
    run = await h.client.get_run(second)
    assert isinstance(run, AgentRun) and run.thread_id == thread_id and run.started_at
    runs = await h.client.list_thread_runs(thread_id, expect_run=True)
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
    assert ("assistant_response_end" if h.flavour == "api-2025" else "llm_response_end") in kinds
    assert all(isinstance(m.content, dict) for m in oldest_first)


async def test_stream_run_decodes_string_content(h: Any) -> None:
    thread_id, run_id = await h.started("echo")
    await h.client.list_thread_runs(thread_id, expect_run=True)
    events = [event async for event in h.client.stream_run(run_id)]
    rows = [e for e in events if isinstance(e, MessageRow)]
    assert rows and all(isinstance(r.content, dict) for r in rows if r.type == "assistant")
    assert isinstance(events[-1], RunStatusEvent) and events[-1].status == "completed"
    if h.flavour == "v1":
        ids = [e.event_id for e in events if not isinstance(e, type(None))]
        assert all(ids)
        rest = [e async for e in h.client.stream_run(run_id, last_id=ids[-3])]
        assert [e.event_id for e in rest] == ids[-2:]  # type: ignore[union-attr]


async def test_stop_run(h: Any) -> None:
    thread_id, run_id = await h.started("hanger")
    stopped = await h.client.stop_run(run_id)  # a v1 run row written late is waited for
    assert stopped.status == "stopped"
    result = await h.client.wait_for_run(run_id)
    assert result.status == "stopped"
    assert (await h.client.list_thread_runs(thread_id))[0].status == "stopped"


async def test_api_key_auth_and_caller_token(h: Any) -> None:
    async with h.make_client(auth=ApiKeyAuth(h.API_KEY)) as by_key:
        thread_id = await h.new_thread(client=by_key)
        assert (await by_key.get_messages(thread_id))[0].text == "hello"
    async with SunaSimulator(**h.sim_options(h.flavour, accounts=frozenset({h.ACCOUNT, OTHER}))
                             ) as two, h.make_client(two.base_url) as suna:  # fmt: skip
        other = mint_token(h.SECRET, OTHER)
        thread = await suna.create_thread(caller_token=other)
        with pytest.raises(SunaForbiddenError):
            await suna.get_messages(thread.thread_id)
        assert await suna.get_messages(thread.thread_id, caller_token=other) == []


async def test_a_client_acting_as_another_account_shares_its_connections(h: Any) -> None:
    other_key = "pk_other:sk_other_secret_value"
    options = h.sim_options(h.flavour, api_keys={h.API_KEY: h.ACCOUNT, other_key: OTHER})
    async with SunaSimulator(**options) as two, h.make_client(two.base_url,
                                                              flavour="auto") as suna:  # fmt: skip
        theirs = suna.acting_as(ApiKeyAuth(other_key))
        assert await theirs.flavour() == h.flavour
        agent = await theirs.resolve_agent("echo")
        assert agent == agent_uuid(OTHER, "echo")  # the other account's agents
        started = await theirs.start(StartRequest(prompt="hi", agent_id=agent, model_name=h.MODEL))
        assert (await theirs.wait_for_run(started.agent_run_id)).status == "completed"
        assert two.run(started.agent_run_id).account_id == OTHER
        with pytest.raises((SunaForbiddenError, SunaNotFoundError)):  # not the service's
            await suna.get_messages(started.thread_id)
        assert theirs.transport is not suna.transport and theirs.breaker is suna.breaker
        await theirs.close()  # closes nothing of the client it acts for
        assert (await suna.list_agents()).agents  # its session is still open


async def test_a_caller_that_is_not_an_account_gets_a_500(h: Any) -> None:
    async with h.make_client(auth=BearerAuth(mint_token(h.SECRET, "renum"))) as stranger:
        with pytest.raises(SunaServerError) as info:
            await stranger.create_thread()
    assert info.value.status == 500 and info.value.body_excerpt == "Internal Server Error"


async def test_ownership_403_and_404(h: Any) -> None:
    thread_id, run_id = await h.started("echo")
    await h.client.wait_for_run(run_id)
    async with SunaSimulator(**h.sim_options(h.flavour, accounts=frozenset({h.ACCOUNT, OTHER}))
                             ) as two, h.make_client(two.base_url) as mine:  # fmt: skip
        thread_id, run_id = await h.started("echo", client=mine)
        await mine.wait_for_run(run_id)
        async with h.make_client(two.base_url,
                                 auth=BearerAuth(mint_token(h.SECRET, OTHER))) as intruder:
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


async def test_ids_that_are_not_uuids_are_refused_before_any_request(h: Any) -> None:
    for call in (h.client.get_run("nope"), h.client.get_messages("t-1"),
                 h.client.list_thread_runs("../x"), h.client.stop_run("42"),
                 h.client.get_agent("classifier"),
                 h.client.start(StartRequest(prompt="x", agent_id="classifier"))):
        with pytest.raises(SunaInvalidIdError):
            await call
    assert not set(h.sim.stats().requests) - {"list_agents"}  # nothing was sent


async def test_unknown_agent_is_404(h: Any) -> None:
    with pytest.raises(SunaNotFoundError) as info:
        await h.client.start(StartRequest(prompt="x", agent_id=str(uuid.uuid4()),
                                          model_name=h.MODEL))  # fmt: skip
    assert "Agent not found" in str(info.value)


async def test_agents_list_get_and_resolve(h: Any) -> None:
    page = await h.client.list_agents(limit=2)
    assert len(page.agents) == 2 and page.total == 5 and page.has_next
    second = await h.client.list_agents(limit=2, page=3)
    assert len(second.agents) == 1 and not second.has_next
    found = await h.client.list_agents(search="mult")
    assert [a.name for a in found.agents] == ["multi"]
    agent = await h.client.get_agent(found.agents[0].agent_id)
    assert agent.name == "multi" and agent.account_id == h.ACCOUNT
    assert await h.client.resolve_agent("multi") == h.agent("multi")
    assert await h.client.resolve_agent(h.agent("echo")) == h.agent("echo")  # a UUID: as is
    with pytest.raises(SunaUnknownAgentError) as info:
        await h.client.resolve_agent("mul")  # a search hit, not an exact name
    assert info.value.matches == 0


async def test_an_ambiguous_agent_name(h: Any) -> None:
    await h.client.transport.call(h.client.transport.build_call(
        "POST", f"{h.p}/agents", idempotent=False, json_body={"name": "echo"}), lambda d: d)
    with pytest.raises(SunaUnknownAgentError) as info:
        await h.client.resolve_agent("echo")
    assert info.value.matches == 2 and "2 agents" in str(info.value)


async def test_agents_disabled_is_its_own_403(h: Any) -> None:
    options = h.sim_options(h.flavour, custom_agents=False)
    async with SunaSimulator(**options) as off, h.make_client(off.base_url) as suna:
        with pytest.raises(SunaAgentsDisabledError) as info:
            await suna.list_agents()
    assert info.value.status == 403 and isinstance(info.value, SunaForbiddenError)


async def test_bad_credentials_are_a_status_error(h: Any) -> None:
    forged = mint_token("wrong-secret-wrong-secret-0123456", h.ACCOUNT)
    async with h.make_client(auth=BearerAuth(forged)) as bad:
        if h.flavour != "v1":  # signatures are not checked before v1
            assert await bad.create_thread()
            return
        with pytest.raises(SunaStatusError) as info:
            await bad.create_thread()
    assert info.value.status == 401 and type(info.value) is SunaUnauthorizedError


async def test_out_of_credit_is_402(h: Any) -> None:
    thread_id = await h.new_thread()
    h.sim.set_faults(Faults(out_of_credit=[h.ACCOUNT]))
    with pytest.raises(SunaPaymentRequiredError) as info:
        await h.start_on(thread_id)
    assert info.value.status == 402 and "Monthly limit" in str(info.value)
    assert not isinstance(info.value, SunaQuotaExceededError)
    assert h.sim.stats().runs_started == 0


async def test_thread_quota_is_its_own_402(h: Any) -> None:
    options = h.sim_options(h.flavour, thread_limit=1)
    async with SunaSimulator(**options) as free, h.make_client(free.base_url) as suna:
        await h.started("echo", client=suna)
        with pytest.raises(SunaQuotaExceededError) as info:
            await h.started("echo", client=suna)
    assert info.value.error_code == "THREAD_LIMIT_EXCEEDED"
    assert not isinstance(info.value, SunaPaymentRequiredError | SunaRateLimitedError)


async def test_parallel_run_limit_with_counts(h: Any) -> None:
    runs = [(await h.started("hanger"))[1] for _ in range(3)]
    thread_id = await h.new_thread()
    with pytest.raises(SunaRateLimitedError) as info:
        await h.start_on(thread_id)
    err = info.value
    assert (err.running_count, err.limit) == (3, 3)
    if h.flavour == "api-2025":
        assert err.status == 429
    else:
        assert err.status == 402 and err.error_code == "AGENT_RUN_LIMIT_EXCEEDED"
    assert h.sim.stats().requests["start_agent"] == 4  # the refused start was not retried
    await h.client.stop_run(runs[0])
    run_id = await h.start_on(thread_id, agent="echo")
    assert (await h.client.wait_for_run(run_id)).status == "completed"
