// Package api is Hookflash's HTTP and WebSocket surface (DESIGN §8): fiber
// routes, authentication middleware, and the one mapping of errors to HTTP
// statuses and WebSocket close codes.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"time"

	"sync"

	fws "github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookflash/hookflash/authz"
	"github.com/hookflash/hookflash/hub"
	"github.com/hookflash/hookflash/tenant"
)

// Check is one dependency probed by /readyz.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Config configures a Server. Zero fields get the documented defaults.
type Config struct {
	Log      *slog.Logger         // default: discard
	Registry *prometheus.Registry // default: a new registry
	Gatherer prometheus.Gatherer  // what /metrics serves; default Registry
	Checks   []Check              // dependencies for /readyz
	Version  string
	// BodyLimit caps REST request bodies (default 1 MiB).
	BodyLimit int

	// Identity authenticates requests; required for every /api/v1 route.
	Identity *Identity
	// Hub serves the event feed (GET /api/v1/ws).
	Hub *hub.Hub
	// Commands answers call-control requests on the socket; nil answers
	// every command with "unknown request".
	Commands CommandHandler
	// SessionTouchEvery is how often open sockets slide their user
	// session's idle expiry (default 1 min).
	SessionTouchEvery time.Duration
	// OnChange is told about admin changes other parts must react to
	// (connectors re-reading PBXes or users); nil ignores them.
	OnChange func(k ChangeKind, t tenant.ID)
	// Masker returns a tenant's privacy masker (nil: the tenant does not
	// mask); used for REST reads and history of masked scopes.
	Masker func(t tenant.ID) *authz.Masker
	// Broker is read for the live REST views (GET /calls, /groups, /parked).
	Broker hub.Broker
	// HistoryStorage says where GET /history reads from ("postgres" or
	// "memory: lost at exit"), so embedded mode says so.
	HistoryStorage string
	// TrustedProxies are the peers (e.g. the ingress) whose
	// X-Forwarded-For is believed when finding a client's address.
	TrustedProxies []netip.Prefix
}

// CommandHandler runs the requests a client sends on its socket (commands
// of DESIGN §5); the principal's current scope is given.
type CommandHandler interface {
	SocketRequest(ctx context.Context, p *Principal, scope *authz.Scope, req hub.Request) (any, error)
}

// Server holds the fiber app and what handlers need.
type Server struct {
	cfg     Config
	log     *slog.Logger
	app     *fiber.App
	metrics *httpMetrics
	v1      fiber.Router
	id      *Identity
	feeds   feeds

	baseCtx context.Context // cancelled by Close: ends feed sessions and watchers
	cancel  context.CancelFunc
	wg      sync.WaitGroup // background goroutines (identity watcher, token-use flusher)
}

const localRequestID = "request_id"

// New builds the server with health, readiness and metrics routes and the
// middleware every route shares. Feature routes are added with Mount.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = cfg.Registry
	}
	if cfg.BodyLimit == 0 {
		cfg.BodyLimit = 1 << 20
	}
	if cfg.SessionTouchEvery == 0 {
		cfg.SessionTouchEvery = time.Minute
	}
	s := &Server{cfg: cfg, log: cfg.Log, metrics: newHTTPMetrics(cfg.Registry), id: cfg.Identity,
		feeds: feeds{byTenant: map[tenant.ID]map[*feed]struct{}{}}}
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	s.app = fiber.New(fiber.Config{
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		BodyLimit:             cfg.BodyLimit,
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           120 * time.Second,
		AppName:               "hookflash",
	})
	s.app.Use(s.requestContext)
	s.app.Get("/healthz", s.healthz)
	s.app.Get("/readyz", s.readyz)
	s.app.Get("/metrics", s.metricsHandler())
	s.mountConsole()
	s.v1 = s.app.Group("/api/v1")
	s.v1.Get("/openapi.json", s.openapi)
	if s.id != nil {
		s.mountAuth()
		s.mountAdmin()
		s.mountLive()
		if cfg.Hub != nil {
			s.v1.Get("/ws", s.wsPrepare, fws.New(s.wsServe, fws.Config{
				// Small read buffers (client frames are small requests;
				// bigger ones read through) and pooled write buffers, held
				// only while a message is written: an idle socket keeps
				// neither (see docs/benchmarks.md, idle connections).
				ReadBufferSize: 1024, WriteBufferSize: 4096, WriteBufferPool: wsWriteBuffers,
				// The hub checks origins through credentials, not cookies:
				// a browser must present a token, so any origin may connect.
				Origins: []string{"*"},
			}))
		}
		s.wg.Add(2)
		go func() { defer s.wg.Done(); s.watchIdentity(s.baseCtx) }()
		go func() { defer s.wg.Done(); s.flushTokenUse(s.baseCtx) }()
	}
	return s
}

// Close stops the server's background work and ends feed sessions. Call it
// after the fiber app has shut down.
func (s *Server) Close() {
	s.cancel()
	s.wg.Wait()
	if s.id != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.id.FlushTokenUse(ctx)
	}
}

// flushTokenUse writes API tokens' last-used times every 30 s.
func (s *Server) flushTokenUse(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.id.FlushTokenUse(ctx); err != nil {
				s.log.Warn("token last-used flush failed", "err", err)
			}
		}
	}
}

// App returns the fiber app (for Listen, Test and Shutdown).
func (s *Server) App() *fiber.App { return s.app }

// V1 returns the /api/v1 router for feature routes.
func (s *Server) V1() fiber.Router { return s.v1 }

// Log returns the server's logger.
func (s *Server) Log() *slog.Logger { return s.log }

// requestContext gives every request an id (X-Request-Id, kept when the
// client sent a sane one), a user context, panic recovery, an access log line
// and request metrics.
func (s *Server) requestContext(c *fiber.Ctx) (err error) {
	start := time.Now()
	id := c.Get("X-Request-Id")
	if id == "" || len(id) > 64 || !printable(id) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Locals(localRequestID, id)
	c.Set("X-Request-Id", id)
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in handler", "request_id", id, "path", c.Path(), "panic", r)
			err = Errorf(500, "internal", "internal error")
		}
	}()
	err = c.Next()
	if err != nil {
		// Render now so the access log and metrics see the final status.
		if herr := s.errorHandler(c, err); herr != nil {
			return herr
		}
		err = nil
	}
	status := c.Response().StatusCode()
	route := c.Route().Path
	s.metrics.observe(c.Method(), route, status, time.Since(start))
	if route != "/healthz" && route != "/readyz" && route != "/metrics" {
		s.log.Info("http", "request_id", id, "method", c.Method(), "route", route, "status", status, "ms", time.Since(start).Milliseconds())
	}
	return nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// wsWriteBuffers lends feed sockets their write buffers per message.
var wsWriteBuffers = &sync.Pool{}
