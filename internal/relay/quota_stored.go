package relay

import "fmt"

// Bytes stored per recipient and per sender→recipient pair. Next to each
// inbox stream, on each Redis, the hash relay:stored:<address> counts the
// bytes its entries hold: field "t" all of them, field "p:<subject>" those
// sent by one identity. Each entry counts its frame's bytes, at least
// minStoredCharge (Redis's own cost of an entry, and so that a flood of
// tiny envelopes meets the pair's cap before MAX_INBOX). The counts are
// exact: the scripts that add an entry (addScript) and delete delivered
// ones (delScript) change them in the same step, entries older than
// MESSAGE_TTL are trimmed one by one and uncounted once a limit is reached
// (until then they are stored, and count), and the hash expires with the
// inbox (both get the same expiry whenever the inbox's is renewed). A counter that would go
// below zero (an inbox written while no cap was set) is set to zero.
//
// Past MAX_STORED_BYTES_PER_PAIR the sender's envelope is nacked quota
// (retryable) naming the limit, while other senders to the same recipient
// are still stored; past MAX_STORED_BYTES_PER_RECIPIENT every sender's is
// nacked inbox-full naming it. The counts are per Redis, as what they bound
// is what one inbox costs each Redis holding a copy.
const (
	storedPrefix              = "relay:stored:"
	minStoredCharge           = 1024
	defaultStoredPerRecipient = 64 << 20
	defaultStoredPerPair      = 8 << 20
)

// storedLua is shared by addScript and delScript: tally(t, entry) adds a
// stream entry ({id, {field, value, ...}}) being deleted to the tally t
// (tallyLen an entry known by its frame's length and sender),
// uncount(hash, t) takes the tally out of the counts, one HINCRBY per
// field. Counts at zero are kept (the hash expires with the inbox); one
// that would go negative is set to zero.
var storedLua = fmt.Sprintf(`
local function charge(frame) return math.max(#frame, %[1]d) end
local function pairField(sender) return 'p:' .. string.match(sender, '^[^/]*') end
local function tallyLen(t, n, s)
  local c = math.max(n, %[1]d)
  t['t'] = (t['t'] or 0) + c
  if s and s ~= '' then
    local pf = pairField(s)
    t[pf] = (t[pf] or 0) + c
  end
end
local function tally(t, e)
  local kv, f, s = e[2], nil, nil
  for j = 1, #kv, 2 do
    if kv[j] == 'f' then f = kv[j+1] elseif kv[j] == 's' then s = kv[j+1] end
  end
  if f then tallyLen(t, #f, s) end
end
local function uncount(hash, t)
  for field, n in pairs(t) do
    if redis.call('HINCRBY', hash, field, -n) < 0 then redis.call('HSET', hash, field, 0) end
  end
end
`, minStoredCharge)

// Store outcomes of addScript besides stored (1) and MAX_INBOX reached (0).
const (
	addOverRecipient = 2
	addOverPair      = 3
)

// storedCounted reports whether stored bytes are counted: with a cap on.
// Turned on later, the counts start from the entries written since (an
// inbox's older entries are not counted, and their deletion does not make
// a count negative).
func (c *Config) storedCounted() bool {
	return c.MaxStoredBytesPerRecipient > 0 || c.MaxStoredBytesPerPair > 0
}

// storedCaps are the caps as addScript takes them: 0 for none.
func (c *Config) storedCaps() (recipient, pair int) {
	return max(c.MaxStoredBytesPerRecipient, 0), max(c.MaxStoredBytesPerPair, 0)
}

// overPairReason and overRecipientReason name the limit in the nack.
func (c *Config) overPairReason() string {
	return fmt.Sprintf("over quota: MAX_STORED_BYTES_PER_PAIR=%d bytes queued for one recipient", c.MaxStoredBytesPerPair)
}

func (c *Config) overRecipientReason() string {
	return fmt.Sprintf("recipient inbox full: MAX_STORED_BYTES_PER_RECIPIENT=%d bytes queued", c.MaxStoredBytesPerRecipient)
}
