package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// pbxWatch follows the `pbx` elements of tenants through their admins'
// feeds: what a tenant admin sees of each connector (status connecting,
// syncing, live, down). `serve` exports connector counts in /metrics but
// not per-PBX states, so liveness is read where a client reads it.
type pbxWatch struct {
	set clientSet
	st  runStats

	mu    sync.Mutex // guards pbxes
	pbxes map[string]pbxSeen
}

// pbxSeen is the last state of one PBX element.
type pbxSeen struct {
	Status string
	Since  int64     // µs, when the connector entered Status
	LiveAt time.Time // when this watcher last saw it become live
}

var elemPBX = []byte(`"element":"pbx"`)

// watchPBXes starts one admin feed per tenant of cl, on the first replica
// that answers (reconnects rotate over all of them).
func watchPBXes(ctx context.Context, cl *cluster) *pbxWatch {
	w := &pbxWatch{pbxes: map[string]pbxSeen{}}
	bases := make([]string, len(cl.reps))
	for i, r := range cl.reps {
		bases[i] = r.base
	}
	for i, tf := range cl.tenants {
		c := &feedClient{kind: kindAdmin, token: tf.adminToken, st: &w.st, onPBX: w.handle,
			bases: append(append([]string{}, bases[i%len(bases):]...), bases[:i%len(bases)]...)}
		w.set.clients = append(w.set.clients, c)
	}
	w.set.start(ctx)
	return w
}

// handle reads a pbx initial_info or info_event.
func (w *pbxWatch) handle(m []byte, now time.Time) {
	var msg struct {
		Type  string          `json:"type"`
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	}
	if json.Unmarshal(m, &msg) != nil {
		return
	}
	type elem struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Since  int64  `json:"since"`
	}
	var es []elem
	switch msg.Type {
	case "initial_info":
		_ = json.Unmarshal(msg.Data, &es)
	case "info_event":
		var e elem
		if json.Unmarshal(msg.Data, &e) == nil {
			es = append(es, e)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range es {
		if e.ID == "" {
			continue
		}
		if msg.Event == "removed" {
			delete(w.pbxes, e.ID)
			continue
		}
		old := w.pbxes[e.ID]
		s := pbxSeen{Status: e.Status, Since: e.Since, LiveAt: old.LiveAt}
		if e.Status == "live" && (old.Status != "live" || old.Since != e.Since) {
			s.LiveAt = now
		}
		w.pbxes[e.ID] = s
	}
}

// live counts PBXes whose element says live.
func (w *pbxWatch) live() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, p := range w.pbxes {
		if p.Status == "live" {
			n++
		}
	}
	return n
}

// get returns the state of one PBX.
func (w *pbxWatch) get(id string) pbxSeen {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pbxes[id]
}

// waitLive waits until want PBXes are live.
func (w *pbxWatch) waitLive(ctx context.Context, want int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		got := w.live()
		if got >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d PBX connectors live after %s", got, want, within)
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

func (w *pbxWatch) close() { w.set.stop() }

// isPBXMessage tells handle-worthy messages from the rest cheaply.
func isPBXMessage(m []byte) bool {
	i := bytes.IndexByte(m, ',')
	return i > 0 && bytes.HasPrefix(m[i+1:], elemPBX)
}
