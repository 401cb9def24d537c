package relay

import "strings"

// addrKey names one of addr's keys or its wake channel (prefix: inboxPrefix,
// indexPrefix, storedPrefix, wakePrefix). On a Redis Cluster the address
// is a hash tag, {addr}: an address's inbox, index, stored bytes and wake
// channel then hash to one slot, so one address lives on one shard, every
// script stays single-slot and the wake-up is published on the shard that
// stored the envelope. (The tag is what lies between the first { and the
// next }: the same for every key of one address, whatever the address
// holds.) On a single Redis the names stay as they always were, so that an
// upgraded relay finds the inboxes already queued.
func addrKey(cluster bool, prefix, addr string) string {
	if cluster {
		return prefix + "{" + addr + "}"
	}
	return prefix + addr
}

// AddressKey is the name of addr's key with prefix (e.g. "relay:inbox:")
// on a single Redis or on a Redis Cluster: for tests and operators' tools.
func AddressKey(cluster bool, prefix, addr string) string { return addrKey(cluster, prefix, addr) }

// key names addr's key with prefix on this node's Redis.
func (n *node) key(prefix, addr string) string { return addrKey(n.cluster != nil, prefix, addr) }

// inboxKeys are the keys of addr's inbox that addScript and delScript
// take: the stored bytes' only when they are counted.
func (n *node) inboxKeys(addr string) []string {
	if n.s.cfg.storedCounted() {
		return []string{n.key(inboxPrefix, addr), n.key(indexPrefix, addr), n.key(storedPrefix, addr)}
	}
	return []string{n.key(inboxPrefix, addr), n.key(indexPrefix, addr)}
}

// inboxKeyCount is how many keys inboxKeys gives per address.
func (n *node) inboxKeyCount() int {
	if n.s.cfg.storedCounted() {
		return 3
	}
	return 2
}

// channelAddr is the address whose wake channel ch is on this node's Redis.
func (n *node) channelAddr(ch string) (string, bool) {
	a, ok := strings.CutPrefix(ch, wakePrefix)
	if ok && n.cluster != nil {
		a, ok = strings.CutPrefix(a, "{")
		if ok {
			a, ok = strings.CutSuffix(a, "}")
		}
	}
	return a, ok
}
