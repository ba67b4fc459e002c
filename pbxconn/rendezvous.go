package pbxconn

// rendezvousOwner returns the member with the highest random weight for key
// (highest-random-weight hashing), or "" when members is empty. Every
// replica computes the same owner from the same member list, whatever its
// order; when a member joins or leaves, only the keys it wins or held move.
func rendezvousOwner(members []string, key string) string {
	var (
		best  string
		bestW uint64
	)
	for _, m := range members {
		w := rendezvousWeight(m, key)
		// Ties (astronomically rare) go to the smaller name so the result
		// does not depend on the order of members.
		if best == "" || w > bestW || (w == bestW && m < best) {
			best, bestW = m, w
		}
	}
	return best
}

// rendezvousWeight hashes member and key together: FNV-1a over
// member NUL key, then a 64-bit finalizer (MurmurHash3's fmix64) because raw
// FNV spreads similar short strings poorly.
func rendezvousWeight(member, key string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	x := uint64(offset)
	for i := 0; i < len(member); i++ {
		x = (x ^ uint64(member[i])) * prime
	}
	x *= prime // the NUL separator: x ^ 0 == x
	for i := 0; i < len(key); i++ {
		x = (x ^ uint64(key[i])) * prime
	}
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
