"""The Lua scripts that make the Redis store's decisions atomic across coordinator replicas.

Redis runs a script to its end before any other command, so "publish or join" and "who delivers
this work" are decided once even when two replicas race. Keys of one hash H (``P`` is the prefix):

    P{H}:req     HASH   request id -> threshold as 20 decimal digits, then JSON {cb, k, d}
    P{H}:claim   HASH   request id -> end of its delivery lease (epoch s); 1 once released
    P{H}:search  STRING threshold (20 digits) of the strictest search published and not finished
    P{H}:work    STRING "WORK16 DIFFICULTY20", the best work found, for WORK_CACHE_SECONDS
    P{H}:final   STRING "state THRESHOLD20": the last terminal state, kept as long as the cache
    Pdeadlines   ZSET   "H id" scored by the request's deadline

A request is pending while it is in ``req`` and not in ``claim``. Thresholds and difficulties are
compared as fixed-width decimal strings: Lua numbers are doubles and u64 values above 2^53 occur.
Every key of a hash carries a TTL at least as long as its longest request may wait (and claims
as long as the cache), so nothing outlives its use.
"""

# Extend the TTL of KEYS[first..last] to at least `ttl` seconds (shared by the scripts below).
_EXTEND = """
local function extend(first, last, ttl)
  for i = first, last do
    if redis.call('EXISTS', KEYS[i]) == 1 and redis.call('TTL', KEYS[i]) < ttl then
      redis.call('EXPIRE', KEYS[i], ttl)
    end
  end
end
local function claimed(key)
  local set = {}
  for _, id in ipairs(redis.call('HKEYS', key)) do set[id] = true end
  return set
end
"""

# KEYS: req claim search work final deadlines
# ARGV: id value threshold20 deadline hash max_requests ttl remember
SUBMIT = _EXTEND + """
local cached = redis.call('GET', KEYS[4])
if cached and string.sub(cached, 18) <= ARGV[3] then
  redis.call('SET', KEYS[5], 'done ' .. ARGV[3], 'EX', ARGV[8])
  return {'cached', string.sub(cached, 1, 16)}
end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[6]) then
  return {'full', tostring(redis.call('HLEN', KEYS[1]))}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[5] .. ' ' .. ARGV[1])
local search = redis.call('GET', KEYS[3])
local decision = 'joined'
if (not search) or search > ARGV[3] then
  redis.call('SET', KEYS[3], ARGV[3], 'KEEPTTL')
  decision = 'queued'
end
extend(1, 3, tonumber(ARGV[7]))
return {decision}
"""

# KEYS: req claim search work final deadlines
# ARGV: work16 difficulty20 now lease_until cache_seconds hash
COMPLETE = _EXTEND + """
local cached = redis.call('GET', KEYS[4])
if (not cached) or string.sub(cached, 18) > ARGV[2] then
  redis.call('SET', KEYS[4], ARGV[1] .. ' ' .. ARGV[2], 'EX', ARGV[5])
end
local now = tonumber(ARGV[3])
local claims = redis.call('HGETALL', KEYS[2])
local lease = {}
for i = 1, #claims, 2 do lease[claims[i]] = tonumber(claims[i + 1]) end
local records = redis.call('HGETALL', KEYS[1])
local deliver, pending, in_flight = {}, 0, 0
local done, strictest, strictest_id, strictest_value = nil, nil, nil, nil
for i = 1, #records, 2 do
  local id, value = records[i], records[i + 1]
  local t = string.sub(value, 1, 20)
  local until_ = lease[id]
  if until_ and until_ > now then
    in_flight = in_flight + 1
  elseif t >= ARGV[2] then
    redis.call('HSET', KEYS[2], id, ARGV[4])
    redis.call('ZREM', KEYS[6], ARGV[6] .. ' ' .. id)
    deliver[#deliver + 1] = id
    deliver[#deliver + 1] = value
    if (not done) or t < done then done = t end
  elseif not until_ then
    pending = pending + 1
    if (not strictest) or t < strictest then strictest, strictest_id, strictest_value = t, id, value end
  end
end
if done then redis.call('SET', KEYS[5], 'done ' .. done, 'EX', ARGV[5]) end
local requeue = {}
if pending == 0 then
  redis.call('DEL', KEYS[3])
else
  local search = redis.call('GET', KEYS[3])
  if (not search) or search > strictest then
    redis.call('SET', KEYS[3], strictest, 'EX', math.max(redis.call('TTL', KEYS[1]), 1))
    requeue = {strictest_id, strictest_value}
  end
end
extend(1, 2, tonumber(ARGV[5]))
return {pending, strictest or '', requeue, in_flight, deliver}
"""

# KEYS: req claim search final deadlines
# ARGV: mode ('all', 'caller' or 'id') who hash remember
CANCEL = _EXTEND + """
local claims = claimed(KEYS[2])
local records = redis.call('HGETALL', KEYS[1])
local count, left, strictest = 0, 0, nil
for i = 1, #records, 2 do
  local id, value = records[i], records[i + 1]
  if not claims[id] then
    local match = ARGV[1] == 'all' or (ARGV[1] == 'id' and id == ARGV[2])
    if ARGV[1] == 'caller' then match = cjson.decode(string.sub(value, 21)).k == ARGV[2] end
    if match then
      redis.call('HDEL', KEYS[1], id)
      redis.call('ZREM', KEYS[5], ARGV[3] .. ' ' .. id)
      count = count + 1
      local t = string.sub(value, 1, 20)
      if (not strictest) or t < strictest then strictest = t end
    else
      left = left + 1
    end
  end
end
-- A withdrawn request's search was never published: forget it whoever else waits.
if left == 0 or ARGV[1] == 'id' then redis.call('DEL', KEYS[3]) end
if count > 0 and ARGV[1] ~= 'id' then
  redis.call('SET', KEYS[4], 'cancelled ' .. strictest, 'EX', ARGV[4])
end
return {count, left}
"""

# KEYS: deadlines
# ARGV: now limit prefix remember
EXPIRE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local counts, strictest, order = {}, {}, {}
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local h, id = string.match(member, '^(%S+) (%S+)$')
  local base = ARGV[3] .. '{' .. h .. '}:'
  local value = redis.call('HGET', base .. 'req', id)
  if value and redis.call('HEXISTS', base .. 'claim', id) == 0 then
    redis.call('HDEL', base .. 'req', id)
    local t = string.sub(value, 1, 20)
    if not counts[h] then
      counts[h] = 0
      order[#order + 1] = h
    end
    counts[h] = counts[h] + 1
    if (not strictest[h]) or t < strictest[h] then strictest[h] = t end
  end
end
local out = {}
for _, h in ipairs(order) do
  local base = ARGV[3] .. '{' .. h .. '}:'
  local left = 0
  for _, id in ipairs(redis.call('HKEYS', base .. 'req')) do
    if redis.call('HEXISTS', base .. 'claim', id) == 0 then left = left + 1 end
  end
  if left == 0 then redis.call('DEL', base .. 'search') end
  redis.call('SET', base .. 'final', 'expired ' .. strictest[h], 'EX', ARGV[4])
  out[#out + 1] = h
  out[#out + 1] = counts[h]
  out[#out + 1] = left == 0 and 1 or 0
end
return out
"""

# KEYS: req claim
# ARGV: ids (requests whose callbacks are done)
FINISH = """
redis.call('HDEL', KEYS[1], unpack(ARGV))
redis.call('HDEL', KEYS[2], unpack(ARGV))
return 0
"""

# KEYS: claim
# ARGV: ids (claimed requests to give back: a lease that ended at epoch 1 s)
RELEASE = """
for _, id in ipairs(ARGV) do
  if redis.call('HEXISTS', KEYS[1], id) == 1 then redis.call('HSET', KEYS[1], id, 1) end
end
return 0
"""
