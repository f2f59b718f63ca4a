"""Following an execution's events when nothing happens for a while."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from renum.events import EventLog


async def test_a_quiet_stream_waits_for_its_heartbeat_without_redis_errors(
    db: Any, redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # Longer than redis-py's socket timeout (5 s by default), which a blocking
    # read of the whole interval would run into: a warning, a dropped
    # connection and a second in which new events were not read.
    log = EventLog(db, redis, heartbeat_s=6.5)
    follower = log.follow(str(uuid.uuid4()))
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="renum.events"):
        beat = await anext(follower)
    assert beat is None  # a heartbeat
    assert time.monotonic() - started >= 6.5
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    await follower.aclose()
