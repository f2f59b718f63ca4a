"""`Scheduler`: what to do next, as a pure function of the recorded execution state.

The engine records each step's status (and result) durably, calls
`decide()`, and applies the decision: start the steps in `start`, record the
skips, cancel the runs in `cancel`, close the execution when `finished`. A
worker taking over after a crash rebuilds the same state from the database
and gets the same decision: the scheduler keeps nothing between calls.

Semantics:

- A step waits until all its dependencies (`PlanStep.deps`) have settled
  (`completed`, `failed`, `skipped`, `cancelled`). Then it is skipped with
  `input_missing` when a step it *needs* has no result, skipped with
  `condition_false` when a condition does not hold, and otherwise may start.
- A condition that cannot be decided within its bounds (`DslCostError`, see
  `dsl.conditions`) is neither true nor false: its step is not skipped (that
  would take the branch the condition guards against) but goes to `fail`,
  and the engine records it failed; its `on_failure` then applies. The
  conditions of one decision share one CPU-time budget.
- At most `max_concurrency` steps run at once (running ones count); ready
  steps start in plan order.
- A step that failed with `on_failure: fail` ends the execution `failed`:
  running steps go to `cancel`, pending ones are skipped (`execution_failed`).
  One that failed with `continue` is settled without a result.
- `conditional` runs in rounds, as in the seed: round 1 is every step eligible
  on the empty state; once *all* of a round has finished, the next round is
  every step eligible now, and so on; when a round comes out empty, the rest
  has been skipped and the execution is finished. Rounds are not stored:
  `decide()` replays them from the recorded statuses, which is exact because a
  step's eligibility only depends on steps that settled before its round. A
  step that was started is never re-evaluated (its start is a recorded fact).
- `finished` means the outcome is decided; `status` is then `completed` (also
  when some steps failed with `continue`) or `failed`.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from dsl.conditions import SCANNING, Budget, evaluate
from dsl.errors import DslCostError, DslStateError
from dsl.model import AllOf, AnyOf, Compare, Condition, NotOf
from dsl.plan import Plan, PlanStep
from dsl.results import ContextShape, StepResult

__all__ = ["Decision", "Scheduler", "SkipReason", "StepState", "StepStatus", "Undecided"]

StepStatus = Literal["pending", "running", "completed", "failed", "skipped", "cancelled"]
SkipReason = Literal["condition_false", "input_missing", "execution_failed"]
_SETTLED: Final = frozenset({"completed", "failed", "skipped", "cancelled"})
_EMPTY: Final = StepResult("")


@dataclass(frozen=True, slots=True)
class StepState:
    """What is recorded about one step. A step missing from the state is `pending`."""

    status: StepStatus = "pending"
    result: StepResult | None = None
    """The answer of a `completed` step (an empty text if left out)."""
    error: str | None = None
    """Why a `failed` step failed; for people, not for the scheduler."""


@dataclass(frozen=True, slots=True)
class Undecided:
    """A step whose conditions could not be decided within their bounds: it fails."""

    step_id: str
    condition: int
    """Position of the condition in the step's `conditions`."""
    bound: str
    """The `Limits` field that was hit."""
    message: str
    """What happened, naming the step, the condition and the bound."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What the engine should do now."""

    start: tuple[str, ...] = ()
    """Steps to start, in plan order."""
    skip: tuple[tuple[str, SkipReason], ...] = ()
    """Steps to record as skipped, with the reason."""
    cancel: tuple[str, ...] = ()
    """Running steps to cancel (after a failure with `on_failure: fail`)."""
    finished: bool = False
    """The execution's outcome is decided; nothing will start any more."""
    status: Literal["completed", "failed"] | None = None
    """The execution's final status when `finished`, else `None`."""
    fail: tuple[Undecided, ...] = ()
    """Steps to record as failed, their conditions too costly to decide."""


class Scheduler:
    """Decides the next actions of one execution of `plan`; holds nothing but the plan."""

    __slots__ = (
        "_dependants", "_fail_fast", "_ids", "_position", "context_shape", "plan", "scans"
    )  # fmt: skip

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._position = {step.id: i for i, step in enumerate(plan.steps)}
        self._ids = tuple(step.id for step in plan.steps)
        self._fail_fast = tuple(s.id for s in plan.steps if s.options.on_failure == "fail")
        self.context_shape = ContextShape(plan)
        """The plan's context keys (what each step adds, see `ContextShape.part`)."""
        dependants: list[list[int]] = [[] for _ in plan.steps]
        for i, step in enumerate(plan.steps):
            for dep in step.deps:
                dependants[self._position[dep]].append(i)
        self._dependants = tuple(tuple(items) for items in dependants)
        self.scans = any(_scans(c) for step in plan.steps for c in step.conditions)
        """Whether a decision may scan fields (`contains`, `matches`): its cost then grows
        with the results, up to the bounds, and the engine decides off its event loop."""

    def decide(self, state: Mapping[str, StepState], *, initial_prompt: str = "") -> Decision:
        """The decision for this state; `DslStateError` if it names a step not in the plan."""
        status: dict[str, str] = dict.fromkeys(self._ids, "pending")
        for step_id, step_state in state.items():
            if step_id not in self._position:
                raise DslStateError(f"state of a step not in the plan: {step_id!r}")
            status[step_id] = step_state.status
        running = [step_id for step_id in self._ids if status[step_id] == "running"]
        if any(status[step_id] == "failed" for step_id in self._fail_fast):
            reason: SkipReason = "execution_failed"
            skip = tuple((s, reason) for s in self._ids if status[s] == "pending")
            return Decision((), skip, tuple(running), True, "failed")
        judge = _Judge(self.context_shape, state, status, initial_prompt)
        if self.plan.type == "conditional":
            ready = self._round(judge, status)
        else:
            ready = [s.id for s in self.plan.steps if status[s.id] == "pending" and judge.ready(s)]
        slots = max(0, self.plan.options.max_concurrency - len(running))
        finished = not ready and not running and not judge.fails
        return Decision(
            tuple(ready[:slots]),
            tuple(judge.skips),
            (),
            finished,
            "completed" if finished else None,
            tuple(judge.fails),
        )

    def _round(self, judge: _Judge, status: Mapping[str, str]) -> list[str]:
        """Replay the rounds; the pending members of the first unfinished round may start."""
        steps = self.plan.steps
        waiting = [len(step.deps) for step in steps]
        frontier = [i for i, count in enumerate(waiting) if count == 0]
        while True:
            members: list[int] = []
            while frontier:
                i = heapq.heappop(frontier)
                # (a step failed now is a member, as it will be when replayed)
                if judge.ready(steps[i]) or status[steps[i].id] in _MEMBERS:
                    members.append(i)
                else:  # skipped now or before: settled at this round boundary
                    self._settle(i, waiting, frontier)
            if not members:
                return []
            if any(status[steps[i].id] not in ("completed", "failed") for i in members):
                return [steps[i].id for i in members if status[steps[i].id] == "pending"]
            for i in members:
                self._settle(i, waiting, frontier)

    def _settle(self, i: int, waiting: list[int], frontier: list[int]) -> None:
        for dependant in self._dependants[i]:
            waiting[dependant] -= 1
            if waiting[dependant] == 0:
                heapq.heappush(frontier, dependant)


class _Judge:
    """Settles pending steps whose dependencies have settled: ready, or skipped (recorded)."""

    __slots__ = ("_budget", "_context", "fails", "prompt", "shape", "skips", "state", "status")

    def __init__(
        self,
        shape: ContextShape,
        state: Mapping[str, StepState],
        status: dict[str, str],
        prompt: str,
    ) -> None:
        self.shape, self.state, self.status, self.prompt = shape, state, status, prompt
        self.skips: list[tuple[str, SkipReason]] = []
        self.fails: list[Undecided] = []
        self._context: dict[str, Any] | None = None
        self._budget: Budget | None = None  # started by the first condition

    def ready(self, step: PlanStep) -> bool:
        """True if the pending `step` may start; False if it waits or was just skipped."""
        status = self.status
        if status[step.id] != "pending" or any(status[dep] not in _SETTLED for dep in step.deps):
            return False
        if any(status[need] != "completed" for need in step.needs):
            return self._skip(step, "input_missing")
        if step.conditions:
            context = self._context if self._context is not None else self._build()
            budget = self._budget = self._budget or Budget()
            for i, condition in enumerate(step.conditions):
                try:
                    budget.left_s()
                    holds = evaluate(condition, context, budget)
                except DslCostError as exc:
                    return self._fail(step, i, exc)
                if not holds:
                    return self._skip(step, "condition_false")
        return True

    def _fail(self, step: PlanStep, i: int, exc: DslCostError) -> bool:
        message = f"step {step.id}: condition {i + 1} could not be decided: {exc} ({exc.bound})"
        self.fails.append(Undecided(step.id, i, exc.bound, message))
        self.status[step.id] = "failed"
        return False

    def _skip(self, step: PlanStep, reason: SkipReason) -> bool:
        self.skips.append((step.id, reason))
        self.status[step.id] = "skipped"
        return False

    def _build(self) -> dict[str, Any]:
        results = {
            step_id: self.state[step_id].result or _EMPTY
            for step_id, value in self.status.items()
            if value == "completed"
        }
        self._context = self.shape.build(self.prompt, results)
        return self._context


_MEMBERS: Final = frozenset({"running", "completed", "failed"})
"""Statuses of a conditional round's members that are not pending."""


def _scans(node: Condition) -> bool:
    if isinstance(node, Compare):
        return node.operator in SCANNING
    if isinstance(node, AllOf | AnyOf):
        return any(_scans(item) for item in node.items)
    return isinstance(node, NotOf) and _scans(node.item)
