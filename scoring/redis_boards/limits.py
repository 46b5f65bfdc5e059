"""The abuse limits' counters (docs/SECURITY.md), shared by every process through Redis:

- a token bucket per client address and kind (`bucket_take`): `rate` tokens a second up to
  `burst`; a request takes one or is told how long until one is there. Redis' own clock
  (`TIME`) refills it, so the workers' clocks never disagree;
- leases of open connections (`slot_acquire`, `slots_renew`, `slot_release`): each open stream
  or gRPC watch holds a member in its client's sorted set and in the total one, scored by when
  its lease ends. The process holding it renews its leases; a process that dies leaves members
  that expire by themselves, so a crash never leaks a slot for longer than a lease.

Each check is one Lua script: atomic across the workers and one round trip.
"""

from __future__ import annotations

from collections.abc import Iterable

from scoring.redis_boards.client import connection, script
from scoring.redis_boards.keys import bucket_key, slots_keys

# KEYS: the bucket. ARGV: rate (tokens/s), burst, cost, take (0: only look). Returns {allowed
# 0/1, retry after ms}.
_BUCKET_LUA = """
local rate, burst, cost, take = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(held[1]), tonumber(held[2])
if tokens == nil then tokens, at = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local allowed, wait = 0, 0
if tokens >= cost then
  if take then tokens = tokens - cost end
  allowed = 1
else
  wait = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, wait}
"""

# KEYS: the client's leases, everyone's. ARGV: lease id, per-client limit, total limit, lease
# ms (0 for a limit: none). Returns 0 (held), 1 (the client is at its limit), 2 (everyone is).
_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local per, total, lease = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if per > 0 and redis.call('ZCARD', KEYS[1]) >= per then return 1 end
if total > 0 and redis.call('ZCARD', KEYS[2]) >= total then return 2 end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('ZADD', KEYS[2], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)
redis.call('PEXPIRE', KEYS[2], lease)
return 0
"""

# KEYS: pairs (client's, everyone's) of the leases to renew. ARGV: lease ms, then the ids.
_RENEW_LUA = """
local t = redis.call('TIME')
local until_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do
  local mine, all = KEYS[2 * i - 3], KEYS[2 * i - 2]
  redis.call('ZADD', mine, 'XX', until_ms, ARGV[i])
  redis.call('ZADD', all, 'XX', until_ms, ARGV[i])
  redis.call('PEXPIRE', mine, ARGV[1])
  redis.call('PEXPIRE', all, ARGV[1])
end
return #ARGV - 1
"""

SLOT_HELD, SLOT_CLIENT_FULL, SLOT_ALL_FULL = 0, 1, 2


def bucket_take(kind: str, client: str, *, rate: float, burst: int, take: bool = True) -> float:
    """Take a token from the client's bucket (`take=False`: only look): 0.0 when there was one,
    else the seconds until one is there (nothing is taken)."""
    allowed, wait_ms = script(_BUCKET_LUA)(keys=[bucket_key(kind, client)], args=[rate, burst, 1, int(take)])
    return 0.0 if allowed else int(wait_ms) / 1000


def slot_acquire(kind: str, client: str, lease_id: str, *, per_client: int, total: int, lease_ms: int) -> int:
    """Hold a slot for an open connection: SLOT_HELD, or which limit it is past."""
    return int(script(_ACQUIRE_LUA)(keys=list(slots_keys(kind, client)), args=[lease_id, per_client, total, lease_ms]))


def slots_renew(kind: str, leases: Iterable[tuple[str, str]], *, lease_ms: int) -> int:
    """Extend the leases (client, lease id) held by this process; those already gone stay gone."""
    leases = list(leases)
    if not leases:
        return 0
    keys = [key for client, _ in leases for key in slots_keys(kind, client)]
    return int(script(_RENEW_LUA)(keys=keys, args=[lease_ms, *(lease_id for _, lease_id in leases)]))


def slot_release(kind: str, client: str, lease_id: str) -> None:
    mine, everyone = slots_keys(kind, client)
    pipe = connection().pipeline(transaction=False)
    pipe.zrem(mine, lease_id)
    pipe.zrem(everyone, lease_id)
    pipe.execute()
