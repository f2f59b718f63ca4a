"""`renum run TEAM.json --prompt …`: create or update the team, launch it, follow it live.

Talks to a Renum API over HTTP only (``--url`` / ``RENUM_URL``), so it works
the same against `renum dev` and a remote deployment. The live view prints one
line per step (status, elapsed, tokens, cost), each finished step's answer,
and a total; ``--json`` prints the events as JSON lines instead. Ctrl-C asks
whether to cancel the execution. Exit codes: 0 completed, 1 finished
otherwise (failed, cancelled, budget exceeded), 2 a usage or API error, 130
detached.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.markup import escape

__all__ = ["RunOptions", "resolve_token", "run"]

DEFAULT_URL = "http://127.0.0.1:8000"
DEV_USER = "dev-user"
#: Characters of a step's answer shown in the live view.
ANSWER_CHARS = 1200
#: Waits between reconnects of the event stream.
RECONNECT_S = (0.5, 1.0, 2.0, 4.0)
_STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "cancelled": "yellow",
    "skipped": "dim",
    "running": "cyan",
    "budget_exceeded": "red",
}
_MARK = {"completed": "✓", "failed": "✗", "cancelled": "■", "skipped": "·"}


class RunError(Exception):
    """The API refused a request (its problem detail is the message)."""


@dataclass(frozen=True)
class RunOptions:
    """What `renum run` was asked."""

    path: Path
    prompt: str
    name: str | None = None
    url: str = DEFAULT_URL
    token: str | None = None
    as_json: bool = False
    budget_usd: str | None = None


def resolve_token(token: str | None) -> str | None:
    """``--token``, else RENUM_TOKEN, else a dev-user token from the dev (or configured) secret."""
    token = token or os.environ.get("RENUM_TOKEN")
    if token:
        return token
    from renum.auth import mint_token
    from renum.settings import Settings, dev_secret

    settings = Settings()
    secret = settings.jwt_secret
    if secret is None and (settings.data_dir / "jwt_secret").exists():
        secret, _ = dev_secret(settings.data_dir, "jwt_secret")
    return mint_token(secret, DEV_USER, ttl_s=24 * 3600) if secret else None


@dataclass
class _Step:
    started: datetime | None = None
    finished: datetime | None = None
    status: str = "pending"
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    unpriced: bool = False
    answer: str | None = None


@dataclass
class _View:
    """Folds events into per-step figures and prints them."""

    console: Console
    as_json: bool
    steps: dict[str, _Step] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def step(self, step_id: str) -> _Step:
        return self.steps.setdefault(step_id, _Step())

    def event(self, event: dict[str, Any]) -> None:
        kind, data = event["type"], event.get("data") or {}
        ts = datetime.fromisoformat(event["ts"])
        step = self.step(data["step_id"]) if data.get("step_id") else None
        if kind == "step_started" and step:
            step.started, step.status = ts, "running"
        elif kind == "usage_recorded" and step:
            step.input_tokens += int(data.get("input_tokens") or 0)
            step.output_tokens += int(data.get("output_tokens") or 0)
            if data.get("cost_usd") is None:
                step.unpriced = True
            else:
                step.cost_usd += Decimal(data["cost_usd"])
        elif kind == "step_output" and step:
            step.answer = data.get("answer")
        elif kind in ("step_completed", "step_failed", "step_cancelled", "step_skipped") and step:
            step.finished, step.status = ts, kind.removeprefix("step_")
            if kind == "step_failed" and data.get("will_retry"):
                step.status = "retrying"
        if self.as_json:
            self._print_json(event)
        else:
            self._print_event(kind, data, step)

    def _print_json(self, obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    def _print_event(self, kind: str, data: dict[str, Any], step: _Step | None) -> None:
        step_id = data.get("step_id", "")
        if kind == "step_started":
            self.console.print(
                f"[cyan]▶[/] {escape(step_id)} [dim]started (attempt {data.get('attempt', 1)})[/]"
            )
        elif kind == "step_waiting":
            self.console.print(
                f"[yellow]…[/] {escape(step_id)} [dim]waiting: "
                f"{escape(str(data.get('reason', '')))}[/]"
            )
        elif kind in ("step_completed", "step_failed", "step_cancelled", "step_skipped"):
            assert step is not None
            self.console.print(self._step_line(step_id, step, data))
            if step.answer and kind == "step_completed":
                answer = step.answer[:ANSWER_CHARS] + (
                    "…" if len(step.answer) > ANSWER_CHARS else ""
                )
                self.console.print("    " + escape(answer).replace("\n", "\n    "), style="dim")
        elif kind == "credential_request":
            service = escape(str(data.get("service", "a provider")))
            self.console.print(
                f"[yellow]…[/] {escape(step_id)} [dim]needs a {service} key: "
                f"PUT /v1/keys/{service} resumes it[/]"
            )
        elif kind == "cancel_requested":
            self.console.print("[yellow]cancel requested[/]")

    def _step_line(self, step_id: str, step: _Step, data: dict[str, Any]) -> str:
        style = _STATUS_STYLE.get(step.status, "yellow")
        mark = _MARK.get(step.status, "↻")
        parts = [f"[{style}]{mark} {escape(step_id):<20} {step.status:<10}[/]"]
        if step.started and step.finished:
            parts.append(f"{(step.finished - step.started).total_seconds():6.1f}s")
        if step.input_tokens or step.output_tokens:
            parts.append(f"{step.input_tokens}→{step.output_tokens} tok")
            parts.append(f"${step.cost_usd:.4f}" + ("+?" if step.unpriced else ""))
        error = data.get("error") or data.get("reason")
        if error and step.status != "completed":
            text = error.get("message", error) if isinstance(error, dict) else error
            parts.append(f"[red]{escape(str(text))[:160]}[/]")
        return "  ".join(parts)

    def total(self, execution_id: str, status: str, error: Any) -> None:
        tokens_in = sum(s.input_tokens for s in self.steps.values())
        tokens_out = sum(s.output_tokens for s in self.steps.values())
        cost = sum((s.cost_usd for s in self.steps.values()), Decimal(0))
        unpriced = any(s.unpriced for s in self.steps.values())
        elapsed = time.monotonic() - self.started
        if self.as_json:
            self._print_json(
                {
                    "type": "summary",
                    "execution_id": execution_id,
                    "status": status,
                    "error": error,
                    "elapsed_s": round(elapsed, 3),
                    "input_tokens": tokens_in,
                    "output_tokens": tokens_out,
                    "cost_usd": str(cost),
                    "fully_priced": not unpriced,
                }
            )
            return
        style = "green" if status == "completed" else "red"
        self.console.print(
            f"[bold {style}]{status}[/] in {elapsed:.1f}s · {tokens_in}→{tokens_out} tokens · "
            f"${cost:.4f}{' (some usage unpriced)' if unpriced else ''} · execution {execution_id}"
        )
        if error:
            self.console.print(f"[red]{escape(json.dumps(error))}[/]")


class _Api:
    def __init__(self, http: aiohttp.ClientSession, url: str, token: str | None) -> None:
        self.http, self.url = http, url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(
            method, self.url + path, json=body, headers=self.headers
        ) as resp:
            data = await resp.json(content_type=None) if resp.content_length != 0 else None
            if resp.status >= 400 and resp.status != 409:
                detail = data.get("detail") if isinstance(data, dict) else None
                errors = data.get("errors") if isinstance(data, dict) else None
                extra = "; ".join(f"{e.get('path')}: {e.get('message')}" for e in errors or [])
                raise RunError(
                    f"{method} {path}: {resp.status} {detail or ''}"
                    + (f" ({extra})" if extra else "")
                )
            return resp.status, data

    async def find_team(self, name: str) -> str | None:
        cursor: str | None = None
        while True:
            query = "?limit=200" + (f"&cursor={cursor}" if cursor else "")
            _, page = await self.call("GET", "/v1/teams" + query)
            for team in page["items"]:
                if team["name"] == name:
                    return str(team["id"])
            cursor = page.get("next_cursor")
            if not cursor:
                return None

    async def upsert_team(self, name: str, workflow: dict[str, Any], description: str) -> str:
        body = {"name": name, "description": description, "workflow": workflow}
        team_id = await self.find_team(name)
        if team_id is None:
            status, team = await self.call("POST", "/v1/teams", body)
            if status != 409:
                return str(team["id"])
            team_id = await self.find_team(name)  # created meanwhile by someone else
            if team_id is None:
                raise RunError(f"team {name!r} conflicts but cannot be found")
        await self.call("PUT", f"/v1/teams/{team_id}", body)
        return team_id


async def _follow(api: _Api, execution_id: str, view: _View) -> dict[str, Any]:
    """Stream events to the view until the terminal one, reconnecting with Last-Event-ID."""
    last, failures = 0, 0
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    while True:
        headers = {**api.headers, "Accept": "text/event-stream"}
        if last:
            headers["Last-Event-ID"] = str(last)
        try:
            async with api.http.get(
                f"{api.url}/v1/executions/{execution_id}/events", headers=headers, timeout=timeout
            ) as resp:
                if resp.status != 200:
                    raise RunError(f"event stream: HTTP {resp.status}")
                failures = 0
                async for event in _sse(resp):
                    last = event["id"]
                    view.event(event)
                    if event["type"] in (
                        "execution_completed",
                        "execution_failed",
                        "execution_cancelled",
                        "execution_budget_exceeded",
                    ):
                        return event
        except (aiohttp.ClientError, TimeoutError):
            pass
        failures += 1
        if failures > 20:
            raise RunError("lost the event stream")
        await asyncio.sleep(RECONNECT_S[min(failures, len(RECONNECT_S)) - 1])


async def _sse(resp: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    data: list[str] = []
    async for raw in resp.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                event: dict[str, Any] = json.loads("\n".join(data))
                yield event
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


async def _ask(console: Console, execution_id: str) -> str:
    """y: cancel; d (or end of input): detach; anything else: keep following."""
    if not sys.stdin or sys.stdin.closed:
        return "d"
    console.print(
        f"\n[yellow]Cancel execution {execution_id}?[/] [y]es / [N]o, keep following / [d]etach: ",
        end="",
    )
    answer: str = await asyncio.to_thread(sys.stdin.readline)
    if not answer:
        return "d"
    return answer.strip().lower()[:1]


async def _run(options: RunOptions) -> int:
    console = Console(stderr=options.as_json, highlight=False)
    err = Console(stderr=True, highlight=False)
    try:
        workflow = json.loads(options.path.read_text())
    except (OSError, ValueError) as exc:
        err.print(f"renum run: cannot read {options.path}: {exc}")
        return 2
    name = options.name or options.path.stem
    description = str(workflow.get("description") or f"from {options.path.name}")
    token = resolve_token(options.token)
    async with aiohttp.ClientSession() as http:
        api = _Api(http, options.url, token)
        team_id = await api.upsert_team(name, workflow, description[:4000])
        launch: dict[str, Any] = {"initial_prompt": options.prompt}
        if options.budget_usd is not None:
            launch["budget_usd"] = options.budget_usd
        _, launched = await api.call("POST", f"/v1/teams/{team_id}/executions", launch)
        execution_id = launched["execution_id"]
        view = _View(console, options.as_json)
        if options.as_json:
            view._print_json(
                {"type": "launched", "team_id": team_id, "team": name, "execution_id": execution_id}
            )
        else:
            events_url = options.url.rstrip("/") + launched["links"]["events"]
            console.print(
                f"[bold]{escape(name)}[/] → execution {execution_id} [dim]({events_url})[/]"
            )
        return await _follow_interruptibly(api, execution_id, view, console)


async def _follow_interruptibly(api: _Api, execution_id: str, view: _View, console: Console) -> int:
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, interrupted.set)
    follow = asyncio.create_task(_follow(api, execution_id, view))
    try:
        while True:
            waiter = asyncio.create_task(interrupted.wait())
            done, _ = await asyncio.wait({follow, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if follow in done:
                final = follow.result()
                status = final["data"].get("status") or final["type"].removeprefix("execution_")
                view.total(execution_id, status, final["data"].get("error"))
                return 0 if status == "completed" else 1
            interrupted.clear()
            loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl-C while asking: detach
            loop.add_signal_handler(signal.SIGINT, follow.cancel)
            choice = await _ask(console, execution_id)
            if follow.cancelled() or choice == "d":
                follow.cancel()
                console.print(
                    f"detached; follow again with GET /v1/executions/{execution_id}/events"
                )
                return 130
            loop.remove_signal_handler(signal.SIGINT)
            loop.add_signal_handler(signal.SIGINT, interrupted.set)
            if choice == "y":
                _, answer = await api.call("POST", f"/v1/executions/{execution_id}/cancel")
                console.print(f"[yellow]{answer['status']}[/]")
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        if not follow.done():
            follow.cancel()


def run(options: RunOptions) -> int:
    """Run `renum run` to the end; the exit code."""
    try:
        return asyncio.run(_run(options))
    except RunError as exc:
        print(f"renum run: {exc}", file=sys.stderr)
        return 2
    except aiohttp.ClientError as exc:
        print(f"renum run: cannot reach {options.url}: {exc}", file=sys.stderr)
        return 2
