"""The Suna API routes (``/api`` prefix), with Suna's shapes and checks."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .auth import account_of, key_headers
from .core import SimCore
from .http import CORE, ApiError, json_body, reply
from .stream import stream_run

__all__ = ["add_api_routes"]

_START_FIELDS = {
    "model_name": str, "enable_thinking": bool, "reasoning_effort": str, "stream": bool,
    "enable_context_manager": bool, "agent_id": str,
}


def _caller(request: web.Request) -> tuple[SimCore, str]:
    core = request.app[CORE]
    return core, account_of(request, core.config)


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, [{"type": "value_error", "loc": ["body", field], "msg": message}])


def _start_options(data: dict[str, Any]) -> dict[str, Any]:
    for name, kind in _START_FIELDS.items():
        value = data.get(name)
        if value is not None and not isinstance(value, kind):
            raise _invalid(name, f"Input should be a valid {kind.__name__}")
    return data


async def create_thread(request: web.Request) -> web.Response:
    """``POST /api/threads`` (form ``name``): a thread and its project."""
    core, account = _caller(request)
    form = await request.post()
    name = form.get("name")
    thread = core.create_thread(account, name if isinstance(name, str) else "")
    return reply({"thread_id": thread.thread_id, "project_id": thread.project_id})


async def add_message(request: web.Request) -> web.Response:
    """``POST /api/threads/{tid}/messages``: store a message, answer its row."""
    core, account = _caller(request)
    data = await json_body(request)
    thread = core.thread_for(account, request.match_info["tid"])
    kind, content = data.get("type"), data.get("content")
    if not isinstance(kind, str):
        raise _invalid("type", "Field required")
    if not isinstance(content, str):
        raise _invalid("content", "Field required")
    is_llm = data.get("is_llm_message", True)
    role = kind if kind in ("user", "assistant") else "user"
    row = core.store(thread, kind, {"role": role, "content": content}, {}, is_llm=bool(is_llm))
    return reply(row)


async def start_agent(request: web.Request) -> web.Response:
    """``POST /api/thread/{tid}/agent/start``: a new run (no idempotency key)."""
    core, account = _caller(request)
    data = _start_options(await json_body(request))
    thread = core.thread_for(account, request.match_info["tid"])
    script = core.admit(account, data.get("agent_id"))
    run = core.start_run(
        account, thread, script, model_name=data.get("model_name"),
        key_headers=key_headers(request),
    )
    return reply({"agent_run_id": run.id, "status": "running"})


async def initiate(request: web.Request) -> web.Response:
    """``POST /api/agent/initiate`` (multipart): project, thread, message, run."""
    core, account = _caller(request)
    form = await request.post()
    prompt = form.get("prompt")
    if not isinstance(prompt, str):
        raise _invalid("prompt", "Field required")
    agent_id = form.get("agent_id")
    model_name = form.get("model_name")
    script = core.admit(account, agent_id if isinstance(agent_id, str) else None)
    thread = core.create_thread(account, "")
    core.store(thread, "user", {"role": "user", "content": prompt}, {}, is_llm=True)
    run = core.start_run(
        account, thread, script, model_name=model_name if isinstance(model_name, str) else None,
        key_headers=key_headers(request),
    )
    return reply({"thread_id": thread.thread_id, "agent_run_id": run.id})


async def get_run(request: web.Request) -> web.Response:
    """``GET /api/agent-run/{rid}``: camelCase status."""
    core, account = _caller(request)
    return reply(core.run_for(account, request.match_info["rid"]).camel())


async def stop_run(request: web.Request) -> web.Response:
    """``POST /api/agent-run/{rid}/stop``."""
    core, account = _caller(request)
    core.stop_run(core.run_for(account, request.match_info["rid"]))
    return reply({"status": "stopped"})


async def list_runs(request: web.Request) -> web.Response:
    """``GET /api/thread/{tid}/agent-runs``: newest first."""
    core, account = _caller(request)
    thread = core.thread_for(account, request.match_info["tid"])
    runs = [core.runs[rid].row() for rid in reversed(thread.run_ids)]
    return reply({"agent_runs": runs})


async def get_messages(request: web.Request) -> web.Response:
    """``GET /api/threads/{tid}/messages?order=desc|asc`` (desc by default)."""
    core, account = _caller(request)
    thread = core.thread_for(account, request.match_info["tid"])
    order = request.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ApiError(422, [{"type": "enum", "loc": ["query", "order"],
                              "msg": "Input should be 'asc' or 'desc'"}])
    rows = thread.messages if order == "asc" else list(reversed(thread.messages))
    return reply({"messages": rows})


def add_api_routes(app: web.Application) -> None:
    """Mount every Suna route; each route's name is the one faults refer to."""
    routes = [
        ("POST", "/api/threads", create_thread, "create_thread"),
        ("POST", "/api/threads/{tid}/messages", add_message, "add_message"),
        ("GET", "/api/threads/{tid}/messages", get_messages, "get_messages"),
        ("POST", "/api/thread/{tid}/agent/start", start_agent, "start_agent"),
        ("POST", "/api/agent/initiate", initiate, "initiate"),
        ("GET", "/api/agent-run/{rid}", get_run, "get_run"),
        ("GET", "/api/agent-run/{rid}/stream", stream_run, "stream"),
        ("POST", "/api/agent-run/{rid}/stop", stop_run, "stop_run"),
        ("GET", "/api/thread/{tid}/agent-runs", list_runs, "list_runs"),
    ]
    for method, path, handler, name in routes:
        app.router.add_route(method, path, handler, name=name)
