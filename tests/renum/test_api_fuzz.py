"""schemathesis over every route of the OpenAPI: no server error, no response off-schema.

A bounded run in `make test` (``FUZZ_EXAMPLES``, default 5 per operation);
`make fuzz` runs 100. The API is served by uvicorn on its own thread and event
loop (schemathesis calls it synchronously over loopback HTTP), authenticated
as a user with a valid token.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from renum.app import create_app
from renum.auth import mint_token
from renum.settings import Settings
from tests.conftest import TEST_JWT_SECRET

pytestmark = pytest.mark.fuzz
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture
def served(settings: Settings, db: Any, redis: Any) -> Iterator[str]:
    """The API on a loopback port, served from a thread; its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="critical"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    for _ in range(3000):
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.01)
    assert server.started, "the API did not start"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(30)


def _fuzz(operation: Any, base_url: str, headers: dict[str, str], seen: Counter[str]) -> None:
    """Call one operation with generated cases; raises on the first failed check."""
    name = f"{operation.method.upper()} {operation.path}"

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def check(case: Any) -> None:
        response = case.call_and_validate(base_url=base_url, headers=headers, timeout=10,
                                          checks=CHECKS)  # fmt: skip
        seen[f"{name} {response.status_code}"] += 1

    check()


def test_api_conforms(served: str) -> None:
    schema = schemathesis.openapi.from_url(served + "/openapi.json")
    # an admin reaches every route (budgets included); its own data otherwise, like any user
    token = mint_token(TEST_JWT_SECRET, "fuzz", admin=True, ttl_s=600)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    seen: Counter[str] = Counter()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        try:
            _fuzz(operation, served, headers, seen)
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    print("\n".join(f"{n:4d} {k}" for k, n in sorted(seen.items())))
    assert operations > 10
    assert any(" 2" in k for k in seen), "no call succeeded: is the token accepted?"
    assert not failures, "\n\n".join(failures)
