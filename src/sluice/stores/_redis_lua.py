"""The Lua source of the shared gate's two scripts (see `sluice.stores._redis_scripts` for
what each decides, its keys, arguments and replies).

Kept apart from the Python that runs them: this is the one place where the shared rate,
leases, breaker, cooldown, learned limits and retry budget are decided, atomically, on the
server. The GCRA arithmetic is `sluice._stages.rate.Gcra`'s, and the breaker's moves are
`sluice._stages.breaker.CircuitBreaker`'s; tests/shared/test_scripts.py holds them to it.

    ADMIT_SOURCE      # admission: breaker, cooldown, rate, then a lease
    OUTCOMES_SOURCE   # outcomes: releases, renewals, breaker, tokens, pauses, limits, budget
"""

from __future__ import annotations

from .._stages.rate import LEARNED_BURST_SECONDS

__all__ = ["ADMIT_SOURCE", "OUTCOMES_SOURCE"]


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
local function num(x) return string.format('%.6f', x) end
local LEARNED_BURST_SECONDS = {LEARNED_BURST_SECONDS!r}"""


ADMIT_SOURCE = (
    _prelude(7)
    + """
local cfg = {}
for v in string.gmatch(ARGV[2], '%S+') do cfg[#cfg + 1] = tonumber(v) end
local lease_for, probes, idle = cfg[5], cfg[6], cfg[7]
local limit = tonumber(ARGV[5])
-- Leases this process released since its last exchange ride along (ARGV[8] onwards).
local freed = 0
for j = 8, #ARGV do freed = freed + redis.call('ZREM', KEYS[2], ARGV[j]) end
if freed > 0 then redis.call('HINCRBY', KEYS[1], 'rel', freed) end
local function lease()
  if limit <= 0 then return 1, 0 end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  local held = redis.call('ZCARD', KEYS[2])
  if held >= limit then return 0, held end
  redis.call('ZADD', KEYS[2], now + lease_for, ARGV[6])
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
    if bp >= probes and now - (tonumber(f[13]) or 0) < lease_for then
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
local ri = tonumber(f[8]) or cfg[1]
local rc = tonumber(f[9]) or cfg[2]
local ti = tonumber(f[10]) or cfg[3]
local tc = tonumber(f[11]) or cfg[4]
local tokens = tonumber(ARGV[3])
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
local deadline = tonumber(ARGV[4])
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

OUTCOMES_SOURCE = (
    _prelude(2)
    + """
local cfg = {}
for v in string.gmatch(ARGV[1], '%S+') do cfg[#cfg + 1] = tonumber(v) end
local window, min_calls, failure_rate, slow_rate = cfg[1], cfg[2], cfg[3], cfg[4]
local open_for, lease_for, idle = cfg[5], cfg[6], cfg[7]
local ri_cfg, rc_cfg, ti_cfg, tc_cfg = cfg[8], cfg[9], cfg[10], cfg[11]
local unit, reserve, width = cfg[12], cfg[13], cfg[14]
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
  local burst = math.max(1, limit * LEARNED_BURST_SECONDS / 60)
  if s[interval_key] == nil and floor == 0 then
    s[interval_key] = interval
    s[capacity_key] = burst
    return
  end
  s[interval_key] = math.max(interval, floor)
  if floor == 0 then s[capacity_key] = burst
  elseif s[capacity_key] == nil then s[capacity_key] = cfg_capacity end
end
local function align(tat_key, interval, capacity, remaining)
  if interval == nil or interval <= 0 then return end
  local to = now + (capacity - remaining) * interval
  if to > s[tat_key] then s[tat_key] = to end
end
local i = 3
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
