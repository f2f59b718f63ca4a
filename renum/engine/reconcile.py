"""Usage of runs whose output could not be read when their attempt ended, recorded later.

A Suna run costs tokens whether or not its attempt could read its answer. When
Suna would not return a finished run's output (after the client's retries), the
statement that records the attempt's outcome marks it ``usage_pending``, and so
does a step whose stopped run's end does not hold yet: before ``v1`` a stop sent
before Suna's worker picked the run up is lost, and the run completes and bills
in full after reading ``stopped`` all along. A run's usage is recorded once, when
it is over: a pending run still running is left for the next try, and so is a
run reading ``stopped`` on such a Suna until two tries see the same LLM calls
(one with none is left until the last try: its stop may not have been picked up
yet). On each sweep, every
worker claims a few pending attempts whose retry time has come (``FOR UPDATE
SKIP LOCKED``: two workers never read the same run at once), reads the run's
output from its thread again and records its usage once (usage_log's unique run
id keeps it to one row), then clears the mark. Each try that fails doubles the
wait before the next; after :data:`MAX_TRIES` the run is logged at error level
and left marked, for an operator (``SELECT … FROM step_runs WHERE usage_pending``).

The row is recorded without a ``usage_recorded`` event: the execution's event
stream may already have ended. Reports, the execution's usage, Prometheus and
the budget counters all count it.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from renum.errors import CredentialError
from renum.suna_accounts import SunaAccounts, suna_key_sql
from renum.usage import UsageLedger, UsageRow
from renum.vault import services_of
from suna_client import SunaClient, SunaError

__all__ = ["MAX_TRIES", "UsageReconciler", "unread_sql"]

_log = logging.getLogger("renum.engine.reconcile")

#: Reads of one run's output before it is left to an operator (waits double: 30 s … 1 h).
MAX_TRIES = 8

def unread_sql(retry_s: str) -> str:
    """``SET`` items of an attempt whose run's usage is read again in ``retry_s`` seconds.

    ``retry_s`` is an SQL float expression; NULL clears the mark (the usage was read).
    """
    return (f"usage_pending = {retry_s}::float8 IS NOT NULL, "
            f"usage_retry_at = now() + make_interval(secs => {retry_s}::float8)")  # fmt: skip


_CLAIM = f"""
UPDATE step_runs s
   SET usage_tries = s.usage_tries + 1,
       usage_retry_at = now() + make_interval(secs => $2 * power(2, s.usage_tries + 1))
  FROM executions e
 WHERE e.id = s.execution_id
   AND (s.execution_id, s.step_id, s.attempt) IN (
        SELECT execution_id, step_id, attempt FROM step_runs
         WHERE usage_pending AND usage_retry_at <= now() AND usage_tries < $3
         ORDER BY usage_retry_at LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING s.execution_id, s.step_id, s.attempt, s.agent_id, s.suna_run_id, s.suna_thread_id,
          s.usage_tries, s.usage_calls_seen, e.user_id, e.team_id, e.suna_account,
          {suna_key_sql("e")}"""


class UsageReconciler:
    """Records the usage of runs left ``usage_pending`` (see the module docstring)."""

    def __init__(
        self, pool: Any, suna: SunaClient | SunaAccounts, ledger: UsageLedger, *,
        retry_s: float = 30.0, forward_keys: bool = False,
    ) -> None:  # fmt: skip
        self._forward_keys = forward_keys
        self._pool = pool
        self._accounts = suna if isinstance(suna, SunaAccounts) else SunaAccounts(
            suna, service_account_id=None)  # fmt: skip
        self._ledger = ledger
        self._retry_s = retry_s

    async def run_once(self, limit: int = 20) -> int:
        """Try up to ``limit`` pending runs whose time has come; how many got recorded."""
        rows = await self._pool.fetch(_CLAIM, limit, self._retry_s, MAX_TRIES)
        recorded = 0
        for row in rows:
            recorded += await self._reconcile(row)
        return recorded

    async def _reconcile(self, row: Any) -> bool:
        run_id = row["suna_run_id"]
        user = row["suna_account"] == "user"
        last = row["usage_tries"] >= MAX_TRIES
        try:  # the run is read as the account that ran it
            if user and row["suna_key_sealed"] is None:
                raise CredentialError("the user's Suna account key was deleted or replaced")
            account = self._accounts.of_sealed(row["user_id"], row["suna_key_sealed"])
            run = await account.client.get_run(run_id)
            if not run.is_terminal:  # a stop that was lost: it bills once it is over
                _log.info("run %s is still %s; its usage is read once it is over", run_id,
                          run.status)  # fmt: skip
                return False
            output = await account.client.run_output(row["suna_thread_id"])
            calls = output.usage.llm_calls
            if output.has_answer and not calls and not last:
                _log.info("run %s answered but Suna has written no usage row for it yet", run_id)
                return False  # every LLM call writes one: they are late
            if (run.status == "stopped" and not last
                    and not (await account.client.routes()).lasting_stops
                    and (not calls or calls != row["usage_calls_seen"])):  # fmt: skip
                await self._pool.execute(  # a lost stop reads `stopped` while the run runs
                    """UPDATE step_runs SET usage_calls_seen = $4
                        WHERE execution_id = $1 AND step_id = $2 AND attempt = $3""",
                    row["execution_id"], row["step_id"], row["attempt"], calls,
                )  # fmt: skip
                _log.info("stopped run %s may still bill (a stop can be lost): %d LLM call(s) "
                          "so far; read again later", run_id, calls)  # fmt: skip
                return False
        except (SunaError, CredentialError) as exc:
            (_log.error if last else _log.warning)(
                "usage of run %s still unreadable (%s, try %d of %d)%s", run_id,
                type(exc).__name__, row["usage_tries"], MAX_TRIES,
                "; left to an operator" if last else "")  # fmt: skip
            return False
        if output.has_answer and not output.usage.llm_calls:
            _log.error("Suna wrote no usage row for run %s in %d tries: recorded as zero",
                       run_id, MAX_TRIES)  # fmt: skip
        execution_id = str(row["execution_id"])
        usage = UsageRow.of(
            run_id, user_id=row["user_id"], team_id=str(row["team_id"]),
            execution_id=execution_id, step_id=row["step_id"], attempt=row["attempt"],
            agent_id=row["agent_id"], usage=output.usage, suna_account=row["suna_account"],
            forwarded=await services_of(self._pool, row["user_id"]) if self._forward_keys
            else frozenset(), unpriced_usd=self._ledger.unpriced_usd)  # fmt: skip
        await self._ledger.record_row(dataclasses.replace(usage, event=None))
        await self._pool.execute(  # a step that did not complete says how its run really ended
            """UPDATE step_runs SET usage_pending = false, usage_retry_at = NULL,
                      error = CASE WHEN status = 'completed' THEN error
                                   ELSE coalesce(error, '{}') || jsonb_build_object(
                                            'suna_run_ended', $4::text)
                              END
                WHERE execution_id = $1 AND step_id = $2 AND attempt = $3""",
            row["execution_id"], row["step_id"], row["attempt"], run.status,
        )  # fmt: skip
        _log.info("recorded the usage of run %s of %s/%s late", run_id, execution_id,
                  row["step_id"])  # fmt: skip
        return True
