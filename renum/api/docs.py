"""`/docs`: the API reference as one self-contained page (no CDN), rendered from /openapi.json.

FastAPI's Swagger UI and ReDoc load their scripts from a CDN, which fails on
an offline or locked-down machine; this page is a few kilobytes of inline HTML
and JavaScript that lists every operation by tag with its summary, description,
parameters, and request and response examples.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse

__all__ = ["TAGS", "install_examples", "router"]

router = APIRouter(include_in_schema=False)

#: The OpenAPI tags, in the order the reference lists them.
TAGS = [
    {"name": "teams", "description": "Named workflows of Suna agents, validated and planned."},
    {"name": "executions", "description": "Launch, read, follow (SSE or WebSocket) and cancel."},
    {"name": "webhooks", "description": "Signed completion callbacks and their delivery log."},
    {"name": "keys", "description": "Your provider keys, encrypted at rest."},
    {"name": "usage", "description": "Tokens, costs and budgets."},
    {"name": "dsl", "description": "The workflow language: its schema and a validator."},
    {"name": "identity", "description": "Who the bearer token says you are."},
    {"name": "health", "description": "Liveness and readiness probes."},
]

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Renum API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{border-bottom:1px solid #ddd;margin-top:2.5rem} details{margin:.4rem 0;border:1px solid #e3e3e3;
border-radius:6px;padding:.4rem .8rem} summary{cursor:pointer}
code,pre{font:13px ui-monospace,monospace}
pre{background:#f6f8fa;padding:.6rem;overflow:auto;border-radius:4px}
.m{display:inline-block;min-width:4.5rem;font-weight:600;text-transform:uppercase}
.get{color:#0a7}.post{color:#06c}.put{color:#a60}.delete{color:#c22}.ws{color:#84c}
</style></head><body>
<h1>Renum API</h1><p id="intro">Loading <a href="/openapi.json">/openapi.json</a>…</p>
<div id="ops"></div>
<script>
const ENT = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"};
const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ENT[c]);
const ex = (label, v) => "<div><code>" + esc(label) + "</code>" + pre(v) + "</div>";
const pre = v => "<pre>" + esc(typeof v === "string" ? v : JSON.stringify(v, null, 2)) + "</pre>";
function examples(content) {
  let out = "";
  for (const [type, media] of Object.entries(content || {})) {
    if (media.example !== undefined) out += ex(type, media.example);
    for (const [name, one] of Object.entries(media.examples || {}))
      out += ex(type + " · " + name, one.value);
    const sch = media.schema || {};
    if (!out && sch.examples) out += ex(type, sch.examples[0]);
  }
  return out;
}
fetch("/openapi.json").then(r => r.json()).then(spec => {
  document.title = spec.info.title + " " + spec.info.version;
  document.getElementById("intro").innerHTML = esc(spec.info.summary || "") +
    ' · <a href="/openapi.json">openapi.json</a> · bearer JWT in <code>Authorization</code>';
  const byTag = {};
  for (const [path, item] of Object.entries(spec.paths))
    for (const [method, op] of Object.entries(item))
      (byTag[(op.tags || ["other"])[0]] ||= []).push([method, path, op]);
  const tagDoc = Object.fromEntries((spec.tags || []).map(t => [t.name, t.description]));
  let html = "";
  for (const [tag, ops] of Object.entries(byTag)) {
    html += "<h2>" + esc(tag) + "</h2><p>" + esc(tagDoc[tag] || "") + "</p>";
    for (const [method, path, op] of ops) {
      html += '<details><summary><span class="m ' + method + '">' + method + "</span> <code>" +
        esc(path) + "</code> — " + esc(op.summary) + "</summary><p>" + esc(op.description) + "</p>";
      for (const p of op.parameters || [])
        html += "<div><code>" + esc(p.in) + " " + esc(p.name) + "</code>" +
          (p.required ? " (required) " : " ") + esc(p.description || "") + "</div>";
      if (op.requestBody) html += "<h4>Request</h4>" + examples(op.requestBody.content);
      for (const [code, resp] of Object.entries(op.responses || {}))
        html += "<h4>" + esc(code) + " " + esc(resp.description) + "</h4>" + examples(resp.content);
      html += "</details>";
    }
  }
  document.getElementById("ops").innerHTML = html;
});
</script></body></html>
"""


@router.get("/docs", response_class=HTMLResponse)
async def docs() -> HTMLResponse:
    """The offline API reference page."""
    return HTMLResponse(_PAGE)


_TEAM = {
    "id": "5b1f7c1e-8a43-4d0e-9f51-0c7c1d2b9a10",
    "name": "support-router",
    "description": "",
    "workflow": {"type": "sequential", "agents": ["…"]},
    "steps": ["classifier", "billing_support"],
    "webhook_url": None,
    "created_at": "2026-01-01T12:00:00+00:00",
    "updated_at": "2026-01-01T12:00:00+00:00",
}
_EXECUTION = {
    "id": "0f8e2a55-3c1b-4d7e-8a90-5b6c7d8e9f01",
    "team_id": _TEAM["id"],
    "status": "completed",
    "budget_usd": "0.50",
    "metadata": {},
    "error": None,
    "created_at": "2026-01-01T12:00:00+00:00",
    "started_at": "2026-01-01T12:00:00+00:00",
    "finished_at": "2026-01-01T12:00:09+00:00",
    "links": {"self": "/v1/executions/0f8e…", "events": "/v1/executions/0f8e…/events"},
}
_SSE = (
    'id: 3\nevent: step_output\ndata: {"id":3,"type":"step_output","data":'
    '{"step_id":"classifier","answer":"{\\"category\\": \\"billing\\"}"}}\n\n'
)
#: Response examples of the core routes, by (method, path, status).
EXAMPLES: dict[tuple[str, str, str], Any] = {
    ("get", "/healthz", "200"): {"status": "ok"},
    ("get", "/v1/me", "200"): {"user_id": "alice", "is_admin": False},
    ("post", "/v1/teams", "201"): _TEAM,
    ("get", "/v1/teams", "200"): {"items": [_TEAM], "next_cursor": None},
    ("get", "/v1/teams/{team_id}", "200"): _TEAM,
    ("put", "/v1/teams/{team_id}", "200"): _TEAM,
    ("post", "/v1/teams/{team_id}/executions", "202"): {
        "execution_id": _EXECUTION["id"],
        "status": "queued",
        "links": _EXECUTION["links"],
    },
    ("get", "/v1/executions", "200"): {"items": [_EXECUTION], "next_cursor": None},
    ("get", "/v1/executions/{execution_id}", "200"): {
        **_EXECUTION,
        "initial_prompt": "My invoice is wrong",
        "steps": [
            {
                "step_id": "classifier",
                "status": "completed",
                "attempt": 1,
                "answer": '{"category": "billing"}',
                "output": {"category": "billing"},
            }
        ],
        "usage": {
            "input_tokens": 812,
            "output_tokens": 164,
            "cached_tokens": 0,
            "cost_usd": "0.0031",
            "fully_priced": True,
            "agent_runs": 2,
        },
    },
    ("get", "/v1/executions/{execution_id}/context", "200"): {
        "execution_id": _EXECUTION["id"],
        "context": {"initial_prompt": "My invoice is wrong", "results": {"classifier": "…"}},
    },
    ("post", "/v1/executions/{execution_id}/cancel", "200"): {
        "execution_id": _EXECUTION["id"],
        "status": "cancelling",
    },
}


def install_examples(app: FastAPI) -> None:
    """Add the response examples above to the app's OpenAPI document (built once, cached)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = build()
        for (method, path, status), example in EXAMPLES.items():
            op = spec["paths"].get(path, {}).get(method)
            if op is None:
                continue
            content = op["responses"].setdefault(status, {"description": "OK"})
            content.setdefault("content", {}).setdefault("application/json", {})["example"] = (
                example
            )
        events = spec["paths"].get("/v1/executions/{execution_id}/events", {}).get("get")
        if events is not None:
            events["responses"]["200"]["content"] = {"text/event-stream": {"example": _SSE}}
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
