"""The execution's events over a WebSocket, in the envelope the seed's clients speak.

``GET /v1/executions/{id}/ws?token=JWT[&after=N]`` sends every event as
``{"kind": …, "id": N, "type": <our event type>, "payload": {…, "ts": <unix s>}}``
with ``kind`` one of agent_message, credential_request, action_result, info,
error, finished; ``id`` is the event id to pass back as ``after`` on reconnect.
The client may send ``{"cmd": "stop"}`` to cancel. Close codes: 4401 bad
token, 4404 no such execution (another user's included), 1000 after
``finished``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from renum.api.executions import cancel_execution
from renum.auth import verify_token
from renum.errors import AuthenticationError, NotFoundError
from renum.events import Event, EventLog
from renum.store import get_execution

__all__ = ["envelope", "router"]

router = APIRouter(prefix="/v1", tags=["executions"])

#: The subprotocol that carries the token: ``Sec-WebSocket-Protocol: bearer, <JWT>``.
BEARER_PROTOCOL = "bearer"
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404

_TERMINAL_MSG = {
    "execution_completed": "completed",
    "execution_failed": "failed",
    "execution_cancelled": "cancelled",
    "execution_budget_exceeded": "budget exceeded",
}


def envelope(event: Event) -> list[dict[str, Any]]:
    """The seed-style messages for one of our events (a failure gives error, then finished)."""
    data = event.data
    base = {**data, "ts": event.created_at.timestamp()}
    step = data.get("step_id")

    def msg(kind: str, **payload: Any) -> dict[str, Any]:
        return {"kind": kind, "id": event.seq, "type": event.type, "payload": {**base, **payload}}

    if event.type == "step_output":
        return [
            msg("agent_message", sender=step, recipient="team", content=data.get("answer") or "")
        ]
    if "credential" in event.type or "credential" in str(data.get("reason", "")):
        return [
            msg(
                "credential_request",
                provider=data.get("provider") or data.get("service"),
                description=f"step {step} needs a {data.get('service') or 'provider'} key "
                "(PUT /v1/keys/{service} resumes it)",
                request_id=f"{event.seq}",
            )
        ]
    if event.type == "cancel_requested":
        return [msg("action_result", action="stop", detail="cancel requested")]
    if event.type in ("step_failed", "step_timeout"):
        error = data.get("error") or {}
        detail = error.get("message", error) if isinstance(error, dict) else error
        return [msg("error", msg=f"step {step} failed: {detail}")]
    if event.terminal:
        out = []
        if event.type != "execution_completed":
            error = data.get("error") or {}
            detail = error.get("message", "") if isinstance(error, dict) else str(error)
            text = f"execution {_TERMINAL_MSG[event.type]}"
            out.append(msg("error", msg=f"{text}: {detail}" if detail else text))
        out.append(msg("finished", msg=f"execution {_TERMINAL_MSG[event.type]}"))
        return out
    label = event.type.replace("_", " ")
    return [msg("info", msg=f"{label} ({step})" if step else label)]


@router.websocket("/executions/{execution_id}/ws")
async def execution_ws(
    websocket: WebSocket, execution_id: uuid.UUID, token: str = "", after: int = 0
) -> None:
    """Stream the execution's events; replay after ``after``; ``{"cmd": "stop"}`` cancels.

    The token comes as ``Sec-WebSocket-Protocol: bearer, <JWT>`` (kept out of URLs and
    their logs) or, for the seed's clients, as ``?token=`` (redacted from log lines).
    Nothing is read from the socket before it is checked.
    """
    resources = websocket.app.state.resources
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    by_protocol = len(offered) == 2 and offered[0] == BEARER_PROTOCOL
    if by_protocol:
        token = offered[1]
    await websocket.accept(subprotocol=BEARER_PROTOCOL if by_protocol else None)
    try:
        user = verify_token(token, resources.settings)
    except AuthenticationError as exc:
        await websocket.close(CLOSE_UNAUTHENTICATED, exc.detail[:120])
        return
    try:
        await get_execution(resources.pool, user.user_id, execution_id)
    except NotFoundError:
        await websocket.close(CLOSE_NOT_FOUND, "no such execution")
        return
    log = EventLog(resources.pool, resources.redis, heartbeat_s=websocket.app.state.sse_heartbeat_s)

    async def send_events() -> None:
        async for event in log.follow(str(execution_id), max(after, 0)):
            if event is not None:
                for message in envelope(event):
                    await websocket.send_json(message)

    async def read_commands() -> None:
        while True:
            command = await websocket.receive_json()
            if isinstance(command, dict) and command.get("cmd") == "stop":
                answer, _ = await cancel_execution(
                    resources.pool, resources.redis, user.user_id, execution_id,
                    resources.settings.user_concurrency,
                )
                await websocket.send_json(
                    {
                        "kind": "action_result",
                        "payload": {"action": "stop", "detail": answer["status"], "ts": _now()},
                    }
                )
            else:
                await websocket.send_json(
                    {
                        "kind": "error",
                        "payload": {
                            "msg": 'unknown command (this server accepts {"cmd": "stop"})',
                            "ts": _now(),
                        },
                    }
                )

    sender = asyncio.create_task(send_events())
    reader = asyncio.create_task(read_commands())
    try:
        done, _ = await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a disconnect ends here
        await websocket.close(1000)
    except (WebSocketDisconnect, RuntimeError, ValueError):
        pass  # the client left (or sent something that is not JSON)
    finally:
        for task in (sender, reader):
            task.cancel()
        await asyncio.gather(sender, reader, return_exceptions=True)


def _now() -> float:
    return time.time()
