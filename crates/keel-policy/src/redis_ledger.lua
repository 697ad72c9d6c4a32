-- Keel's budget and rate-limit counters in Redis, shared by every node.
-- Two entry points, chosen by ARGV[1]:
--
--   reserve: check every limit of one call and, only if all pass, take the
--            call's worst case from each (atomic: one script, one node of
--            Redis, so concurrent calls on any Keel node serialise here).
--   settle:  replace a reservation with what the call really used (or
--            release it: used = 0) and report each budget's spend in its
--            period, for alerts.
--
-- Checks and holds come as JSON (ARGV[3]); money is in nano-dollars and
-- every amount that is added with HINCRBY is sent as an integer string
-- (negated ones too: Redis reads "-0" as no integer).
-- Keys (inside the JSON; all under one configurable prefix):
--   <p>:b:<scope>          budget hash: d:<day>, t:<day> (spend per UTC day),
--                          tot, ttot (all time), rn, rt (reserved)
--   <p>:q:<scope>:<unit>   rate bucket hash: l (level), u (updated ms)
--   <p>:r:<scope>:<trace>  run hash: s (spent), r (reserved)

local mode = ARGV[1]
local now = tonumber(ARGV[2])
local items = cjson.decode(ARGV[3])

local function num(v) return tonumber(v) or 0 end

local function period_spend(c)
  if c.total then
    local h = redis.call('HMGET', c.key, 'tot', 'ttot')
    return num(h[1]), num(h[2])
  end
  local n, t = 0, 0
  for d = c.from, c.today do
    local h = redis.call('HMGET', c.key, 'd:' .. d, 't:' .. d)
    n = n + num(h[1])
    t = t + num(h[2])
  end
  return n, t
end

local function bucket_level(c)
  local h = redis.call('HMGET', c.key, 'l', 'u')
  local level = tonumber(h[1]) or c.cap
  local updated = tonumber(h[2]) or now
  if now > updated then
    level = math.min(c.cap, level + (now - updated) * c.cap / 60000)
  end
  return level
end

if mode == 'reserve' then
  local levels = {}
  for i, c in ipairs(items) do
    if c.k == 'rate' then
      local level = bucket_level(c)
      if c.need > level + 1e-9 then
        return {'rate', i, tostring(level)}
      end
      levels[i] = level
    elseif c.k == 'budget' then
      local n, t = period_spend(c)
      local r = redis.call('HMGET', c.key, 'rn', 'rt')
      local rn, rt = num(r[1]), num(r[2])
      local en, et = tonumber(c.en), tonumber(c.et)
      local over_n = c.ln and (n >= c.ln or n + rn + en > c.ln)
      local over_t = c.lt and (t >= c.lt or t + rt + et > c.lt)
      if over_n or over_t then
        return {'budget', i, tostring(n), tostring(t), tostring(rn)}
      end
    elseif c.k == 'run' then
      local h = redis.call('HMGET', c.key, 's', 'r')
      local s, r = num(h[1]), num(h[2])
      if s >= c.ln or s + r + tonumber(c.en) > c.ln then
        return {'run', i, tostring(s)}
      end
    end
  end
  local out = {'ok'}
  for i, c in ipairs(items) do
    if c.k == 'rate' then
      local left = levels[i] - c.need
      redis.call('HSET', c.key, 'l', tostring(left), 'u', tostring(now))
      redis.call('PEXPIRE', c.key, 120000)
      out[#out + 1] = tostring(left)
    elseif c.k == 'budget' then
      redis.call('HINCRBY', c.key, 'rn', c.en)
      redis.call('HINCRBY', c.key, 'rt', c.et)
      out[#out + 1] = ''
    elseif c.k == 'run' then
      redis.call('HINCRBY', c.key, 'r', c.en)
      redis.call('PEXPIRE', c.key, 86400000)
      out[#out + 1] = ''
    end
  end
  return out
end

if mode == 'settle' then
  local out = {}
  for i, h in ipairs(items) do
    if h.k == 'tpm' then
      local level = bucket_level(h) + tonumber(h.unused)
      redis.call('HSET', h.key, 'l', tostring(math.min(h.cap, level)), 'u', tostring(now))
      redis.call('PEXPIRE', h.key, 120000)
      out[#out + 1] = ''
    elseif h.k == 'budget' then
      if redis.call('HINCRBY', h.key, 'rn', h.nen) < 0 then
        redis.call('HSET', h.key, 'rn', '0')
      end
      if redis.call('HINCRBY', h.key, 'rt', h.net) < 0 then
        redis.call('HSET', h.key, 'rt', '0')
      end
      redis.call('HINCRBY', h.key, 'd:' .. h.day, h.an)
      redis.call('HINCRBY', h.key, 't:' .. h.day, h.at)
      redis.call('HINCRBY', h.key, 'tot', h.an)
      redis.call('HINCRBY', h.key, 'ttot', h.at)
      redis.call('HDEL', h.key, 'd:' .. (h.today - 40), 't:' .. (h.today - 40))
      local n, t = period_spend(h)
      out[#out + 1] = tostring(n) .. ' ' .. tostring(t)
    elseif h.k == 'run' then
      if redis.call('HINCRBY', h.key, 'r', h.nen) < 0 then
        redis.call('HSET', h.key, 'r', '0')
      end
      redis.call('HINCRBY', h.key, 's', h.an)
      redis.call('PEXPIRE', h.key, 86400000)
      out[#out + 1] = ''
    end
  end
  return out
end

return redis.error_reply('unknown mode ' .. tostring(mode))
