package pbxconn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hookflash/hookflash/internal/testenv"
)

func TestCommandValidate(t *testing.T) {
	ok := func(c Command) Command { c.Tenant, c.PBX = "t", "p"; return c }
	tests := []struct {
		name string
		cmd  Command
		bad  bool
	}{
		{"hangup", ok(Command{Op: OpHangup, Channel: "PJSIP/1001-00000001"}), false},
		{"hangup without channel", ok(Command{Op: OpHangup}), true},
		{"line injection", ok(Command{Op: OpHangup, Channel: "x\r\nAction: Originate"}), true},
		{"dtmf", ok(Command{Op: OpDTMF, Channel: "c", Digits: "0123456789*#ABCD"}), false},
		{"dtmf letters", ok(Command{Op: OpDTMF, Channel: "c", Digits: "1x"}), true},
		{"dtmf too long", ok(Command{Op: OpDTMF, Channel: "c", Digits: strings.Repeat("1", 65)}), true},
		{"originate", ok(Command{Op: OpOriginate, Endpoint: "PJSIP/1001", Exten: "200", Context: "default"}), false},
		{"originate without exten", ok(Command{Op: OpOriginate, Endpoint: "PJSIP/1001", Context: "default"}), true},
		{"variable with =", ok(Command{Op: OpOriginate, Endpoint: "e", Exten: "1", Context: "c", Variables: map[string]string{"A=B": "c"}}), true},
		{"spy", ok(Command{Op: OpSpy, Endpoint: "PJSIP/1005", Channel: "c", Mode: SpyBarge}), false},
		{"spy bad mode", ok(Command{Op: OpSpy, Endpoint: "PJSIP/1005", Channel: "c", Mode: "shout"}), true},
		{"queue pause", ok(Command{Op: OpQueuePause, Queue: "support", Interface: "PJSIP/1001", Reason: "lunch"}), false},
		{"queue without interface", ok(Command{Op: OpQueueAdd, Queue: "support"}), true},
		{"device state", ok(Command{Op: OpDeviceState, Device: "Stasis:x", State: "BUSY"}), false},
		{"device state not stasis", ok(Command{Op: OpDeviceState, Device: "PJSIP/1001", State: "BUSY"}), true},
		{"unknown op", ok(Command{Op: "explode"}), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cmd.validate()
			if tc.bad != (err != nil) {
				t.Fatalf("validate = %v, want error %v", err, tc.bad)
			}
			if err != nil && !errors.Is(err, ErrCommandInvalid) {
				t.Fatalf("error %v does not wrap ErrCommandInvalid", err)
			}
		})
	}
}

// fakeExec counts executions and answers with fn.
type fakeExec struct {
	n  atomic.Int32
	fn func(cmd Command) (Result, error)
}

func (f *fakeExec) Execute(ctx context.Context, cmd Command) (Result, error) {
	f.n.Add(1)
	time.Sleep(20 * time.Millisecond) // long enough for concurrent retries to overlap
	return f.fn(cmd)
}

func hangupCmd(id string) Command {
	return Command{ID: id, Principal: "user:u1", Tenant: "t1", PBX: "p1", Op: OpHangup, Channel: "PJSIP/1001-1"}
}

func TestRouterLocalDedup(t *testing.T) {
	ex := &fakeExec{fn: func(cmd Command) (Result, error) { return Result{Op: cmd.Op, UniqueID: "1.1"}, nil }}
	m, err := NewCommandMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewCommandRouter(CommandRouterConfig{Metrics: m, Local: func(tn, pbx string) Executor {
		if tn == "t1" && pbx == "p1" {
			return ex
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if res, err := r.Do(ctx, hangupCmd("a")); err != nil || res.UniqueID != "1.1" {
				t.Errorf("Do = %+v, %v", res, err)
			}
		})
	}
	wg.Wait()
	if n := ex.n.Load(); n != 1 {
		t.Fatalf("8 concurrent retries executed %d times, want 1", n)
	}
	var d dto.Metric
	if err := m.Commands.WithLabelValues(OpHangup, "ok").Write(&d); err != nil || d.GetCounter().GetValue() != 8 {
		n := d.GetCounter().GetValue()
		t.Fatalf("hookflash_commands_total{op=hangup,outcome=ok} = %v, want 8", n)
	}
	// another principal, or no id, is another request
	c := hangupCmd("a")
	c.Principal = "user:u2"
	_, _ = r.Do(ctx, c)
	_, _ = r.Do(ctx, hangupCmd(""))
	_, _ = r.Do(ctx, hangupCmd(""))
	if n := ex.n.Load(); n != 4 {
		t.Fatalf("executions %d, want 4", n)
	}
	// a PBX without a connector: unavailable, and the id is not burnt
	c = hangupCmd("b")
	c.PBX = "p2"
	if _, err := r.Do(ctx, c); !errors.Is(err, ErrPBXUnavailable) {
		t.Fatalf("no connector: %v", err)
	}
	// a failure that reached the PBX is remembered, one that did not is not
	calls := 0
	ex.fn = func(cmd Command) (Result, error) {
		calls++
		if calls == 1 {
			return Result{}, fmt.Errorf("%w: down", ErrPBXUnavailable)
		}
		return Result{}, fmt.Errorf("%w: Hangup: No such channel", ErrRejectedByPBX)
	}
	for i, want := range []error{ErrPBXUnavailable, ErrRejectedByPBX, ErrRejectedByPBX} {
		if _, err := r.Do(ctx, hangupCmd("c")); !errors.Is(err, want) {
			t.Fatalf("attempt %d: %v, want %v", i, err, want)
		}
	}
	if calls != 2 {
		t.Fatalf("executions %d, want 2 (the unavailable one retried, the rejection remembered)", calls)
	}
}

func TestRouterRedis(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ex := &fakeExec{fn: func(cmd Command) (Result, error) {
		if cmd.Channel == "gone" {
			return Result{}, fmt.Errorf("%w: hangup: No such channel", ErrChannelGone)
		}
		return Result{Op: cmd.Op, UniqueID: "9.9", Message: "Channel Hungup"}, nil
	}}
	owner := func(ctx context.Context, tn, pbx string) (string, error) {
		if pbx == "p1" {
			return "a", nil
		}
		return "", nil
	}
	mk := func(id string, local Executor) *CommandRouter {
		r, err := NewCommandRouter(CommandRouterConfig{ReplicaID: id, Redis: rdb, Prefix: prefix, Owner: owner, Timeout: 2 * time.Second,
			Local: func(tn, pbx string) Executor {
				if local != nil && pbx == "p1" {
					return local
				}
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := mk("a", ex), mk("b", nil)
	ctx := context.Background()

	// b has no connector and a is not serving yet: the request times out.
	start := time.Now()
	if _, err := b.Do(ctx, hangupCmd("")); !errors.Is(err, ErrCommandTimeout) {
		t.Fatalf("owner not serving: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("timeout took %s", d)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); a.Run(rctx) }()
	defer func() { cancel(); <-done }()
	// The stale request above is skipped by a (its deadline passed).
	time.Sleep(100 * time.Millisecond)
	n0 := ex.n.Load()

	res, err := b.Do(ctx, hangupCmd("r1"))
	if err != nil || res.UniqueID != "9.9" || res.Message != "Channel Hungup" {
		t.Fatalf("routed Do = %+v, %v", res, err)
	}
	if _, err := b.Do(ctx, hangupCmd("r1")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Do(ctx, hangupCmd("r1")); err != nil {
		t.Fatal(err)
	}
	if n := ex.n.Load() - n0; n != 1 {
		t.Fatalf("the same request id ran %d times across replicas", n)
	}
	c := hangupCmd("")
	c.Channel = "gone"
	_, err = b.Do(ctx, c)
	if !errors.Is(err, ErrChannelGone) || !strings.Contains(err.Error(), "No such channel") {
		t.Fatalf("error across the hop: %v", err)
	}
	c.PBX = "p2"
	if _, err := b.Do(ctx, c); !errors.Is(err, ErrPBXUnavailable) {
		t.Fatalf("pbx without owner: %v", err)
	}
}

func TestConnectorExecuteNotLive(t *testing.T) {
	c, err := NewConnector(ConnectorConfig{PBX: PBXInfo{ID: "p", ARIURL: "http://127.0.0.1:1/ari", AMIAddr: "127.0.0.1:1"},
		Publish: func(context.Context, Diff) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Execute(context.Background(), Command{Op: OpHangup, Channel: "PJSIP/1-1"})
	if !errors.Is(err, ErrPBXUnavailable) {
		t.Fatalf("Execute on a connector that never connected: %v", err)
	}
	if _, err := c.Execute(context.Background(), Command{Op: OpHangup, PBX: "other", Channel: "x"}); !errors.Is(err, ErrCommandInvalid) {
		t.Fatalf("command for another pbx: %v", err)
	}
}
