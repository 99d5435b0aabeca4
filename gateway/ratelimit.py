"""Token-bucket rate limits per client: a per-minute and a per-hour bucket.

In Redis both buckets are checked and charged by one Lua script, atomically, with Redis'
clock, so limits hold exactly across any number of gateway instances. Without Redis (or
while it is unreachable) an in-process bucket of the same shape takes over; each
instance then enforces the limits alone, which ``/ready`` reports. Those in-process
buckets are bounded: an idle client's are forgotten once they would have refilled, and past
``LOCAL_MAX_IDENTITIES`` the least recently seen client's are forgotten first.

A take may cost more or less than one token: 0 only asks whether a token is left, -1
gives one back (the failed-authentication budget checks before it charges).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

from cachetools import TTLCache
from redis.asyncio import Redis
from redis.exceptions import RedisError

from runtime.redis import RATE_LIMIT_PREFIX

log = logging.getLogger(__name__)

LOCAL_MAX_IDENTITIES = 100_000
"""Clients the in-process fallback remembers (~250 bytes each)."""
_MINUTE_MS = 60_000
_HOUR_MS = 3_600_000

# KEYS: minute bucket, hour bucket. ARGV: capacity and refill rate (tokens per ms) of each,
# then the cost. A bucket untouched for a full refill period is the same as a new one, so
# it expires then; a cost of 0 changes nothing, so it writes nothing.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function level(key, cap, rate)
  local v = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens, ts = tonumber(v[1]), tonumber(v[2])
  if tokens == nil then return cap end
  return math.min(cap, tokens + math.max(0, now - ts) * rate)
end
local cap_m, rate_m = tonumber(ARGV[1]), tonumber(ARGV[2])
local cap_h, rate_h = tonumber(ARGV[3]), tonumber(ARGV[4])
local cost = tonumber(ARGV[5])
local tm, th = level(KEYS[1], cap_m, rate_m), level(KEYS[2], cap_h, rate_h)
local allowed, retry_ms = 1, 0
if cost < 0 or (tm >= 1 and th >= 1) then
  tm, th = math.min(cap_m, tm - cost), math.min(cap_h, th - cost)
else
  allowed = 0
  if tm < 1 then retry_ms = math.max(retry_ms, math.ceil((1 - tm) / rate_m)) end
  if th < 1 then retry_ms = math.max(retry_ms, math.ceil((1 - th) / rate_h)) end
end
if cost ~= 0 then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tm), 'ts', now)
  redis.call('PEXPIRE', KEYS[1], math.ceil(cap_m / rate_m))
  redis.call('HSET', KEYS[2], 'tokens', tostring(th), 'ts', now)
  redis.call('PEXPIRE', KEYS[2], math.ceil(cap_h / rate_h))
end
return {allowed, math.floor(tm), math.floor(th), retry_ms}
"""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit_minute: int
    limit_hour: int
    remaining_minute: int
    remaining_hour: int
    retry_after_s: int

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit-Minute": str(self.limit_minute),
            "X-RateLimit-Limit-Hour": str(self.limit_hour),
            "X-RateLimit-Remaining-Minute": str(self.remaining_minute),
            "X-RateLimit-Remaining-Hour": str(self.remaining_hour),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


class InProcessBuckets:
    """The same two buckets in this process's memory."""

    def __init__(
        self, per_minute: int, per_hour: int, max_identities: int = LOCAL_MAX_IDENTITIES
    ) -> None:
        self._per_minute = per_minute
        self._per_hour = per_hour
        # Past the hour bucket's refill time an entry equals a fresh one: forgetting is free.
        self._buckets: TTLCache[str, tuple[float, float, float]] = TTLCache(
            maxsize=max_identities, ttl=_HOUR_MS / 1000, timer=time.monotonic
        )
        self._lock = threading.Lock()

    def take(self, identity: str, cost: int = 1) -> Decision:
        rate_m, rate_h = self._per_minute / _MINUTE_MS, self._per_hour / _HOUR_MS
        now = time.monotonic() * 1000
        with self._lock:
            tm, th, ts = self._buckets.get(identity, (self._per_minute, self._per_hour, now))
            tm = min(self._per_minute, tm + (now - ts) * rate_m)
            th = min(self._per_hour, th + (now - ts) * rate_h)
            allowed = cost < 0 or (tm >= 1 and th >= 1)
            retry_ms = 0.0
            if allowed:
                tm, th = min(self._per_minute, tm - cost), min(self._per_hour, th - cost)
            else:
                if tm < 1:
                    retry_ms = max(retry_ms, (1 - tm) / rate_m)
                if th < 1:
                    retry_ms = max(retry_ms, (1 - th) / rate_h)
            if cost != 0:
                self._buckets[identity] = (tm, th, now)
        return Decision(
            allowed,
            self._per_minute,
            self._per_hour,
            math.floor(tm),
            math.floor(th),
            math.ceil(retry_ms / 1000),
        )


class RateLimiter:
    """Buckets under ``key_prefix`` in ``redis`` (its owner closes it), else in process."""

    def __init__(
        self,
        *,
        per_minute: int,
        per_hour: int,
        redis: Redis | None,
        key_prefix: str = RATE_LIMIT_PREFIX,
    ) -> None:
        self.per_minute = per_minute
        self.per_hour = per_hour
        self._key_prefix = key_prefix
        self._local = InProcessBuckets(per_minute, per_hour)
        self._redis = redis
        self._script = redis.register_script(_SCRIPT) if redis else None
        self.degraded_reason: str | None = (
            None if redis else "REDIS_URL not set: per-instance limits"
        )

    async def take(self, identity: str, cost: int = 1) -> Decision:
        if self._script is None:
            return self._local.take(identity, cost)
        prefix = self._key_prefix
        keys = [f"{prefix}{{{identity}}}:m", f"{prefix}{{{identity}}}:h"]
        args = [
            self.per_minute,
            self.per_minute / _MINUTE_MS,
            self.per_hour,
            self.per_hour / _HOUR_MS,
            cost,
        ]
        try:
            allowed, minute, hour, retry_ms = await self._script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            if self.degraded_reason is None:
                log.warning("Redis unavailable, rate limiting in process: %s", exc)
            self.degraded_reason = f"Redis unavailable ({type(exc).__name__}): per-instance limits"
            return self._local.take(identity, cost)
        self.degraded_reason = None
        return Decision(
            bool(allowed),
            self.per_minute,
            self.per_hour,
            int(minute),
            int(hour),
            math.ceil(int(retry_ms) / 1000),
        )

    async def ping(self) -> bool:
        if self._redis is None:
            return False
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False
