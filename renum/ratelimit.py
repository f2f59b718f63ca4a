"""Launches per user per second: a token bucket in Redis, shared by every API process.

A user's bucket holds up to ``RENUM_LAUNCH_BURST`` tokens and refills at
``RENUM_LAUNCH_RATE`` per second; each launch takes one, and a launch that
finds it empty is a 429 whose ``Retry-After`` says when the next token is due.
One Lua script reads, refills and takes atomically, on Redis's own clock, so
API processes on several hosts share one bucket whatever their clocks say.

When Redis is away the launch is let through (and logged): the per-user cap
on unfinished executions, checked in PostgreSQL, still bounds what one user
can queue, and refusing every launch because Redis blinked would be worse.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from redis.exceptions import RedisError

from renum.errors import TooManyRequestsError
from renum.redis_keys import launch_bucket_key

__all__ = ["take_launch_token"]

_log = logging.getLogger("renum.ratelimit")

# KEYS[1]: the bucket; ARGV: rate (tokens per ms), burst. Returns 0 when a token was
# taken, else the ms until one is due.
_TAKE = """
local now_s = redis.call('TIME')
local now = tonumber(now_s[1]) * 1000 + math.floor(tonumber(now_s[2]) / 1000)
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(held[1]), tonumber(held[2])
if tokens == nil or at == nil then tokens, at = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
return wait
"""


async def take_launch_token(redis: Any, user_id: str, *, rate_per_s: float, burst: int) -> None:
    """Take one launch token of the user's bucket, or raise 429 ``launch_rate_limited``."""
    try:
        wait_ms = int(await redis.eval(_TAKE, 1, launch_bucket_key(user_id),
                                       repr(rate_per_s / 1000.0), burst))  # fmt: skip
    except (RedisError, OSError) as exc:
        _log.warning("launch rate not checked: redis unavailable (%s)", type(exc).__name__)
        return
    if wait_ms > 0:
        raise TooManyRequestsError(
            f"Too many launches: at most {rate_per_s:g} per second, {burst} at once "
            "(RENUM_LAUNCH_RATE, RENUM_LAUNCH_BURST); try again after Retry-After seconds",
            code="launch_rate_limited", retry_after_s=math.ceil(wait_ms / 1000),
        )  # fmt: skip
