"""The chaos scenarios' short form (`make chaos` runs them at full size).

Each scenario prints its one line of figures (shown with ``-s`` or on
failure) and fails when an execution hung, a Suna run or usage row was
duplicated, or the usage ledger does not reconcile with Suna's figures.
The stack (its own PostgreSQL and Redis, which these tests break) starts once
for the module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from chaos import SCENARIOS, SHORT, ChaosStack

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def stack() -> Iterator[ChaosStack]:
    """Embedded PostgreSQL + Redis owned by these tests alone."""
    stack = ChaosStack().start()
    yield stack
    stack.stop()


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_scenario(stack: ChaosStack, name: str) -> None:
    report = await asyncio.wait_for(SCENARIOS[name](stack, SHORT), SHORT.settle_s + 60)
    print(report.line())
    assert report.ok, report.line()
