package relay

import "github.com/redis/go-redis/v9"

// The scripts that store envelopes in inboxes and delete delivered ones.
// Redis's cost per call (reading the request, running a script, writing the
// reply) outweighs its cost per envelope at moderate rates, so each call
// takes every address of a batch it can: on a single Redis all of them, on
// a Redis Cluster one address (a script's keys must share a slot; the
// calls of one primary still share its pipeline). See addrGroups.

// addScript queues envelopes for one or more addresses, each unless the
// inbox is full: MAX_INBOX entries (0), or, when its bytes are counted
// (three keys per address), its bytes at the recipient's or the pair's cap
// (addOverRecipient, addOverPair; quota_stored.go); it returns one outcome
// per envelope, 1 when stored. Entries older than the TTL are trimmed:
// counted, when a limit is reached, one by one and uncounted (at most 1000
// per call: a backlog goes over the next calls), so that entries are only
// ever removed with their bytes; not counted, as XADD's approximate MINID
// trim. The counts are read once per address (HMGET) and written back once
// (HSET): the script runs alone, so that is exact. The keys expire between
// a TTL and a TTL plus a tenth of it (at most a minute) after the last
// write: a write sets that expiry only when less than a TTL is left, so
// that most writes do not pay for it. The index cannot see entries trimmed
// or expired out of the stream: it is dropped when it grows past twice the
// inbox bound (copies elsewhere then stay until the recipient's dedup drops
// their redelivery, or they expire).
//
// It then publishes each address's notice of what it stored on its wake
// channel (see inbox_notice.go): the id of the stream's last entry before
// the batch, so that a recipient whose cursor is there or past it knows it
// misses nothing, and the entries themselves, so that it delivers them
// without reading the stream; an empty message (a plain wake-up) when they
// are larger than the notice's cap. From inside the script, so that notices
// reach subscribers in stream order.
//
//	KEYS: per address, its inbox, index and (when counted) stored bytes
//	ARGV: max entries, min id (now - ttl), ttl ms, recipient cap, pair cap
//	(0: none), notice cap (bytes of frames), the publish command
//	(publishCmd), indexed ("1": keep the index, see indexed), keys per
//	address (2 or 3), then per address its wake channel, its number of
//	envelopes and for each its id, frame and sender
var addScript = redis.NewScript(storedLua + `
local max, minid, ttl = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local rcap, pcap, noticeCap, pub = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local indexed, nk = ARGV[8] == '1', tonumber(ARGV[9])
local expiry = ttl + math.min(60000, math.floor(ttl / 10))
local out = {}

-- store queues the envelopes ARGV[first..last] in one address's inbox.
local function store(inbox, index, stored, ch, first, last)
  local prev, len = '0-0', redis.call('XLEN', inbox)
  if len > 0 then prev = redis.call('XREVRANGE', inbox, '+', '-', 'COUNT', 1)[1][1] end
  -- cnt: the counts of t and of the batch's senders, written back at the end.
  local cnt, fresh, changed = {}, false, false
  if stored then
    local fields, seen = {'t'}, {t = true}
    for k = first, last, 3 do
      local pf = pairField(ARGV[k+2])
      if not seen[pf] then seen[pf] = true fields[#fields+1] = pf end
    end
    local vs = redis.call('HMGET', stored, unpack(fields))
    fresh = not vs[1]
    for i, f in ipairs(fields) do cnt[f] = tonumber(vs[i]) or 0 end
  end
  -- take counts an envelope in, unless that puts the inbox over a limit:
  -- then it says which.
  local function take(c, pf)
    if len >= max then return 0 end
    if pcap > 0 and cnt[pf] + c > pcap then return 3 end
    if rcap > 0 and cnt['t'] + c > rcap then return 2 end
    cnt[pf], cnt['t'], changed = cnt[pf] + c, cnt['t'] + c, true
  end
  -- trimExpired deletes up to 1000 entries older than the TTL and
  -- uncounts them; false when there are none.
  local function trimExpired()
    local old = redis.call('XRANGE', inbox, '-', '(' .. minid, 'COUNT', 1000)
    if #old == 0 then return false end
    local t, ids = {}, {}
    for _, e in ipairs(old) do tally(t, e) ids[#ids+1] = e[1] end
    len = len - redis.call('XDEL', inbox, unpack(ids))
    local others = {}
    for f, n in pairs(t) do
      if cnt[f] then cnt[f], changed = math.max(cnt[f] - n, 0), true else others[f] = n end
    end
    uncount(stored, others)
    return true
  end
  local function add(id, frame, sender)
    if stored then
      local c, pf = charge(frame), pairField(sender)
      local o = take(c, pf)
      if o then
        if not trimExpired() then return o end
        o = take(c, pf)
        if o then return o end
      end
      len = len + 1
      return redis.call('XADD', inbox, '*', 'i', id, 'f', frame, 's', sender)
    end
    -- len may be past the truth after an approximate trim: checked again.
    if len >= max then
      redis.call('XTRIM', inbox, 'MINID', minid)
      len = redis.call('XLEN', inbox)
      if len >= max then return 0 end
    end
    len = len + 1
    return redis.call('XADD', inbox, 'MINID', '~', minid, '*', 'i', id, 'f', frame, 's', sender)
  end
  local freshIndex = false
  if indexed then
    local n = redis.call('HLEN', index)
    if n >= 2 * max then redis.call('DEL', index) n = 0 end
    freshIndex = n == 0
  end
  local idx, notice, room, any = {}, {prev}, noticeCap, false
  for k = first, last, 3 do
    local id, frame, sender = ARGV[k], ARGV[k+1], ARGV[k+2]
    local sid = add(id, frame, sender)
    if type(sid) == 'number' then
      out[#out+1] = sid
    else
      out[#out+1] = 1
      if indexed then
        local field = sender .. '\n' .. id
        local old = idx[field] or redis.call('HGET', index, field)
        if old then idx[field] = old .. ',' .. sid else idx[field] = sid end
      end
      any = true
      room = room - #frame
      if room >= 0 then
        notice[#notice+1] = string.format('%s\n%s\n%s\n%d\n', sid, id, sender, #frame) .. frame
      end
    end
  end
  if changed then
    local hset = {'HSET', stored}
    for f, n in pairs(cnt) do hset[#hset+1] = f hset[#hset+1] = n end
    redis.call(unpack(hset))
  end
  if any and indexed then
    local hset = {'HSET', index}
    for field, sid in pairs(idx) do hset[#hset+1] = field hset[#hset+1] = sid end
    redis.call(unpack(hset))
  end
  -- Expiries: the inbox's when less than a TTL is left, the others' with
  -- it, and a hash or an index created here (the inbox's still far) too.
  local renew = any and redis.call('PTTL', inbox) < ttl
  if renew then redis.call('PEXPIRE', inbox, expiry) end
  if changed and (renew or fresh) then redis.call('PEXPIRE', stored, expiry) end
  if any and indexed and (renew or freshIndex) then redis.call('PEXPIRE', index, expiry) end
  if any then
    if room >= 0 then
      redis.call(pub, ch, table.concat(notice, '\n'))
    else
      redis.call(pub, ch, '')
    end
  end
end

local a = 10
for g = 1, #KEYS, nk do
  local n = tonumber(ARGV[a+1])
  local stored = nil
  if nk == 3 then stored = KEYS[g+2] end
  store(KEYS[g], KEYS[g+1], stored, ARGV[a], a + 2, a + 1 + 3 * n)
  a = a + 2 + 3 * n
end
return out
`)

// delScript deletes delivered envelopes of one or more addresses,
// uncounting their bytes when they are counted (three keys per address):
// the entries read from this Redis by stream id, and every other entry the
// index lists for the envelope. An entry read from here is uncounted by the
// frame length the relay read with it, the others by their frame read in
// the script; either only if the entry was still there. It returns the
// number of entries deleted.
//
//	KEYS: per address, its inbox, index and (when counted) stored bytes
//	ARGV: indexed ("1": delete through the index too), keys per address (2
//	or 3), then per address its number of envelopes and for each its index
//	field ("sender\nid", or "" for an entry without a sender), stream id
//	("" when the envelope was not read from this Redis) and frame length
//	(of the entry read)
var delScript = redis.NewScript(storedLua + `
local indexed, nk = ARGV[1] == '1', tonumber(ARGV[2])
local function del(inbox, index, stored, first, last)
  local n, t, others, seen = 0, {}, {}, {}
  for i = first, last, 3 do
    local field, sid = ARGV[i], ARGV[i+1]
    if sid ~= '' and not seen[sid] then
      seen[sid] = true
      if redis.call('XDEL', inbox, sid) == 1 then
        n = n + 1
        if stored then tallyLen(t, tonumber(ARGV[i+2]), field:match('^[^\n]*')) end
      end
    end
    if indexed and field ~= '' then
      local v = redis.call('HGET', index, field)
      if v then
        for id in string.gmatch(v, '[^,]+') do others[#others+1] = id end
        redis.call('HDEL', index, field)
      end
    end
  end
  -- Copies found through the index (peer copies, resends) are rarer: their
  -- frame and sender are read here to say what they count.
  local ids = {}
  for _, id in ipairs(others) do
    if not seen[id] then
      seen[id] = true
      if stored then
        local e = redis.call('XRANGE', inbox, id, id)[1]
        if e then tally(t, e) end
      end
      ids[#ids+1] = id
    end
  end
  for i = 1, #ids, 500 do
    n = n + redis.call('XDEL', inbox, unpack(ids, i, math.min(i + 499, #ids)))
  end
  if stored then uncount(stored, t) end
  return n
end

local total, a = 0, 3
for g = 1, #KEYS, nk do
  local m = tonumber(ARGV[a])
  local stored = nil
  if nk == 3 then stored = KEYS[g+2] end
  total = total + del(KEYS[g], KEYS[g+1], stored, a + 1, a + 3 * m)
  a = a + 1 + 3 * m
end
return total
`)

// addrGroups splits count addresses, in order, into the script calls that
// take them: one call for all on a single Redis, one per address on a
// cluster or when alone (after a call for several failed with an error
// answer: one address's error then fails only its own). Each element is
// the [from, to) range of one call.
func (n *node) addrGroups(count int, alone bool) [][2]int {
	per := count
	if n.cluster != nil || alone {
		per = 1
	}
	var calls [][2]int
	for i := 0; i < count; i += per {
		calls = append(calls, [2]int{i, min(i+per, count)})
	}
	return calls
}
