"""The Lua scripts behind a shared gate, and how they are run (``EVALSHA``, loaded once).

Two scripts hold every decision, so each is atomic on the server and reads the server's clock
(``TIME``): the hosts' clocks never matter. A gate's keys share one hash tag, ``{prefix:name}``,
so both scripts work on Redis Cluster (all of a gate's keys live in one slot).

- `ADMIT`: one attempt's whole admission in one round trip: the breaker (with its half-open
  probes), the cooldown, the request and token budgets (GCRA, the same arithmetic as
  `sluice._stages.rate.Gcra`), then a concurrency lease if the rate slot is now. Phase ``l``
  asks only for the lease (after a rate wait, or while polling for a free one).
- `OUTCOMES`: everything that never waits, batched: releases and renewals of leases, breaker
  outcomes, token settlements and refunds, pauses, learned limits, retry-budget traffic.

Both take the time from the server (``TIME``) unless the caller passes one (an empty
string: the server's): the tests drive the scripts on exact instants that way.

Keys: ``KEYS[1]`` the state hash, ``KEYS[2]`` the leases (a sorted set scored by expiry),
``KEYS[3]`` the breaker's window (a list of outcomes), ``KEYS[4]`` the retry budget (a hash of
time slots). Numbers go back as strings: Redis would truncate a Lua float to an integer.

    scripts = Scripts()
    reply = await scripts.run(client, ADMIT, keys, args)
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from ..policies.breaker import Breaker
from ..policies.budget import RetryBudget
from ..policies.rate import Rate

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "ADMIT",
    "IDLE",
    "OUTCOMES",
    "Script",
    "admit_args",
    "outcome_args",
    "rate_args",
    "run_script",
]

IDLE = 86_400  # seconds an unused gate's keys live on in Redis
UNIT = 1000  # retry-budget units per retry (integers on the server, as in the local budget)

RateArgs = tuple[float, float, float, float]

# Reply codes of ADMIT: {code, seconds, ticket, reserved, held, released}.
GO = 0  # admitted; the lease (if any) is held
WAIT = 1  # the rate slot is booked ``seconds`` from now; ask for the lease then
PAUSED = 2  # the gate is paused for ``seconds``; nothing was booked
OPEN = 3  # the circuit is open for ``seconds`` more
PROBING = 4  # half-open, and every probe is in flight
LATE = 5  # the rate slot lies ``seconds`` away, at or beyond the deadline; nothing booked
FULL = 6  # booked, but every lease is held: poll with phase ``l``


def _prelude(clock_argument: int) -> str:
    """The start of both scripts: ``now`` (the caller's, if it gave one, else the server's)
    and ``num``, which writes a number with its microseconds (``tostring`` keeps 14 digits,
    of which the epoch takes 10)."""
    return f"""
local now = tonumber(ARGV[{clock_argument}])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function num(x) return string.format('%.6f', x) end"""


_ADMIT = (
    _prelude(13)
    + """
local idle = tonumber(ARGV[12])
local limit = tonumber(ARGV[8])
local function lease()
  if limit <= 0 then return 1, 0 end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  local held = redis.call('ZCARD', KEYS[2])
  if held >= limit then return 0, held end
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[10]), ARGV[9])
  redis.call('EXPIRE', KEYS[2], idle)
  return 1, held + 1
end
if ARGV[1] == 'l' then
  local got, held = lease()
  local released = redis.call('HGET', KEYS[1], 'rel') or '0'
  return {got == 1 and 0 or 6, '0', 0, '0', held, released}
end
local f = redis.call('HMGET', KEYS[1], 'bs', 'bg', 'bp', 'bo', 'cu', 'rt', 'tt',
  'ri', 'rc', 'ti', 'tc', 'rel', 'bt')
local bs = tonumber(f[1]) or 0
local bg = tonumber(f[2]) or 0
local bp = tonumber(f[3]) or 0
local probes = tonumber(ARGV[11])
local fields = {}
if probes > 0 then
  if bs == 1 then
    local until_ = tonumber(f[4]) or 0
    if now < until_ then return {3, num(until_ - now), bg, '0', 0, '0'} end
    bs = 2
    bg = bg + 1
    bp = 0
    redis.call('DEL', KEYS[3])
    fields = {'bs', 2, 'bg', bg, 'bf', 0, 'bw', 0}
  end
  if bs == 2 then
    -- A probe whose outcome never came (its process died) stops counting after a lease's time.
    if bp >= probes and now - (tonumber(f[13]) or 0) < tonumber(ARGV[10]) then
      return {4, '1', bg, '0', 0, '0'}
    end
    if bp >= probes then bp = 0 end
    bp = bp + 1
    fields[#fields + 1] = 'bp'
    fields[#fields + 1] = bp
    fields[#fields + 1] = 'bt'
    fields[#fields + 1] = num(now)
  end
end
local paused = tonumber(f[5]) or 0
if paused > now then return {2, num(paused - now), bg, '0', 0, '0'} end
local ri = tonumber(f[8]) or tonumber(ARGV[2])
local rc = tonumber(f[9]) or tonumber(ARGV[3])
local ti = tonumber(f[10]) or tonumber(ARGV[4])
local tc = tonumber(f[11]) or tonumber(ARGV[5])
local tokens = tonumber(ARGV[6])
local rt = tonumber(f[6]) or 0
local tt = tonumber(f[7]) or 0
local at = now
if ri > 0 then
  local a = rt + math.min(1, rc) * ri - rc * ri
  if a > at then at = a end
end
local reserved = 0
if ti > 0 and tokens > 0 then
  reserved = math.min(tokens, math.max(60 / ti, tc))
  local a = tt + math.min(reserved, tc) * ti - tc * ti
  if a > at then at = a end
end
local deadline = tonumber(ARGV[7])
if deadline >= 0 and at - now >= deadline then
  return {5, num(at - now), bg, '0', 0, '0'}
end
if ri > 0 then
  fields[#fields + 1] = 'rt'
  fields[#fields + 1] = num(math.max(at, rt) + ri)
end
if reserved > 0 then
  fields[#fields + 1] = 'tt'
  fields[#fields + 1] = num(math.max(at, tt) + reserved * ti)
end
if #fields > 0 then
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('EXPIRE', KEYS[1], idle)
end
if at > now then return {1, num(at - now), bg, num(reserved), 0, '0'} end
local got, held = lease()
return {got == 1 and 0 or 6, '0', bg, num(reserved), held, f[12] or '0'}
"""
)

_OUTCOMES = (
    _prelude(15)
    + """
local window = tonumber(ARGV[1])
local min_calls = tonumber(ARGV[2])
local failure_rate = tonumber(ARGV[3])
local slow_rate = tonumber(ARGV[4])
local open_for = tonumber(ARGV[5])
local lease_for = tonumber(ARGV[6])
local idle = tonumber(ARGV[7])
local ri_cfg, rc_cfg = tonumber(ARGV[8]), tonumber(ARGV[9])
local ti_cfg, tc_cfg = tonumber(ARGV[10]), tonumber(ARGV[11])
local unit, reserve, width = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])
local f = redis.call('HMGET', KEYS[1], 'bs', 'bg', 'bp', 'bf', 'bw', 'bn', 'bo', 'cu',
  'rt', 'tt', 'ri', 'rc', 'ti', 'tc')
local s = {bs = tonumber(f[1]) or 0, bg = tonumber(f[2]) or 0, bp = tonumber(f[3]) or 0,
  bf = tonumber(f[4]) or 0, bw = tonumber(f[5]) or 0, bn = tonumber(f[6]) or 0,
  bo = tonumber(f[7]) or 0, cu = tonumber(f[8]) or 0, rt = tonumber(f[9]) or 0,
  tt = tonumber(f[10]) or 0, ri = tonumber(f[11]), rc = tonumber(f[12]),
  ti = tonumber(f[13]), tc = tonumber(f[14])}
local opened, closed, released, budget = 0, 0, 0, -1
local function enter(state)
  s.bs = state
  s.bg = s.bg + 1
  s.bp = 0
  s.bf = 0
  s.bw = 0
  redis.call('DEL', KEYS[3])
end
local function trip()
  enter(1)
  s.bo = now + open_for
  s.bn = s.bn + 1
  opened = opened + 1
end
local function record(ticket, outcome)
  -- outcome: -1 neutral, else bit 1 failed, bit 2 slow
  if ticket ~= s.bg then return end
  if s.bs == 2 then
    if s.bp > 0 then s.bp = s.bp - 1 end
    if outcome < 0 then return end
    if outcome > 0 then trip() else enter(0); closed = closed + 1 end
    return
  end
  if s.bs ~= 0 or outcome < 0 then return end
  if redis.call('LLEN', KEYS[3]) >= window then
    local evicted = tonumber(redis.call('RPOP', KEYS[3])) or 0
    s.bf = s.bf - evicted % 2
    s.bw = s.bw - math.floor(evicted / 2)
  end
  redis.call('LPUSH', KEYS[3], outcome)
  redis.call('EXPIRE', KEYS[3], idle)
  s.bf = s.bf + outcome % 2
  s.bw = s.bw + math.floor(outcome / 2)
  local calls = redis.call('LLEN', KEYS[3])
  if calls >= min_calls and (s.bf / calls >= failure_rate
      or (slow_rate > 0 and s.bw / calls >= slow_rate)) then
    trip()
  end
end
local function learn(limit, floor, interval_key, capacity_key, cfg_capacity)
  local interval = 60 / limit
  if s[interval_key] == nil and floor == 0 then
    s[interval_key] = interval
    s[capacity_key] = limit
    return
  end
  s[interval_key] = math.max(interval, floor)
  if floor == 0 then s[capacity_key] = limit
  elseif s[capacity_key] == nil then s[capacity_key] = cfg_capacity end
end
local function align(tat_key, interval, capacity, remaining)
  if interval == nil or interval <= 0 then return end
  local to = now + (capacity - remaining) * interval
  if to > s[tat_key] then s[tat_key] = to end
end
local i = 16
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'r' then
    released = released + redis.call('ZREM', KEYS[2], ARGV[i + 1])
    i = i + 2
  elseif op == 'w' then
    redis.call('ZADD', KEYS[2], 'XX', now + lease_for, ARGV[i + 1])
    i = i + 2
  elseif op == 'o' then
    record(tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]))
    i = i + 3
  elseif op == 'q' then
    local ri = s.ri or ri_cfg
    local ti = s.ti or ti_cfg
    if ri > 0 and tonumber(ARGV[i + 1]) > 0 then s.rt = s.rt - ri end
    if ti > 0 then s.tt = s.tt + tonumber(ARGV[i + 2]) * ti end
    i = i + 3
  elseif op == 'p' then
    local to = now + tonumber(ARGV[i + 1])
    if to > s.cu then s.cu = to end
    i = i + 2
  elseif op == 'l' then
    local rl, rr = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
    local tl, tr = tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
    if rl > 0 then learn(rl, ri_cfg, 'ri', 'rc', rc_cfg) end
    if tl > 0 then learn(tl, ti_cfg, 'ti', 'tc', tc_cfg) end
    if rr >= 0 then align('rt', s.ri or ri_cfg, s.rc or rc_cfg, rr) end
    if tr >= 0 then align('tt', s.ti or ti_cfg, s.tc or tc_cfg, tr) end
    i = i + 5
  elseif op == 'b' then
    local slot = math.floor(now / width)
    local change = tonumber(ARGV[i + 1])
    if change ~= 0 then redis.call('HINCRBY', KEYS[4], slot, change) end
    local sum = 0
    local slots = redis.call('HGETALL', KEYS[4])
    for j = 1, #slots, 2 do
      if tonumber(slots[j]) <= slot - 10 then redis.call('HDEL', KEYS[4], slots[j])
      else sum = sum + tonumber(slots[j + 1]) end
    end
    redis.call('EXPIRE', KEYS[4], idle)
    budget = (reserve + sum) / unit
    i = i + 2
  else
    return redis.error_reply('sluice: unknown outcome op ' .. tostring(op))
  end
end
if released > 0 then redis.call('HINCRBY', KEYS[1], 'rel', released) end
local out = {'bs', s.bs, 'bg', s.bg, 'bp', s.bp, 'bf', s.bf, 'bw', s.bw, 'bn', s.bn,
  'bo', num(s.bo), 'cu', num(s.cu), 'rt', num(s.rt), 'tt', num(s.tt)}
for _, k in ipairs({'ri', 'rc', 'ti', 'tc'}) do
  if s[k] ~= nil then
    out[#out + 1] = k
    out[#out + 1] = num(s[k])
  end
end
redis.call('HSET', KEYS[1], unpack(out))
redis.call('EXPIRE', KEYS[1], idle)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local state = s.bs
if state == 1 and now >= s.bo then state = 2 end
local delay = 0
local ri, rc = s.ri or ri_cfg, s.rc or rc_cfg
if ri > 0 then delay = s.rt + math.min(1, rc) * ri - rc * ri - now end
local ti, tc = s.ti or ti_cfg, s.tc or tc_cfg
if ti > 0 then delay = math.max(delay, s.tt - tc * ti - now) end
return {redis.call('ZCARD', KEYS[2]), state, num(math.max(0, s.cu - now)), num(budget),
  opened, closed, num(math.max(0, s.bo - now)), redis.call('LLEN', KEYS[3]), s.bf, s.bw, s.bn,
  num(math.max(0, delay)), num(ri), num(ti)}
"""
)


class Script:
    """One script: its source and its SHA1, the name ``EVALSHA`` knows it by."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


ADMIT = Script(_ADMIT)
OUTCOMES = Script(_OUTCOMES)


async def run_script(
    client: Redis, script: Script, keys: tuple[str, ...], args: list[Any]
) -> list[Any]:
    """``EVALSHA`` the script; load it first when the server does not know it yet (a new or
    restarted server, a failover to a replica)."""
    from redis.exceptions import NoScriptError

    try:
        reply = await client.evalsha(script.sha, len(keys), *keys, *args)
    except NoScriptError:
        await client.script_load(script.source)
        reply = await client.evalsha(script.sha, len(keys), *keys, *args)
    return list(reply)


def rate_args(rate: Rate | None) -> RateArgs:
    """The configured (request interval, burst, token interval, token burst); 0: none."""
    if rate is None:
        return (0.0, 1.0, 0.0, 1.0)
    rps = rate.requests_per_second
    capacity = rate.token_capacity
    return (
        0.0 if rps is None else 1.0 / rps,
        float(rate.burst),
        0.0 if rate.tpm is None else 60.0 / rate.tpm,
        1.0 if capacity is None else capacity,
    )


def admit_args(
    *,
    phase: str,
    rate: RateArgs,
    tokens: float,
    deadline: float,
    limit: int,
    lease: str,
    lease_for: float,
    probes: int,
    now: float | None = None,
) -> list[Any]:
    """`ADMIT`'s arguments: ``deadline`` in seconds from now (-1: none), ``limit`` the
    concurrency limit (0: no lease), ``probes`` the breaker's half-open probes (0: no
    breaker), ``now`` the time to decide at (``None``: the server's)."""
    ri, rc, ti, tc = rate
    clock = "" if now is None else now
    return [phase, ri, rc, ti, tc, tokens, deadline, limit, lease, lease_for, probes, IDLE, clock]


def outcome_args(
    *,
    breaker: Breaker | None,
    budget: RetryBudget | None,
    rate: RateArgs,
    lease_for: float,
    now: float | None = None,
) -> list[Any]:
    """The fixed head of `OUTCOMES`'s arguments; the queued operations follow it."""
    ri, rc, ti, tc = rate
    slow_rate = 0.0
    if breaker is not None and breaker.slow_call_s is not None:
        slow_rate = breaker.slow_call_rate or breaker.failure_rate
    return [
        1 if breaker is None else breaker.window,
        1 if breaker is None else breaker.min_calls,
        1.0 if breaker is None else breaker.failure_rate,
        slow_rate,
        0.0 if breaker is None else breaker.open_for,
        lease_for,
        IDLE,
        ri,
        rc,
        ti,
        tc,
        UNIT,
        0 if budget is None else round(budget.min_per_second * budget.ttl * UNIT),
        1.0 if budget is None else budget.ttl / 10,
        "" if now is None else now,
    ]
