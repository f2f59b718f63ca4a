"""The Suna API routes of the configured flavour, with Suna's shapes and checks.

Every flavour has the read routes, threads, messages and agents under its
prefix (``/api`` or ``/v1``); they differ in how a run is started
(``api-2025``: ``POST /api/thread/{tid}/agent/start`` with JSON, after the
prompt was added as a message; later: ``POST P/agent/start``, multipart,
prompt included) and ``v1`` adds two run-status routes.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .auth import account_of, key_headers
from .core import SimCore
from .http import CORE, ApiError, internal_error, json_body, reply
from .ids import is_uuid
from .state import SimThread
from .stream import stream_run

__all__ = ["add_api_routes"]

_START_FIELDS = {
    "model_name": str, "enable_thinking": bool, "reasoning_effort": str, "stream": bool,
    "enable_context_manager": bool, "agent_id": str,
}
_PAGE_MAX = 100


def _caller(request: web.Request) -> tuple[SimCore, str]:
    core = request.app[CORE]
    return core, account_of(request, core.config, verify=core.behaviour.verify_signatures)


def _invalid(field: str, message: str, where: str = "body") -> ApiError:
    return ApiError(422, [{"type": "value_error", "loc": [where, field], "msg": message}])


def _start_options(data: dict[str, Any]) -> dict[str, Any]:
    for name, kind in _START_FIELDS.items():
        value = data.get(name)
        if value is not None and not isinstance(value, kind):
            raise _invalid(name, f"Input should be a valid {kind.__name__}")
    return data


def _text(form: Any, name: str) -> str | None:
    """A multipart field as text; empty counts as absent (as FastAPI's ``Form(None)``)."""
    value = form.get(name)
    return value if isinstance(value, str) and value != "" else None


async def create_thread(request: web.Request) -> web.Response:
    """``POST P/threads`` (form ``name``): a thread, its project and sandbox."""
    core, account = _caller(request)
    form = await request.post()
    name = form.get("name")
    thread = await core.create_thread(account, name if isinstance(name, str) else "")
    return reply({"thread_id": thread.thread_id, "project_id": thread.project_id})


async def add_message(request: web.Request) -> web.Response:
    """``POST P/threads/{tid}/messages``: store a message, answer its row."""
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
    """``POST /api/thread/{tid}/agent/start`` (``api-2025``): a new run, no idempotency key."""
    core, account = _caller(request)
    data = _start_options(await json_body(request))
    thread = core.thread_for(account, request.match_info["tid"])
    agent = core.admit(account, data.get("agent_id"), data.get("model_name") or None)
    run = core.start_run(
        account, thread, agent, model_name=data.get("model_name") or None,
        key_headers=key_headers(request),
    )
    return reply({"agent_run_id": run.id, "status": "running"})


async def _start_thread(
    core: SimCore, account: str, form: Any, prompt: str | None
) -> SimThread:
    """The thread a unified start runs on: the caller's, an optimistic new one, or a new one."""
    thread_id, project_id = _text(form, "thread_id"), _text(form, "project_id")
    if _text(form, "optimistic") == "true":
        if thread_id is None or project_id is None:
            raise ApiError(400, "thread_id and project_id are required for optimistic mode")
        if not (is_uuid(thread_id) and is_uuid(project_id)):
            raise ApiError(400, "Invalid UUID format for thread_id or project_id")
        if prompt is None:
            raise ApiError(400, "prompt is required for optimistic mode")
        thread = await core.create_thread(account, "", thread_id=thread_id,
                                          project_id=project_id)  # fmt: skip
    elif thread_id is not None:
        return core.thread_for(account, thread_id)
    else:
        if prompt is None:
            raise ApiError(400, "prompt is required when creating a new thread")
        thread = await core.create_thread(account, "")
    return thread


async def unified_start(request: web.Request) -> web.Response:
    """``POST P/agent/start`` (multipart): a run on a thread, new or existing.

    A non-empty ``prompt`` is written as the thread's next user message by Suna
    itself (a caller who also adds it puts it in twice).
    """
    core, account = _caller(request)
    form = await request.post()
    prompt = _text(form, "prompt")
    agent = core.admit(account, _text(form, "agent_id"), _text(form, "model_name"))
    try:
        thread = await _start_thread(core, account, form, prompt)
    except BaseException:
        core.release(account)
        raise
    if prompt is not None:
        core.add_prompt(thread, prompt)
    run = core.start_run(
        account, thread, agent, model_name=_text(form, "model_name"),
        key_headers=key_headers(request),
    )
    return reply({
        "thread_id": thread.thread_id, "agent_run_id": run.id, "project_id": thread.project_id,
        "sandbox_id": None, "status": "running",
    })  # fmt: skip


async def initiate(request: web.Request) -> web.Response:
    """``POST /api/agent/initiate`` (``api-2025``, multipart): project, thread, message, run."""
    core, account = _caller(request)
    form = await request.post()
    prompt = form.get("prompt")
    if not isinstance(prompt, str):
        raise _invalid("prompt", "Field required")
    agent = core.admit(account, _text(form, "agent_id"), _text(form, "model_name"))
    try:
        thread = await core.create_thread(account, "")
    except BaseException:
        core.release(account)
        raise
    core.add_prompt(thread, prompt)
    run = core.start_run(
        account, thread, agent, model_name=_text(form, "model_name"),
        key_headers=key_headers(request),
    )
    return reply({"thread_id": thread.thread_id, "agent_run_id": run.id})


async def get_run(request: web.Request) -> web.Response:
    """``GET P/agent-run/{rid}``: camelCase status."""
    core, account = _caller(request)
    return reply(core.run_for(account, request.match_info["rid"]).camel())


async def run_status(request: web.Request) -> web.Response:
    """``GET /v1/agent-runs/{rid}/status``: ``{status, error}``."""
    core, account = _caller(request)
    run = core.run_for(account, request.match_info["rid"])
    return reply({"status": run.status, "error": run.error})


async def active_runs(request: web.Request) -> web.Response:
    """``GET /v1/agent-runs/active``: the caller's running runs."""
    core, account = _caller(request)
    runs = [core.runs[rid].row() for rid in sorted(core.running.get(account, set()))
            if core.runs[rid].visible]  # fmt: skip
    return reply({"active_runs": runs})


async def stop_run(request: web.Request) -> web.Response:
    """``POST P/agent-run/{rid}/stop``."""
    core, account = _caller(request)
    core.stop_run(core.run_for(account, request.match_info["rid"]))
    return reply({"status": "stopped"})


async def list_runs(request: web.Request) -> web.Response:
    """``GET P/thread/{tid}/agent-runs``: newest first (rows written so far)."""
    core, account = _caller(request)
    thread = core.thread_for(account, request.match_info["tid"])
    runs = [core.runs[rid].row() for rid in reversed(thread.run_ids) if core.runs[rid].visible]
    return reply({"agent_runs": runs})


async def get_messages(request: web.Request) -> web.Response:
    """``GET P/threads/{tid}/messages?order=desc|asc`` (desc by default)."""
    core, account = _caller(request)
    thread = core.thread_for(account, request.match_info["tid"])
    order = request.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ApiError(422, [{"type": "enum", "loc": ["query", "order"],
                              "msg": "Input should be 'asc' or 'desc'"}])
    rows = thread.messages if order == "asc" else list(reversed(thread.messages))
    return reply({"messages": rows})


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(name, "Input should be a valid integer", "query") from None
    if not low <= value <= high:
        raise _invalid(name, f"Input should be between {low} and {high}", "query")
    return value


async def list_agents(request: web.Request) -> web.Response:
    """``GET P/agents?search=&page=&limit=``: the caller's agents, newest first, paginated."""
    core, account = _caller(request)
    if not core.config.custom_agents:
        raise ApiError(403, "Custom agents currently disabled. This feature is not available "
                       "at the moment.")  # fmt: skip
    page = _int_query(request, "page", 1, 1, 10**6)
    limit = _int_query(request, "limit", 20, 1, _PAGE_MAX)
    search = request.query.get("search", "").lower()
    agents = [a for a in core.agents_of(account)
              if search in a.name.lower() or search in a.description.lower()]  # fmt: skip
    agents.sort(key=lambda a: (a.created_at, a.name), reverse=True)
    total = len(agents)
    pages = (total + limit - 1) // limit
    shown = agents[(page - 1) * limit: page * limit]
    return reply({
        "agents": [a.row() for a in shown],
        "pagination": {"current_page": page, "page_size": limit, "total_items": total,
                       "total_pages": pages, "has_next": page < pages, "has_previous": page > 1},
    })  # fmt: skip


async def get_agent(request: web.Request) -> web.Response:
    """``GET P/agents/{agent_id}``: one of the caller's agents (a name gets Suna's 500)."""
    core, account = _caller(request)
    agent_id = request.match_info["agent_id"]
    if not is_uuid(agent_id):
        raise internal_error()
    core.agents_of(account)
    agent = core.suna_agents.get(agent_id)
    if agent is None or agent.account_id != account:
        raise ApiError(404, "Agent not found")
    return reply(agent.row())


async def create_agent(request: web.Request) -> web.Response:
    """``POST P/agents`` (JSON ``name``, ``description``): a new agent of the caller's."""
    core, account = _caller(request)
    data = await json_body(request)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise _invalid("name", "Field required")
    description = data.get("description")
    agent = core.create_agent(account, name, description if isinstance(description, str) else "")
    return reply(agent.row())


def add_api_routes(app: web.Application, core: SimCore) -> None:
    """Mount the flavour's Suna routes; each route's name is the one faults refer to."""
    behaviour = core.behaviour
    p = behaviour.prefix
    routes = [
        ("POST", f"{p}/threads", create_thread, "create_thread"),
        ("POST", f"{p}/threads/{{tid}}/messages", add_message, "add_message"),
        ("GET", f"{p}/threads/{{tid}}/messages", get_messages, "get_messages"),
        ("GET", f"{p}/agent-run/{{rid}}", get_run, "get_run"),
        ("GET", f"{p}/agent-run/{{rid}}/stream", stream_run, "stream"),
        ("POST", f"{p}/agent-run/{{rid}}/stop", stop_run, "stop_run"),
        ("GET", f"{p}/thread/{{tid}}/agent-runs", list_runs, "list_runs"),
        ("GET", f"{p}/agents", list_agents, "list_agents"),
        ("POST", f"{p}/agents", create_agent, "create_agent"),
        ("GET", f"{p}/agents/{{agent_id}}", get_agent, "get_agent"),
    ]
    if behaviour.unified_start:
        routes.append(("POST", f"{p}/agent/start", unified_start, "start_agent"))
    else:
        routes.append(("POST", "/api/thread/{tid}/agent/start", start_agent, "start_agent"))
        routes.append(("POST", "/api/agent/initiate", initiate, "initiate"))
    if behaviour.flavour == "v1":
        routes.append(("GET", "/v1/agent-runs/active", active_runs, "active_runs"))
        routes.append(("GET", "/v1/agent-runs/{rid}/status", run_status, "run_status"))
    for method, path, handler, name in routes:
        app.router.add_route(method, path, handler, name=name)
