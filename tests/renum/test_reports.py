"""Reports: `GET /v1/usage` (JSON, CSV, admin scope) and `renum billing report`."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from decimal import Decimal
from typing import Any

from tests.conftest import ApiClient

SONNET, MINI = "anthropic/claude-sonnet-4", "openai/gpt-5-mini"
ROWS = [  # run, user, agent, model, day, input, output, cost (None: unpriced)
    ("r1", "alice", "researcher", SONNET, "2026-03-01", 100, 10, "0.1234567891"),
    ("r2", "alice", "researcher", SONNET, "2026-03-02", 200, 20, "0.0000000003"),
    ("r3", "alice", "analyst", MINI, "2026-03-02", 300, 30, "0.3333333333"),
    ("r4", "alice", "mystery", "acme/mystery-1", "2026-03-03", 400, 40, None),
    ("r5", "bob", "analyst", MINI, "2026-03-02", 500, 50, "1.0000000001"),
    ("r6", "alice", "analyst", MINI, "2026-04-01", 600, 60, "9"),
]  # fmt: skip


async def _seed(db: Any) -> None:
    for run, user, agent, model, day, inp, out, cost in ROWS:
        await db.execute(
            """INSERT INTO usage_log (suna_run_id, user_id, agent_id, model, input_tokens,
                   output_tokens, cost_usd, priced, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7::numeric, $7 IS NOT NULL,
                       ($8 || 'T12:00:00Z')::timestamptz)""",
            run, user, agent, model, inp, out, cost, day)  # fmt: skip


async def _get(api: ApiClient, query: str, *, user: str = "alice", admin: bool = False) -> Any:
    async with api.http.get(api.url(f"/v1/usage?{query}"),
                            headers=api.auth(user, admin=admin)) as resp:  # fmt: skip
        body = await resp.text()
        return resp.status, resp.content_type, body


async def test_report_by_day_totals_equal_the_rows(api: ApiClient, db: Any) -> None:
    await _seed(db)
    status, kind, body = await _get(api, "from=2026-03-01&to=2026-03-31&group_by=day")
    assert status == 200 and kind == "application/json"
    report = json.loads(body)
    assert [r["key"] for r in report["rows"]] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    costs = [Decimal(r["cost_usd"]) for r in report["rows"]]
    assert costs == [Decimal("0.1234567891"), Decimal("0.3333333336"), Decimal(0)]
    assert Decimal(report["totals"]["cost_usd"]) == sum(costs) == Decimal("0.4567901227")
    assert report["totals"]["input_tokens"] == 1000  # alice's March only
    assert report["totals"]["runs"] == 4 and report["totals"]["unpriced_runs"] == 1
    assert isinstance(report["totals"]["cost_usd"], str)


async def test_report_as_csv(api: ApiClient, db: Any) -> None:
    await _seed(db)
    status, kind, body = await _get(api, "from=2026-03-01&to=2026-03-31&group_by=model&format=csv")
    assert status == 200 and kind == "text/csv"
    lines = list(csv.DictReader(io.StringIO(body)))
    assert [r["model"] for r in lines] == ["acme/mystery-1", "anthropic/claude-sonnet-4",
                                           "openai/gpt-5-mini", "TOTAL"]  # fmt: skip
    assert sum(Decimal(r["cost_usd"]) for r in lines[:-1]) == Decimal(lines[-1]["cost_usd"])
    assert lines[-1]["input_tokens"] == "1000"


async def test_a_csv_cell_never_starts_a_formula(api: ApiClient, db: Any) -> None:
    """Agent and model names are user or Suna data: a spreadsheet must not run them."""
    for run, agent in (("f1", "=HYPERLINK(\"http://x\")"), ("f2", "+1"), ("f3", "@SUM(A1)"),
                       ("f4", "-2")):  # fmt: skip
        await db.execute(
            """INSERT INTO usage_log (suna_run_id, user_id, agent_id, model, created_at)
               VALUES ($1, 'alice', $2, 'm', '2026-03-05T12:00:00Z')""", run, agent)
    status, _, body = await _get(api, "from=2026-03-01&to=2026-03-31&group_by=agent&format=csv")
    assert status == 200
    cells = [r["agent"] for r in csv.DictReader(io.StringIO(body))][:-1]
    assert sorted(cells) == ["'+1", "'-2", "'=HYPERLINK(\"http://x\")", "'@SUM(A1)"]


async def test_other_users_and_user_grouping_need_admin(api: ApiClient, db: Any) -> None:
    await _seed(db)
    assert (await _get(api, "from=2026-03-01&to=2026-03-31&user_id=bob"))[0] == 403
    assert (await _get(api, "from=2026-03-01&to=2026-03-31&group_by=user"))[0] == 403
    assert (await _get(api, "from=2026-03-31&to=2026-03-01"))[0] == 422
    status, _, body = await _get(api, "from=2026-03-01&to=2026-03-31&group_by=user", admin=True)
    assert status == 200
    by_user = {r["key"]: r for r in json.loads(body)["rows"]}
    assert Decimal(by_user["bob"]["cost_usd"]) == Decimal("1.0000000001")
    status, _, body = await _get(api, "from=2026-03-01&to=2026-03-31&user_id=bob&group_by=agent",
                                 admin=True)  # fmt: skip
    assert [r["key"] for r in json.loads(body)["rows"]] == ["analyst"]


async def test_cli_billing_report_reads_postgresql(db: Any, database_url: str) -> None:
    await _seed(db)
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": "redis://127.0.0.1:1/0"}
    command = [sys.executable, "-m", "renum", "billing", "report", "--from", "2026-03-01",
               "--to", "2026-04-30", "--group-by", "agent"]  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run,
        [*command, "--format", "json"],
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    report = json.loads(done.stdout)
    assert report["user_id"] is None
    assert Decimal(report["totals"]["cost_usd"]) == Decimal("10.4567901228")
    assert Decimal(report["totals"]["cost_usd"]) == sum(
        Decimal(r["cost_usd"]) for r in report["rows"])  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run,
        [*command, "--format", "csv", "--user", "bob"],
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    lines = done.stdout.decode().splitlines()
    assert lines[0].startswith("agent,runs,input_tokens")
    assert lines[1:] == ["analyst,1,500,50,0,0,0,1.0000000001,0",
                         "TOTAL,1,500,50,0,0,0,1.0000000001,0"]  # fmt: skip
