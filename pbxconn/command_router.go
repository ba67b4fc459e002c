package pbxconn

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Executor runs commands on one PBX; *Connector is one.
type Executor interface {
	Execute(ctx context.Context, cmd Command) (Result, error)
}

var _ Executor = (*Connector)(nil)

// CommandRouterConfig configures a CommandRouter. Zero values take the
// documented defaults.
type CommandRouterConfig struct {
	// ReplicaID names this replica; it must be the supervisor's ReplicaID,
	// since lease holders are found by it. Required with Redis.
	ReplicaID string
	// Local returns the connector of (tenant, pbx) when it runs on this
	// replica, else nil. Required.
	Local func(tenant, pbx string) Executor
	// Redis, when set, routes commands for PBXes leased by other replicas
	// to them, and de-duplicates request ids cluster-wide. Nil: single
	// node — every PBX is local, de-duplication is in memory.
	Redis redis.UniversalClient
	// Owner returns the ReplicaID of the replica running (tenant, pbx)'s
	// connector, "" when none does (Supervisor.Owner). Required with Redis.
	Owner func(ctx context.Context, tenant, pbx string) (string, error)
	// Prefix of the router's Redis keys; use the coordinator's. Default "hf:".
	Prefix string
	// Timeout bounds one command end to end, including the hop to the
	// owner (HOOKFLASH_COMMAND_TIMEOUT). Default 10s.
	Timeout time.Duration
	// DedupTTL is how long a request id's result is remembered. Default 10m.
	DedupTTL time.Duration
	// MaxInflight bounds commands this replica executes for others at
	// once. Default 64.
	MaxInflight int
	// Log receives command routing failures. Default: discard.
	Log *slog.Logger
	// Metrics, if set, count commands and their latency.
	Metrics *CommandMetrics
}

// CommandRouter runs each command on the replica that holds its PBX's
// lease: directly when that is this replica, otherwise as a request on the
// owner's Redis list answered on a per-request reply list. Commands with
// an ID are de-duplicated: while and after (DedupTTL) one runs, another
// with the same tenant, principal, ID and content waits for and returns the
// first one's result instead of running again — so a retried originate
// never dials twice.
//
// Redis keys (built only by the *Key methods):
//
//	<prefix>cmd:req:<replica>          LIST  requests for a replica (JSON envelopes)
//	<prefix>cmd:reply:<request>        LIST  the one reply of a request
//	<prefix>cmd:dedup:<tenant>:<hash>  STRING pending or done record of a request id
type CommandRouter struct {
	cfg CommandRouterConfig // defaults filled by NewCommandRouter; read-only after
	log *slog.Logger
	mem *memDedup // single node only

	inflight chan struct{} // semaphore of MaxInflight
}

// NewCommandRouter checks cfg and fills its defaults.
func NewCommandRouter(cfg CommandRouterConfig) (*CommandRouter, error) {
	if cfg.Local == nil {
		return nil, errors.New("pbxconn: command router: Local is required")
	}
	if cfg.Redis != nil && (cfg.Owner == nil || cfg.ReplicaID == "") {
		return nil, errors.New("pbxconn: command router: Owner and ReplicaID are required with Redis")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "hf:"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.DedupTTL <= 0 {
		cfg.DedupTTL = 10 * time.Minute
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = 64
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := &CommandRouter{cfg: cfg, log: cfg.Log.With("component", "commands"), inflight: make(chan struct{}, cfg.MaxInflight)}
	if cfg.Redis == nil {
		r.mem = &memDedup{m: map[string]*memEntry{}}
	}
	return r, nil
}

func (r *CommandRouter) reqKey(replica string) string { return r.cfg.Prefix + "cmd:req:" + replica }
func (r *CommandRouter) replyKey(id string) string    { return r.cfg.Prefix + "cmd:reply:" + id }
func (r *CommandRouter) dedupKey(cmd Command) string {
	h := sha256.Sum256([]byte(cmd.Principal + "\x00" + cmd.ID + "\x00" + cmd.Fingerprint()))
	return r.cfg.Prefix + "cmd:dedup:" + cmd.Tenant + ":" + hex.EncodeToString(h[:16])
}

// envelope is a request on an owner's list.
type envelope struct {
	ID       string  `json:"id"`              // reply list suffix
	Dedup    string  `json:"dedup,omitempty"` // dedup key the owner records the outcome under
	Deadline int64   `json:"deadline_ms"`     // unix ms after which the owner skips it
	Cmd      Command `json:"cmd"`
}

// outcome is a command's result or error as stored and sent between
// replicas.
type outcome struct {
	State  string  `json:"state"` // "pending" or "done"
	Result *Result `json:"result,omitempty"`
	Kind   string  `json:"kind,omitempty"` // error kind (errorKinds)
	Error  string  `json:"error,omitempty"`
}

var errorKinds = []struct {
	kind string
	err  error
}{
	{"invalid", ErrCommandInvalid}, {"not_found", ErrChannelGone}, {"pbx_unavailable", ErrPBXUnavailable},
	{"timeout", ErrCommandTimeout}, {"rejected_by_pbx", ErrRejectedByPBX}, {"unsupported", ErrUnsupported},
}

func makeOutcome(res Result, err error) outcome {
	if err == nil {
		return outcome{State: "done", Result: &res}
	}
	o := outcome{State: "done", Kind: "internal", Error: err.Error()}
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			o.Kind = k.kind
			break
		}
	}
	return o
}

// decode turns an outcome back into a result or an error wrapping the
// sentinel of its kind.
func (o outcome) decode() (Result, error) {
	if o.Kind == "" && o.Result != nil {
		return *o.Result, nil
	}
	for _, k := range errorKinds {
		if k.kind == o.Kind {
			// The text already names the sentinel; keep it readable.
			return Result{}, &remoteError{sentinel: k.err, text: o.Error}
		}
	}
	return Result{}, fmt.Errorf("command failed: %s", o.Error)
}

// remoteError is an error that happened on another replica (or earlier,
// for a de-duplicated request); it matches its sentinel with errors.Is.
type remoteError struct {
	sentinel error
	text     string
}

func (e *remoteError) Error() string { return e.text }
func (e *remoteError) Unwrap() error { return e.sentinel }

// retryable reports whether a failure left the PBX untouched, so the
// request id must not remember it.
func retryable(err error) bool { return errors.Is(err, ErrPBXUnavailable) }

// Do runs cmd on the replica that owns its PBX and returns the outcome,
// within Timeout. Errors wrap the command errors of command_errors.go.
func (r *CommandRouter) Do(ctx context.Context, cmd Command) (res Result, err error) {
	start, route := time.Now(), "local"
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	if err := cmd.validate(); err != nil {
		r.cfg.Metrics.observe("unknown", route, start, err)
		return Result{}, err
	}
	defer func() { r.cfg.Metrics.observe(cmd.Op, route, start, err) }()
	dkey := ""
	if cmd.ID != "" {
		dkey = r.dedupKey(cmd)
		owner, prev, err := r.begin(ctx, dkey)
		if err != nil {
			return Result{}, err
		}
		if !owner {
			route = "dedup"
			return prev.decode()
		}
	}
	if r.cfg.Local(cmd.Tenant, cmd.PBX) == nil && r.cfg.Redis != nil {
		route = "remote"
	}
	res, err = r.route(ctx, cmd, dkey)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, redis.Nil) {
		err = fmt.Errorf("%w: no answer from the pbx within %s", ErrCommandTimeout, r.cfg.Timeout)
	}
	return res, err
}

// route executes locally or sends the command to its owner.
func (r *CommandRouter) route(ctx context.Context, cmd Command, dkey string) (Result, error) {
	if ex := r.cfg.Local(cmd.Tenant, cmd.PBX); ex != nil {
		return r.execute(ctx, ex, cmd, dkey)
	}
	if r.cfg.Redis == nil {
		r.forget(ctx, dkey)
		return Result{}, fmt.Errorf("%w: pbx %s has no running connector", ErrPBXUnavailable, cmd.PBX)
	}
	holder, err := r.cfg.Owner(ctx, cmd.Tenant, cmd.PBX)
	if err != nil {
		r.forget(ctx, dkey)
		return Result{}, fmt.Errorf("%w: find the owner of pbx %s: %v", ErrPBXUnavailable, cmd.PBX, err)
	}
	if holder == "" || holder == r.cfg.ReplicaID {
		// No owner, or we own it but its connector is (re)starting.
		r.forget(ctx, dkey)
		return Result{}, fmt.Errorf("%w: pbx %s has no running connector", ErrPBXUnavailable, cmd.PBX)
	}
	deadline, _ := ctx.Deadline()
	env := envelope{ID: randomID(), Dedup: dkey, Deadline: deadline.UnixMilli(), Cmd: cmd}
	b, err := json.Marshal(env)
	if err != nil {
		return Result{}, fmt.Errorf("encode command: %w", err)
	}
	rdb := r.cfg.Redis
	pipe := rdb.TxPipeline()
	pipe.RPush(ctx, r.reqKey(holder), b)
	pipe.PExpire(ctx, r.reqKey(holder), 2*r.cfg.Timeout)
	if _, err := pipe.Exec(ctx); err != nil {
		r.forget(ctx, dkey)
		return Result{}, fmt.Errorf("%w: send command to %s: %v", ErrPBXUnavailable, holder, err)
	}
	wait := time.Until(deadline)
	if wait < time.Millisecond {
		return Result{}, context.DeadlineExceeded
	}
	v, err := rdb.BLPop(ctx, wait, r.replyKey(env.ID)).Result()
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, context.DeadlineExceeded
		}
		return Result{}, err
	}
	var o outcome
	if len(v) != 2 || json.Unmarshal([]byte(v[1]), &o) != nil {
		return Result{}, fmt.Errorf("%w: unreadable reply from %s", ErrPBXUnavailable, holder)
	}
	return o.decode()
}

// execute runs cmd on a local connector and records its outcome under dkey.
func (r *CommandRouter) execute(ctx context.Context, ex Executor, cmd Command, dkey string) (Result, error) {
	res, err := ex.Execute(ctx, cmd)
	if dkey != "" {
		// Record even when the caller has gone: a retry must see it.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		if retryable(err) {
			r.forget(rctx, dkey)
		} else {
			r.finish(rctx, dkey, makeOutcome(res, err))
		}
		cancel()
	}
	return res, err
}

// Run serves the commands other replicas send to this one until ctx is
// cancelled, then waits for those executing. In single-node mode it just
// waits for ctx. Call it once.
func (r *CommandRouter) Run(ctx context.Context) {
	if r.cfg.Redis == nil {
		<-ctx.Done()
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	failing := false
	for ctx.Err() == nil {
		v, err := r.cfg.Redis.BLPop(ctx, time.Second, r.reqKey(r.cfg.ReplicaID)).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				r.log.Warn("command queue read failing", "err", err)
			}
			failing = true
			t := time.NewTimer(500 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		failing = false
		var env envelope
		if len(v) != 2 || json.Unmarshal([]byte(v[1]), &env) != nil || env.ID == "" {
			r.log.Warn("dropped an unreadable command request")
			continue
		}
		select {
		case r.inflight <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-r.inflight }()
			r.serve(ctx, env)
		})
	}
}

// serve executes one request of another replica and replies.
func (r *CommandRouter) serve(ctx context.Context, env envelope) {
	deadline := time.UnixMilli(env.Deadline)
	if time.Now().After(deadline) {
		// The requester gave up before we saw it: nothing ran, so a
		// retry may run it.
		r.forget(ctx, env.Dedup)
		return
	}
	cctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	var res Result
	var err error
	if ex := r.cfg.Local(env.Cmd.Tenant, env.Cmd.PBX); ex != nil {
		if r.cfg.Metrics != nil {
			r.cfg.Metrics.Served.Inc()
		}
		res, err = r.execute(cctx, ex, env.Cmd, env.Dedup)
	} else {
		r.forget(cctx, env.Dedup)
		err = fmt.Errorf("%w: pbx %s moved away from replica %s", ErrPBXUnavailable, env.Cmd.PBX, r.cfg.ReplicaID)
	}
	b, _ := json.Marshal(makeOutcome(res, err))
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer rcancel()
	pipe := r.cfg.Redis.TxPipeline()
	pipe.RPush(rctx, r.replyKey(env.ID), b)
	pipe.PExpire(rctx, r.replyKey(env.ID), 30*time.Second)
	if _, err := pipe.Exec(rctx); err != nil {
		r.log.Warn("command reply failed", "op", env.Cmd.Op, "err", err)
	}
}

// begin claims dkey for this attempt. owner is true when the caller must
// run the command; otherwise prev is the outcome of the earlier attempt
// with the same id (waiting for it while it is pending).
func (r *CommandRouter) begin(ctx context.Context, dkey string) (owner bool, prev outcome, err error) {
	if r.mem != nil {
		return r.mem.begin(ctx, dkey, r.cfg.DedupTTL)
	}
	pending, _ := json.Marshal(outcome{State: "pending"})
	for {
		ok, err := r.cfg.Redis.SetNX(ctx, dkey, pending, 2*r.cfg.Timeout+5*time.Second).Result()
		if err != nil {
			return false, outcome{}, fmt.Errorf("%w: de-duplication store: %v", ErrPBXUnavailable, err)
		}
		if ok {
			return true, outcome{}, nil
		}
		s, err := r.cfg.Redis.Get(ctx, dkey).Result()
		if errors.Is(err, redis.Nil) {
			continue // just expired or forgotten: try to claim it again
		}
		if err != nil {
			return false, outcome{}, fmt.Errorf("%w: de-duplication store: %v", ErrPBXUnavailable, err)
		}
		var o outcome
		if json.Unmarshal([]byte(s), &o) == nil && o.State == "done" {
			return false, o, nil
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, outcome{}, fmt.Errorf("%w: an earlier request with this id is still running", ErrCommandTimeout)
		case <-t.C:
		}
	}
}

func (r *CommandRouter) finish(ctx context.Context, dkey string, o outcome) {
	if r.mem != nil {
		r.mem.finish(dkey, o, r.cfg.DedupTTL)
		return
	}
	b, _ := json.Marshal(o)
	if err := r.cfg.Redis.Set(ctx, dkey, b, r.cfg.DedupTTL).Err(); err != nil {
		r.log.Warn("record command outcome failed; a retry may run it again", "err", err)
	}
}

// forget releases dkey after an attempt that did not reach the PBX.
func (r *CommandRouter) forget(ctx context.Context, dkey string) {
	if dkey == "" {
		return
	}
	if r.mem != nil {
		r.mem.forget(dkey)
		return
	}
	if err := r.cfg.Redis.Del(context.WithoutCancel(ctx), dkey).Err(); err != nil {
		r.log.Warn("release command id failed", "err", err)
	}
}

// memDedup is the single-node de-duplication table.
type memDedup struct {
	mu sync.Mutex // guards m
	m  map[string]*memEntry
}

type memEntry struct {
	done    chan struct{} // closed when o is set or the entry is forgotten
	o       outcome
	expires time.Time // zero while pending
}

func (d *memDedup) begin(ctx context.Context, key string, ttl time.Duration) (bool, outcome, error) {
	for {
		d.mu.Lock()
		now := time.Now()
		for k, e := range d.m {
			if !e.expires.IsZero() && now.After(e.expires) {
				delete(d.m, k)
			}
		}
		e := d.m[key]
		if e == nil {
			d.m[key] = &memEntry{done: make(chan struct{})}
			d.mu.Unlock()
			return true, outcome{}, nil
		}
		d.mu.Unlock()
		select {
		case <-e.done:
			d.mu.Lock()
			o, still := e.o, d.m[key] == e
			d.mu.Unlock()
			if still && o.State == "done" {
				return false, o, nil
			}
			// forgotten: claim again
		case <-ctx.Done():
			return false, outcome{}, fmt.Errorf("%w: an earlier request with this id is still running", ErrCommandTimeout)
		}
	}
}

func (d *memDedup) finish(key string, o outcome, ttl time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.m[key]; e != nil && e.expires.IsZero() {
		e.o, e.expires = o, time.Now().Add(ttl)
		close(e.done)
	}
}

func (d *memDedup) forget(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.m[key]; e != nil && e.expires.IsZero() {
		delete(d.m, key)
		close(e.done)
	}
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
