package authz

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
)

// Watcher is a casbin watcher over a Bus: policy changes announced through
// one Watcher reach the update callback of every other Watcher on the bus
// (on every replica); a Watcher ignores its own announcements. Policy
// messages published on the bus by others (Authorizer) reach every
// Watcher. The callback receives the changed domain, or "" when every
// domain must be reloaded (Update, SavePolicy, or a bus resync). Safe for
// concurrent use.
type Watcher struct {
	bus     Bus
	id      string // Origin of this watcher's messages
	timeout time.Duration
	unsub   func()

	mu sync.Mutex // guards cb
	cb func(domain string)
}

var (
	_ persist.Watcher   = (*Watcher)(nil)
	_ persist.WatcherEx = (*Watcher)(nil)
)

// NewWatcher subscribes to bus. Publishing uses a 5 s timeout, since
// casbin's watcher methods take no context.
func NewWatcher(bus Bus) (*Watcher, error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("authz: watcher id: %w", err)
	}
	w := &Watcher{bus: bus, id: hex.EncodeToString(rnd[:]), timeout: 5 * time.Second}
	unsub, err := bus.Subscribe(w.onMessage)
	if err != nil {
		return nil, err
	}
	w.unsub = unsub
	return w, nil
}

func (w *Watcher) onMessage(m Message) {
	if m.Origin == w.id {
		return
	}
	var dom string
	switch m.Kind {
	case KindPolicy:
		dom = m.Tenant
	case KindResync:
		dom = ""
	default:
		return
	}
	w.mu.Lock()
	cb := w.cb
	w.mu.Unlock()
	if cb != nil {
		cb(dom)
	}
}

// SetUpdateCallback sets the function called with the changed domain.
func (w *Watcher) SetUpdateCallback(f func(string)) error {
	w.mu.Lock()
	w.cb = f
	w.mu.Unlock()
	return nil
}

// Update tells every replica to reload every domain.
func (w *Watcher) Update() error { return w.UpdateDomain("") }

// UpdateDomain tells every replica to reload one domain.
func (w *Watcher) UpdateDomain(domain string) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	defer cancel()
	return w.bus.Publish(ctx, Message{Kind: KindPolicy, Tenant: domain, Origin: w.id})
}

// ruleDomain returns the domain of a casbin rule of ptype (v1 of p rules,
// v2 of g rules), or "" when it cannot tell.
func ruleDomain(ptype string, rule []string) string {
	r, err := toRow(ptype, rule)
	if err != nil {
		return ""
	}
	return r.domain()
}

// UpdateForAddPolicy announces the domain of the added rule.
func (w *Watcher) UpdateForAddPolicy(_, ptype string, params ...string) error {
	return w.UpdateDomain(ruleDomain(ptype, params))
}

// UpdateForRemovePolicy announces the domain of the removed rule.
func (w *Watcher) UpdateForRemovePolicy(_, ptype string, params ...string) error {
	return w.UpdateDomain(ruleDomain(ptype, params))
}

// UpdateForRemoveFilteredPolicy announces the filtered domain when the
// filter pins it, else every domain.
func (w *Watcher) UpdateForRemoveFilteredPolicy(_, ptype string, fieldIndex int, fieldValues ...string) error {
	domIdx := 1
	if len(ptype) > 0 && ptype[0] == 'g' {
		domIdx = 2
	}
	if i := domIdx - fieldIndex; i >= 0 && i < len(fieldValues) {
		return w.UpdateDomain(fieldValues[i])
	}
	return w.Update()
}

// UpdateForSavePolicy announces every domain.
func (w *Watcher) UpdateForSavePolicy(model.Model) error { return w.Update() }

// UpdateForAddPolicies announces the domain of the rules when they share
// one, else every domain.
func (w *Watcher) UpdateForAddPolicies(_ string, ptype string, rules ...[]string) error {
	return w.UpdateDomain(rulesDomain(ptype, rules))
}

// UpdateForRemovePolicies is UpdateForAddPolicies for removals.
func (w *Watcher) UpdateForRemovePolicies(_ string, ptype string, rules ...[]string) error {
	return w.UpdateDomain(rulesDomain(ptype, rules))
}

func rulesDomain(ptype string, rules [][]string) string {
	dom := ""
	for i, r := range rules {
		d := ruleDomain(ptype, r)
		if i > 0 && d != dom {
			return ""
		}
		dom = d
	}
	return dom
}

// Close unsubscribes; the callback is not called afterwards. The bus stays
// open (its owner closes it).
func (w *Watcher) Close() {
	w.unsub()
	w.mu.Lock()
	w.cb = nil
	w.mu.Unlock()
}
