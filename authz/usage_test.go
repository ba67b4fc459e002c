package authz

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestTokenUsage(t *testing.T) {
	t.Parallel()
	u := NewTokenUsage()
	t0 := time.Unix(1_700_000_000, 0)
	u.Record("a.example", "t1", t0)
	u.Record("a.example", "t1", t0.Add(time.Second))
	u.Record("a.example", "t1", t0) // older: ignored
	u.Record("b.example", "t2", t0)
	got := u.Drain()
	if len(got) != 2 || !got["t1"].At.Equal(t0.Add(time.Second)) || got["t2"].Tenant != "b.example" {
		t.Fatalf("Drain = %v", got)
	}
	if u.Drain() != nil {
		t.Fatal("second Drain not empty")
	}

	var mu sync.Mutex
	var flushed []map[string]TokenUse
	fail := true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		u.Run(ctx, 10*time.Millisecond, func(_ context.Context, b map[string]TokenUse) error {
			mu.Lock()
			defer mu.Unlock()
			if fail {
				fail = false
				return errors.New("database down")
			}
			flushed = append(flushed, b)
			return nil
		})
	}()
	u.Record("a.example", "t3", t0)
	eventually(t, 2*time.Second, "a failed flush is retried", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(flushed) == 1 && flushed[0]["t3"].Tenant == "a.example"
	})
	u.Record("a.example", "t4", t0)
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	last := flushed[len(flushed)-1]
	if _, ok := last["t4"]; !ok {
		t.Fatalf("use recorded before shutdown was not flushed: %v", flushed)
	}
}
