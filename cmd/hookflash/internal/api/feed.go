package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"

	fws "github.com/gofiber/contrib/websocket"

	"github.com/hookflash/hookflash/authz"
	"github.com/hookflash/hookflash/hub"
	"github.com/hookflash/hookflash/tenant"
)

// feed is one open WebSocket of the event feed, as the API layer tracks it
// for revocation, rescoping and session keep-alive.
type feed struct {
	// ws is the socket itself, captured at start: the contrib wrapper
	// (*fws.Conn) goes back to a pool when the handler returns, so late
	// closers must never touch it.
	ws         *websocket.Conn
	fullEvents bool

	mu      sync.Mutex // guards the fields below
	p       *Principal // the token request swaps it
	scope   *authz.Scope
	session *hub.Session // set by the hub's OnStart; nil until then

	closeOnce sync.Once
}

func (f *feed) principal() *Principal {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.p
}

func (f *feed) currentScope() *authz.Scope {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.scope
}

// setScope applies a recompiled scope: unchanged scopes are ignored;
// otherwise the hub swaps the filter and resyncs the client under it (a
// fresh initial_info), so lost elements disappear at once and newly visible
// ones appear.
func (f *feed) setScope(sc *authz.Scope) {
	f.mu.Lock()
	if f.scope.Equal(sc) {
		f.mu.Unlock()
		return
	}
	f.scope = sc
	sess := f.session
	f.mu.Unlock()
	if sess != nil {
		sess.SetFilter(sc)
	}
}

// close ends the socket with code: through the hub session once it has
// started (it sends the close frame in order), else directly (WriteControl
// and Close are safe alongside the hub's writer). The hub's reader then
// fails and Serve returns.
func (f *feed) close(code int, reason string) {
	f.closeOnce.Do(func() {
		f.mu.Lock()
		sess := f.session
		f.mu.Unlock()
		if sess != nil {
			sess.CloseWith(code, reason)
			return
		}
		_ = f.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		_ = f.ws.Close()
	})
}

// feeds tracks this replica's open feeds by tenant.
type feeds struct {
	mu       sync.Mutex // guards byTenant
	byTenant map[tenant.ID]map[*feed]struct{}
}

func (fs *feeds) add(f *feed) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	t := f.p.Tenant
	if fs.byTenant[t] == nil {
		fs.byTenant[t] = map[*feed]struct{}{}
	}
	fs.byTenant[t][f] = struct{}{}
}

func (fs *feeds) remove(f *feed) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	t := f.principal().Tenant
	delete(fs.byTenant[t], f)
	if len(fs.byTenant[t]) == 0 {
		delete(fs.byTenant, t)
	}
}

// list returns the feeds of t ("" = all tenants).
func (fs *feeds) list(t tenant.ID) []*feed {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []*feed
	for tid, m := range fs.byTenant {
		if t != "" && tid != t {
			continue
		}
		for f := range m {
			out = append(out, f)
		}
	}
	return out
}

// Count returns the number of open feeds on this replica.
func (s *Server) FeedCount() int { return len(s.feeds.list("")) }

// wsPrepare authenticates and validates the upgrade request before the
// protocol switch, so bad requests get an HTTP status and a JSON error.
func (s *Server) wsPrepare(c *fiber.Ctx) error {
	if !fws.IsWebSocketUpgrade(c) {
		return Errorf(http.StatusUpgradeRequired, "upgrade_required", "this endpoint speaks WebSocket: connect with ws:// or wss://")
	}
	p, err := s.id.Authenticate(c.UserContext(), c.Get(fiber.HeaderAuthorization), c.Query("token"))
	if err != nil {
		return err
	}
	if p.Kind == KindPlatform {
		return Errorf(http.StatusForbidden, "forbidden", "the platform admin has no event feed; use a tenant token")
	}
	opts := hub.SessionOptions{Tenant: hub.Tenant(p.Tenant), Principal: p.Key()}
	fullEvents, err := queryBool(c, "full_events")
	if err != nil {
		return err
	}
	if opts.Force, err = queryBool(c, "force"); err != nil {
		return err
	}
	if opts.Batch, err = queryBool(c, "batch"); err != nil {
		return err
	}
	if e := c.Query("encoding"); e != "" {
		if opts.Encoding, err = hub.ParseEncoding(e); err != nil {
			return Errorf(http.StatusBadRequest, "invalid", "encoding: %v (json or msgpack)", err)
		}
	}
	if sv := c.Query("since"); sv != "" {
		pos, err := hub.ParsePosition(sv)
		if err != nil {
			return Errorf(http.StatusBadRequest, "invalid", "since: %v (want <epoch>:<seq>)", err)
		}
		opts.Since = &pos
	}
	scope, err := s.id.Authz.Scope(p.Authz, fullEvents)
	if err != nil {
		if errors.Is(err, authz.ErrFullEventsForbidden) {
			return Errorf(http.StatusForbidden, "forbidden", "full_events=true is not granted to this principal")
		}
		return err
	}
	if t, err := s.id.Store.GetTenant(c.UserContext(), p.Tenant); err == nil && t.Limits.MaxConnsPerID > 0 {
		opts.MaxConns = t.Limits.MaxConnsPerID
	}
	opts.Filter = scope
	c.Locals("feed.principal", p)
	c.Locals("feed.opts", opts)
	c.Locals("feed.full", fullEvents)
	return c.Next()
}

func queryBool(c *fiber.Ctx, name string) (bool, error) {
	v := c.Query(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, Errorf(http.StatusBadRequest, "invalid", "%s must be true or false", name)
	}
	return b, nil
}

// wsServe runs one feed session on the upgraded connection.
func (s *Server) wsServe(conn *fws.Conn) {
	p := conn.Locals("feed.principal").(*Principal)
	opts := conn.Locals("feed.opts").(hub.SessionOptions)
	f := &feed{ws: conn.Conn, p: p, fullEvents: conn.Locals("feed.full").(bool), scope: opts.Filter.(*authz.Scope)}
	opts.OnRequest = func(ctx context.Context, _ *hub.Session, req hub.Request) (any, error) {
		return s.feedRequest(ctx, f, req)
	}
	opts.OnStart = func(hs *hub.Session) {
		f.mu.Lock()
		f.session = hs
		cur := f.scope
		f.mu.Unlock()
		// A policy change between the upgrade and now compiled a scope
		// the session was not started with: apply it.
		if cur != opts.Filter.(*authz.Scope) {
			hs.SetFilter(cur)
		}
	}
	s.feeds.add(f)
	defer s.feeds.remove(f)
	// A revocation published between the upgrade check and add above
	// reached no feed: check once more now that the bus will reach this one.
	if _, err := s.id.Authenticate(s.baseCtx, "Bearer "+p.Secret, ""); err != nil {
		f.close(hub.CloseUnauthorized, "credentials no longer valid")
		return
	}
	_ = s.cfg.Hub.Serve(s.baseCtx, conn, opts)
}

// feedRequest answers a client request on the socket: the token swap here,
// commands through the Commands handler.
func (s *Server) feedRequest(ctx context.Context, f *feed, req hub.Request) (any, error) {
	if req.Name == "token" {
		var body struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(req.Raw, &body); err != nil || body.Token == "" {
			return nil, errors.New("token: send {\"request\":\"token\",\"token\":\"<renewed token>\"}")
		}
		np, err := s.id.Authenticate(ctx, "Bearer "+body.Token, "")
		if err != nil {
			return nil, errors.New("token: unknown, expired or revoked")
		}
		old := f.principal()
		if np.Kind != old.Kind || np.Tenant != old.Tenant || np.Key() != old.Key() {
			return nil, errors.New("token: belongs to another principal; open a new connection instead")
		}
		f.mu.Lock()
		f.p = np
		f.mu.Unlock()
		return map[string]any{"principal": np.Key()}, nil
	}
	if s.cfg.Commands == nil {
		return nil, errors.New("unknown request " + strconv.Quote(req.Name))
	}
	return s.cfg.Commands.SocketRequest(ctx, f.principal(), f.currentScope(), req)
}

// watchIdentity applies identity and policy changes from every replica to
// this replica's open feeds: revoked tokens, ended sessions and changed users
// close their sockets (4003); a policy change rescopes each feed of the
// tenant at once, closing those left with nothing. It also keeps user
// sessions alive while their socket is open. Runs until ctx ends.
func (s *Server) watchIdentity(ctx context.Context) {
	cancelBus, err := s.id.Bus.Subscribe(func(m authz.Message) {
		switch m.Kind {
		case authz.KindToken:
			for _, f := range s.feeds.list(tenant.ID(m.Tenant)) {
				if p := f.principal(); p.Kind == KindToken && p.TokenID == m.ID {
					f.close(hub.CloseUnauthorized, "token revoked")
				}
			}
		case authz.KindSession:
			for _, f := range s.feeds.list("") {
				if p := f.principal(); p.Kind == KindUser && p.SessionID == m.ID {
					f.close(hub.CloseUnauthorized, "session ended")
				}
			}
		case authz.KindUser:
			for _, f := range s.feeds.list(tenant.ID(m.Tenant)) {
				if p := f.principal(); p.Kind == KindUser && p.Authz.UserID == m.ID {
					f.close(hub.CloseUnauthorized, "user changed: log in again")
				}
			}
		case authz.KindResync:
			go s.recheckFeeds(ctx)
		}
	})
	if err != nil {
		s.log.Error("identity bus subscribe failed", "err", err)
		return
	}
	defer cancelBus()
	cancelPol := s.id.Authz.OnChange(func(t string) { s.rescope(tenant.ID(t)) })
	defer cancelPol()

	tick := time.NewTicker(s.cfg.SessionTouchEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.touchSessions(ctx)
		}
	}
}

// rescope recompiles the scope of every feed of t ("" = all).
func (s *Server) rescope(t tenant.ID) {
	for _, f := range s.feeds.list(t) {
		p := f.principal()
		sc, err := s.id.Authz.Scope(p.Authz, f.fullEvents)
		if err != nil || sc.Empty() {
			f.close(hub.CloseUnauthorized, "access withdrawn by policy")
			continue
		}
		f.setScope(sc)
	}
}

// recheckFeeds re-authenticates every feed after the bus may have missed
// messages.
func (s *Server) recheckFeeds(ctx context.Context) {
	for _, f := range s.feeds.list("") {
		p := f.principal()
		if _, err := s.id.Authenticate(ctx, "Bearer "+p.Secret, ""); err != nil {
			f.close(hub.CloseUnauthorized, "credentials no longer valid")
		}
	}
	s.rescope("")
}

// touchSessions slides the idle expiry of every user session with an open
// socket, and closes feeds whose session ended.
func (s *Server) touchSessions(ctx context.Context) {
	for _, f := range s.feeds.list("") {
		p := f.principal()
		if p.Kind != KindUser {
			continue
		}
		if err := s.id.Sessions.Touch(ctx, p.Secret); errors.Is(err, authz.ErrSessionNotFound) {
			f.close(hub.CloseUnauthorized, "session ended")
		}
	}
}
