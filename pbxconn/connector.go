package pbxconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// PBXInfo is how to reach one PBX.
type PBXInfo struct {
	ID     string // required; must not contain KeySep
	Name   string // shown in the pbx element; default ID
	Tenant string // for logs

	ARIURL      string // e.g. "http://pbx:8088/ari" (required)
	ARIUser     string
	ARIPassword string
	ARIApp      string // Stasis application of the events socket (default "hookflash")

	AMIAddr   string // host:port (required)
	AMIUser   string
	AMISecret string
	AMIMD5    bool // log in with an MD5 challenge instead of the plain secret

	TLS *tls.Config // if set, ARI (https/wss) and AMI use TLS with it
}

// Backoff is the reconnect delay policy: attempt n (from 0) waits a random
// duration in [0, min(Cap, Base·2ⁿ)) ("full jitter").
type Backoff struct {
	Base time.Duration // default 500ms
	Cap  time.Duration // default 30s
}

// delay returns the wait before reconnect attempt n.
func (b Backoff) delay(n int) time.Duration {
	d := b.Cap
	if n < 30 {
		if e := b.Base << n; e > 0 && e < b.Cap {
			d = e
		}
	}
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// ConnectorConfig configures a Connector.
type ConnectorConfig struct {
	PBX PBXInfo
	// Directory maps the tenant's terminals to users (may be nil).
	Directory Directory
	// Publish delivers one diff to the hub. It is called from Run's
	// goroutine, in order, one at a time. An error wrapping ErrFenced stops
	// Run; any other error ends the session (the diffs not delivered are
	// re-sent by the resync after reconnecting). Required.
	Publish func(ctx context.Context, d Diff) error
	// PublishBatch, if set, is used instead of Publish whenever several
	// diffs are ready at once (a burst of PBX events): it delivers ds in
	// order, in as few round trips as it can, and returns how many leading
	// diffs were delivered, with the error that stopped the next one
	// (same rules as Publish).
	PublishBatch func(ctx context.Context, ds []Diff) (int, error)
	// Fence is the fencing epoch stamped on every diff.
	Fence uint64
	// LoadState, if set, returns what clients were last told about this PBX
	// (e.g. by a previous owner), as diffs whose Data come from
	// DecodeElement; the first resync then diffs against it. Errors are
	// logged and the connector starts from an empty model.
	LoadState func(ctx context.Context) ([]Diff, error)
	// OnCallCompleted, if set, is called once per completed call, from
	// Run's goroutine.
	OnCallCompleted func(Call)
	// Backoff between reconnects. Zero fields take Backoff's defaults.
	Backoff Backoff
	// SyncTimeout bounds connecting and reading one snapshot. Default 15s.
	SyncTimeout time.Duration
	// AMIFilters are AMI event filters added after login (see ami.Config),
	// e.g. "!Event: VarSet" to spare the PBX's bandwidth.
	AMIFilters []string
	// Metrics, if set, are updated (shared by all connectors of a replica).
	Metrics *ConnectorMetrics
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
	// Log receives connection lifecycle logs. Default: discard.
	Log *slog.Logger
}

// Connector keeps one PBX's ARI and AMI sessions, normalizes their events
// and publishes the element diffs. Run it once; it reconnects by itself.
type Connector struct {
	cfg ConnectorConfig // defaults filled by NewConnector; read-only after
	log *slog.Logger
	mx  connMetrics
	n   *Normalizer // owned by Run's goroutine

	dirChanged chan struct{} // cap 1: DirectoryChanged asks the session to re-read the directory
	running    atomic.Bool   // Run has been called

	mu     sync.Mutex // guards status
	status PBX

	live liveSession // the live session's clients, for Exec (connector_exec.go)
}

// NewConnector checks cfg, fills its defaults and returns a Connector.
func NewConnector(cfg ConnectorConfig) (*Connector, error) {
	p := &cfg.PBX
	switch {
	case p.ID == "" || strings.Contains(p.ID, KeySep):
		return nil, fmt.Errorf("%w: pbx id %q", ErrConnectorConfig, p.ID)
	case p.ARIURL == "":
		return nil, fmt.Errorf("%w: ARI url required", ErrConnectorConfig)
	case p.AMIAddr == "":
		return nil, fmt.Errorf("%w: AMI address required", ErrConnectorConfig)
	case cfg.Publish == nil:
		return nil, fmt.Errorf("%w: Publish required", ErrConnectorConfig)
	}
	if p.Name == "" {
		p.Name = p.ID
	}
	if p.ARIApp == "" {
		p.ARIApp = "hookflash"
	}
	if cfg.Backoff.Base <= 0 {
		cfg.Backoff.Base = 500 * time.Millisecond
	}
	if cfg.Backoff.Cap <= 0 {
		cfg.Backoff.Cap = 30 * time.Second
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = 15 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Connector{cfg: cfg, log: cfg.Log.With("tenant", p.Tenant, "pbx", p.ID), mx: connMetrics{cfg.Metrics}}
	onCall := func(call Call) {
		c.mx.callEnded()
		if cfg.OnCallCompleted != nil {
			cfg.OnCallCompleted(call)
		}
	}
	c.n = NewNormalizer(NormalizerConfig{
		PBXID:           p.ID,
		Directory:       cfg.Directory,
		OnCallCompleted: onCall,
		Now:             cfg.Now,
		Log:             c.log,
	})
	c.status = PBX{ID: p.ID, Name: p.Name, Status: PBXDown, Since: micros(cfg.Now())}
	c.dirChanged = make(chan struct{}, 1)
	return c, nil
}

// DirectoryChanged tells the connector that the tenant's users or terminal
// assignments changed; the live session re-reads the Directory and
// publishes the resulting diffs (a session that is not live picks the
// change up at its resync). It never blocks. Safe for concurrent use.
func (c *Connector) DirectoryChanged() {
	select {
	case c.dirChanged <- struct{}{}:
	default:
	}
}

// Retire publishes the removal of every element the connector published,
// then of its pbx element: what clients must see when the PBX is deleted or
// disabled. Call it only after Run has returned (they share the
// normalizer). Errors are the Publish func's (ErrFenced when another
// replica owns the PBX meanwhile).
func (c *Connector) Retire(ctx context.Context) error {
	if err := c.publish(ctx, c.n.RemoveAll(nil)); err != nil {
		return err
	}
	st := c.Status()
	d := Diff{Element: ElemPBX, Op: OpRemoved, Key: c.cfg.PBX.ID, Data: &st, TS: c.cfg.Now(), Fence: c.cfg.Fence}
	if err := c.cfg.Publish(ctx, d); err != nil {
		return fmt.Errorf("publish pbx removal: %w", err)
	}
	return nil
}

// Status returns the connector's current pbx element. Safe for concurrent use.
func (c *Connector) Status() PBX {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Run connects, resyncs and streams diffs until ctx is cancelled (it then
// returns nil) or a publish is fenced out (it returns that error). Every
// other failure — refused connection, lost socket, slow consumer, PBX
// restart — is reported as the pbx element's status "down" with its
// last_error and retried after a backoff; each new session resyncs from
// fresh snapshots. Run must not be called twice.
func (c *Connector) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: Run called twice", ErrConnectorConfig)
	}
	c.mx.status("", c.Status().Status)
	defer func() { c.mx.status(c.Status().Status, "") }()
	if c.cfg.LoadState != nil {
		if st, err := c.cfg.LoadState(ctx); err != nil {
			c.log.Warn("load previous state", "err", err)
		} else {
			c.n.Seed(st)
		}
	}
	attempt := 0
	for {
		if err := c.setStatus(ctx, PBXConnecting, ""); err != nil {
			return c.exit(ctx, err)
		}
		wentLive, err := c.session(ctx)
		c.mx.sessionEnded(endReason(ctx, err, wentLive))
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrFenced) {
			return err
		}
		c.log.Info("pbx session ended", "err", err)
		if perr := c.setStatus(ctx, PBXDown, errorText(err)); perr != nil && errors.Is(perr, ErrFenced) {
			return perr
		}
		if wentLive {
			attempt = 0
		}
		t := time.NewTimer(c.cfg.Backoff.delay(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		attempt++
	}
}

// errPublish marks a session that ended because a publish failed.
var errPublish = errors.New("publish failed")

// endReason classifies why a session ended, for the sessions metric.
func endReason(ctx context.Context, err error, wentLive bool) string {
	switch {
	case ctx.Err() != nil:
		return "cancelled"
	case errors.Is(err, ErrFenced):
		return "fenced"
	case errors.Is(err, errPublish):
		return "publish"
	case !wentLive:
		return "setup"
	}
	return "stream"
}

func (c *Connector) exit(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// errorText is an error message safe to show tenant admins (the clients
// never put credentials in their errors).
func errorText(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// setStatus publishes the pbx element when its status changes. A failed
// publish other than ErrFenced is logged and otherwise ignored: the next
// status change carries the truth again.
func (c *Connector) setStatus(ctx context.Context, status, lastErr string) error {
	c.mu.Lock()
	if c.status.Status == status && c.status.LastError == lastErr {
		c.mu.Unlock()
		return nil
	}
	old := c.status.Status
	c.status.Status, c.status.LastError, c.status.Since = status, lastErr, micros(c.cfg.Now())
	v := c.status
	c.mu.Unlock()
	c.mx.status(old, status)
	d := Diff{Element: ElemPBX, Op: OpUpdated, Key: c.cfg.PBX.ID, Data: &v, TS: c.cfg.Now(), Fence: c.cfg.Fence}
	if err := c.cfg.Publish(ctx, d); err != nil {
		if errors.Is(err, ErrFenced) {
			return err
		}
		c.log.Warn("publish pbx status", "status", status, "err", err)
	}
	return nil
}

// publish delivers diffs in order. On failure the undelivered diffs are
// forgotten by the normalizer (re-sent by the next resync).
func (c *Connector) publish(ctx context.Context, ds []Diff) error {
	for i := range ds {
		ds[i].Fence = c.cfg.Fence
	}
	n, err := len(ds), error(nil)
	if c.cfg.PublishBatch != nil && len(ds) > 1 {
		n, err = c.cfg.PublishBatch(ctx, ds)
	} else {
		for i := range ds {
			if err = c.cfg.Publish(ctx, ds[i]); err != nil {
				n = i
				break
			}
		}
	}
	if err != nil {
		for _, d := range ds[n:] {
			c.n.Forget(d)
		}
		if errors.Is(err, ErrFenced) {
			return err
		}
		if n < len(ds) {
			return fmt.Errorf("%w: %s %s: %w", errPublish, ds[n].Element, ds[n].Key, err)
		}
		return fmt.Errorf("%w: %w", errPublish, err)
	}
	c.mx.diffs(len(ds))
	return nil
}
