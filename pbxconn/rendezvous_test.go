package pbxconn

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func rendezvousKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = LeaseID{Tenant: fmt.Sprintf("t%d.example.com", i%37), PBX: fmt.Sprintf("pbx-%d", i)}.String()
	}
	return keys
}

func rendezvousMembers(n int) []string {
	ms := make([]string, n)
	for i := range ms {
		ms[i] = fmt.Sprintf("hookflash-7d9f8c6b5-%c%c%c", 'a'+i%26, 'k'+i/26%10, 'x')
	}
	return ms
}

func TestRendezvousEmptyAndSingle(t *testing.T) {
	if got := rendezvousOwner(nil, "x"); got != "" {
		t.Fatalf("no members: owner %q, want empty", got)
	}
	if got := rendezvousOwner([]string{"only"}, "x"); got != "only" {
		t.Fatalf("one member: owner %q, want only", got)
	}
}

func TestRendezvousOrderIndependent(t *testing.T) {
	members := rendezvousMembers(7)
	shuffled := append([]string(nil), members...)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, k := range rendezvousKeys(500) {
		if a, b := rendezvousOwner(members, k), rendezvousOwner(shuffled, k); a != b {
			t.Fatalf("key %s: owner %s in one order, %s in another", k, a, b)
		}
	}
}

func TestRendezvousBalance(t *testing.T) {
	for _, n := range []int{2, 3, 5, 10} {
		t.Run(fmt.Sprint(n, "members"), func(t *testing.T) {
			members := rendezvousMembers(n)
			keys := rendezvousKeys(10000)
			count := map[string]int{}
			for _, k := range keys {
				count[rendezvousOwner(members, k)]++
			}
			want := len(keys) / n
			for _, m := range members {
				// ±10% of the fair share: a uniform hash stays well within
				// that for 10,000 keys (σ ≈ 1-3%).
				if c := count[m]; c < want*9/10 || c > want*11/10 {
					t.Errorf("member %s owns %d keys, fair share %d: %v", m, c, want, count)
				}
			}
		})
	}
}

func TestRendezvousMinimalMovement(t *testing.T) {
	members := rendezvousMembers(5)
	keys := rendezvousKeys(10000)
	before := map[string]string{}
	for _, k := range keys {
		before[k] = rendezvousOwner(members, k)
	}

	t.Run("join", func(t *testing.T) {
		joined := append(append([]string(nil), members...), "newcomer")
		moved := 0
		for _, k := range keys {
			after := rendezvousOwner(joined, k)
			if after != before[k] {
				moved++
				if after != "newcomer" {
					t.Fatalf("key %s moved from %s to %s, not to the newcomer", k, before[k], after)
				}
			}
		}
		// The newcomer takes about 1/6 of the keys.
		if want := len(keys) / 6; moved < want*8/10 || moved > want*12/10 {
			t.Errorf("%d keys moved to the newcomer, want about %d", moved, want)
		}
	})

	t.Run("leave", func(t *testing.T) {
		gone := members[2]
		left := append(append([]string(nil), members[:2]...), members[3:]...)
		for _, k := range keys {
			after := rendezvousOwner(left, k)
			if before[k] != gone && after != before[k] {
				t.Fatalf("key %s moved from surviving %s to %s", k, before[k], after)
			}
			if after == gone {
				t.Fatalf("key %s still owned by departed %s", k, gone)
			}
		}
	})
}

func BenchmarkRendezvousOwner(b *testing.B) {
	members := rendezvousMembers(10)
	keys := rendezvousKeys(1000)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rendezvousOwner(members, keys[i%len(keys)])
	}
}
