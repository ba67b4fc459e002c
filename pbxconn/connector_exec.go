package pbxconn

import (
	"context"
	"fmt"
	"sync"

	"github.com/hookflash/hookflash/pbxconn/ami"
	"github.com/hookflash/hookflash/pbxconn/ari"
)

// Session is what a command sees of a connector's live PBX session: the
// ARI and AMI clients the connector reads its events from. Both clients are
// safe for concurrent use; a command must not close them or read AMI
// events (the connector owns the event stream).
type Session struct {
	ARI *ari.Client
	AMI *ami.Client
}

// liveSession holds the clients of the current session while it is live.
type liveSession struct {
	mu sync.Mutex // guards s
	s  *Session   // nil unless the connector's session is live
}

// setLive publishes (or, with nil clients, withdraws) the live session's
// clients for Exec. Called by the session goroutine.
func (c *Connector) setLive(ariCli *ari.Client, amiCli *ami.Client) {
	c.live.mu.Lock()
	defer c.live.mu.Unlock()
	if ariCli == nil || amiCli == nil {
		c.live.s = nil
		return
	}
	c.live.s = &Session{ARI: ariCli, AMI: amiCli}
}

// Exec runs f with the live session's clients. It fails at once with
// ErrPBXUnavailable when the connector has no live session (connecting,
// resyncing after a reconnect, down, or stopped). f runs on the caller's
// goroutine; ctx bounds it. If the session ends while f runs, the clients
// fail f's calls with their closed errors. Safe for concurrent use.
func (c *Connector) Exec(ctx context.Context, f func(ctx context.Context, s Session) error) error {
	c.live.mu.Lock()
	s := c.live.s
	c.live.mu.Unlock()
	if s == nil {
		st := c.Status()
		return fmt.Errorf("%w: pbx %s is %s", ErrPBXUnavailable, c.cfg.PBX.ID, st.Status)
	}
	select {
	case <-s.AMI.Done():
		return fmt.Errorf("%w: pbx %s: ami session ended", ErrPBXUnavailable, c.cfg.PBX.ID)
	default:
	}
	return f(ctx, *s)
}
