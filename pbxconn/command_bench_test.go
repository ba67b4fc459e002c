package pbxconn

import (
	"context"
	"testing"
	"time"

	"github.com/hookflash/hookflash/internal/testenv"
)

type instantExec struct{}

func (instantExec) Execute(ctx context.Context, cmd Command) (Result, error) {
	return Result{Op: cmd.Op, UniqueID: cmd.UniqueID}, nil
}

// BenchmarkRouterLocal: a command whose connector runs on this replica.
func BenchmarkRouterLocal(b *testing.B) {
	r, err := NewCommandRouter(CommandRouterConfig{Local: func(string, string) Executor { return instantExec{} }})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Do(ctx, hangupCmd("")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRouterRemote: the hop to the lease holder through Redis (push,
// owner's BLPOP, reply list), without and with a request id.
func BenchmarkRouterRemote(b *testing.B) {
	rdb, prefix := testenv.Redis(b)
	owner := func(context.Context, string, string) (string, error) { return "a", nil }
	mk := func(id string, local Executor) *CommandRouter {
		r, err := NewCommandRouter(CommandRouterConfig{ReplicaID: id, Redis: rdb, Prefix: prefix, Owner: owner, Timeout: 5 * time.Second,
			Local: func(string, string) Executor { return local }})
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	a, other := mk("a", instantExec{}), mk("b", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for _, withID := range []bool{false, true} {
		name := "no-id"
		if withID {
			name = "with-id"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				id := ""
				if withID {
					i++
					id = testenv.Random(4) + string(rune('a'+i%26))
				}
				if _, err := other.Do(context.Background(), hangupCmd(id)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
