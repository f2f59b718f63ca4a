"""Late usage: a run whose output stays unreadable is tried MAX_TRIES times, then left."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from renum.engine.reconcile import MAX_TRIES, UsageReconciler
from renum.events import EventLog
from renum.settings import Settings
from renum.suna import build_suna_client
from renum.usage import UsageLedger
from tests.conftest import ApiClient
from tests.renum.helpers import create_team, launch

ONE_STEP = {"type": "sequential", "agents": [
    {"agent_id": "researcher", "role": "r", "input": {"source": "initial_prompt"}}]}  # fmt: skip


async def test_an_unreadable_run_is_tried_max_tries_times_then_left_to_an_operator(
    api: ApiClient, settings: Settings, db: Any, redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    execution_id = uuid.UUID((await launch(api, await create_team(api, ONE_STEP)))["execution_id"])
    await db.execute(  # an attempt whose thread Suna does not know (404 on every read)
        """INSERT INTO step_runs (execution_id, step_id, attempt, status, agent_id,
                                  suna_thread_id, suna_run_id, finished_at, usage_pending,
                                  usage_retry_at)
           VALUES ($1, 'researcher', 1, 'failed', 'researcher', $2, $3, now(), true, now())""",
        execution_id, str(uuid.uuid4()), str(uuid.uuid4()),
    )  # fmt: skip
    async with build_suna_client(settings) as suna:
        ledger = UsageLedger(db, EventLog(db, redis))
        reconciler = UsageReconciler(db, suna, ledger, retry_s=60)
        caplog.set_level(logging.WARNING, "renum.engine.reconcile")
        for tries in range(1, MAX_TRIES + 1):
            assert await reconciler.run_once() == 0
            row = await db.fetchrow("SELECT usage_tries, usage_retry_at > now() AS later, "
                                    "usage_pending FROM step_runs")  # fmt: skip
            assert row["usage_tries"] == tries and row["later"] and row["usage_pending"]
            assert await reconciler.run_once() == 0  # not due yet: not read again
            await db.execute("UPDATE step_runs SET usage_retry_at = now()")
        assert await reconciler.run_once() == 0  # given up: no more reads
        assert await db.fetchval("SELECT usage_tries FROM step_runs") == MAX_TRIES
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "left to an operator" in errors[0].getMessage()
    assert await db.fetchval("SELECT count(*) FROM usage_log") == 0
