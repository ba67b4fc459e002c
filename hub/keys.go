package hub

import "strconv"

// keys builds every Redis key and channel name the hub uses. Each kind has
// exactly one function. Keys of one tenant share the hash tag {tenant} so
// that a publish script touching several of them works on Redis Cluster.
type keys struct {
	prefix string
}

func (k keys) tag(t Tenant) string {
	// A brace in the tenant would end the hash tag early; keys stay
	// distinct either way, only slot placement would differ.
	return k.prefix + ":{" + string(t) + "}"
}

// meta is a hash {epoch, seq}: the tenant's epoch and newest seq.
func (k keys) meta(t Tenant) string { return k.tag(t) + ":meta" }

// state is a hash element\x00key → stored event (wireEvent JSON).
func (k keys) state(t Tenant) string { return k.tag(t) + ":state" }

// history is a stream whose entry IDs are "<seq>-0".
func (k keys) history(t Tenant) string { return k.tag(t) + ":hist" }

// fence holds the newest fencing epoch issued for one PBX of the tenant.
func (k keys) fence(t Tenant, pbx string) string {
	return k.tag(t) + ":fence:" + strconv.Quote(pbx)
}

// events is the pub/sub channel carrying the tenant's published events.
func (k keys) events(t Tenant) string { return k.tag(t) + ":ev" }

// conns is the sorted set of live connection ids of one principal.
func (k keys) conns(t Tenant, principal string) string {
	return k.tag(t) + ":conns:" + strconv.Quote(principal)
}

// evictions is the pub/sub channel carrying "close connection X" orders.
func (k keys) evictions() string { return k.prefix + ":conn-evict" }
