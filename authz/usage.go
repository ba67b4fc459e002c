package authz

import (
	"context"
	"sync"
	"time"
)

// TokenUse is the latest use of one API token.
type TokenUse struct {
	Tenant string
	At     time.Time
}

// TokenUsage collects API token last-used times in memory so that a busy
// token costs no database write per request: Record on every use, and Run
// flushes the latest times in one batch (tenant.Store.TouchTokens) every
// interval. Safe for concurrent use.
type TokenUsage struct {
	mu   sync.Mutex // guards used
	used map[string]TokenUse
}

// NewTokenUsage returns an empty collector.
func NewTokenUsage() *TokenUsage { return &TokenUsage{used: map[string]TokenUse{}} }

// Record notes that token id of tenant was used at at; only the latest
// time per token is kept.
func (u *TokenUsage) Record(tenant, id string, at time.Time) {
	u.mu.Lock()
	if prev, ok := u.used[id]; !ok || at.After(prev.At) {
		u.used[id] = TokenUse{Tenant: tenant, At: at}
	}
	u.mu.Unlock()
}

// Drain returns the uses recorded since the last Drain (nil when none).
func (u *TokenUsage) Drain() map[string]TokenUse {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.used) == 0 {
		return nil
	}
	out := u.used
	u.used = map[string]TokenUse{}
	return out
}

// Run calls flush with the drained uses every interval (default 30 s) and
// once more when ctx ends, then returns. A failed flush puts its uses back
// (newer ones win) for the next round. The caller owns the goroutine that
// runs it.
func (u *TokenUsage) Run(ctx context.Context, every time.Duration, flush func(context.Context, map[string]TokenUse) error) {
	if every <= 0 {
		every = 30 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	do := func(ctx context.Context) {
		batch := u.Drain()
		if batch == nil {
			return
		}
		if err := flush(ctx, batch); err != nil {
			for id, use := range batch {
				u.Record(use.Tenant, id, use.At)
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			do(final)
			cancel()
			return
		case <-t.C:
			do(ctx)
		}
	}
}
