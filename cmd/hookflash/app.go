package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookflash/hookflash/authz"
	"github.com/hookflash/hookflash/cmd/hookflash/internal/api"
	"github.com/hookflash/hookflash/cmd/hookflash/internal/config"
	"github.com/hookflash/hookflash/hub"
	"github.com/hookflash/hookflash/migrations"
	"github.com/hookflash/hookflash/pbxconn"
	"github.com/hookflash/hookflash/tenant"
	"github.com/hookflash/hookflash/tenant/pgstore"
)

// app is one running replica: every part, built in order by buildApp and
// closed in reverse by close.
type app struct {
	cfg      *config.Config
	log      *slog.Logger
	registry *prometheus.Registry

	redis    redis.UniversalClient // nil in single-node mode
	store    tenant.Store
	pgPool   *pgxpool.Pool // the store's pool when Postgres is used
	broker   hub.Broker
	hub      *hub.Hub
	authz    *authz.Authorizer
	bus      authz.Bus
	sessions authz.SessionStore
	identity *api.Identity
	api      *api.Server
	maskers  maskerCache

	supervisor  *pbxconn.Supervisor
	commands    *callControl // call control (commands.go)
	directories *directories
	liveConns   liveConnectors
	history     *historyWriter
	background  sync.WaitGroup     // supervisor and history writer
	stopBG      context.CancelFunc // stops them (first shutdown hook)

	closers       []func()                    // run in reverse order by close
	shutdownHooks []func(ctx context.Context) // run first on SIGTERM, in order
}

// startupTimeout bounds how long start-up waits for Postgres and Redis, so
// bad configuration ends the process within 10 s with one clear line.
const startupTimeout = 8 * time.Second

func buildApp(ctx context.Context, cfg *config.Config, log *slog.Logger) (a *app, err error) {
	a = &app{cfg: cfg, log: log, registry: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if err := a.buildStore(ctx); err != nil {
		return a, err
	}
	if err := a.buildBroker(ctx); err != nil {
		return a, err
	}
	if err := a.buildIdentity(ctx); err != nil {
		return a, err
	}
	if err := a.buildHub(); err != nil {
		return a, err
	}
	a.history = newHistoryWriter(a.store, log, a.registry)
	if err := a.buildConnectors(); err != nil {
		return a, err
	}
	if err := a.buildCommands(); err != nil {
		return a, err
	}
	a.logMode()
	checks := []api.Check{{Name: "store", Ping: a.store.Ping}, {Name: "broker", Ping: a.broker.Ping}}
	a.api = api.New(api.Config{
		Log: log, Registry: a.registry, Checks: checks, Version: version,
		Identity: a.identity, Hub: a.hub, Commands: a.commands.calls,
		Masker:         func(t tenant.ID) *authz.Masker { return a.maskers.get(a.store, t) },
		OnChange:       a.onAdminChange,
		Broker:         a.broker,
		TrustedProxies: cfg.TrustedProxies,
		HistoryStorage: func() string {
			if cfg.DatabaseURL == "" {
				return "memory (embedded mode: history is kept in this process only and lost at exit)"
			}
			return "postgres"
		}(),
	})
	a.closers = append(a.closers, a.api.Close)
	a.commands.calls.Mount(a.api)
	a.startBackground()
	// On SIGTERM: hand PBX leases over first (the supervisor releases
	// them as it stops), then tell sockets to reconnect elsewhere.
	a.shutdownHooks = append(a.shutdownHooks, func(ctx context.Context) { a.stopBackground() }, func(ctx context.Context) { _ = a.hub.Shutdown(ctx) })
	a.closers = append(a.closers, a.stopBackground)
	return a, nil
}

// onAdminChange routes admin changes to the parts that must react.
func (a *app) onAdminChange(k api.ChangeKind, t tenant.ID) {
	switch k {
	case api.ChangeTenant:
		a.maskers.forget(t)
		a.refreshConnectors()
	case api.ChangePBXes:
		a.refreshConnectors()
	case api.ChangeUsers:
		a.refreshDirectory(t)
	}
}

// buildIdentity makes the policy engine, the invalidation bus, the session
// store and the password hasher: Redis/Postgres backed in a cluster, in
// memory on a single node.
func (a *app) buildIdentity(ctx context.Context) error {
	var adapter authz.Adapter = authz.NewMemoryAdapter()
	if a.pgPool != nil {
		pa, err := authz.NewPGAdapter(authz.PGAdapterConfig{Pool: a.pgPool})
		if err != nil {
			return err
		}
		adapter = pa
	}
	scfg := authz.SessionConfig{IdleTimeout: a.cfg.SessionIdle}
	if a.redis != nil {
		bus, err := authz.NewRedisBus(ctx, authz.RedisBusConfig{Client: a.redis, Log: a.log})
		if err != nil {
			return dependencyError("Redis", "HOOKFLASH_REDIS_URL", err)
		}
		a.bus = bus
		ss, err := authz.NewRedisSessionStore(authz.RedisSessionConfig{SessionConfig: scfg, Client: a.redis})
		if err != nil {
			return err
		}
		a.sessions = ss
	} else {
		a.bus = authz.NewMemoryBus()
		a.sessions = authz.NewMemorySessionStore(scfg)
	}
	a.closers = append(a.closers, func() { _ = a.bus.Close() })
	az, err := authz.New(authz.Config{Adapter: adapter, Bus: a.bus, Log: a.log})
	if err != nil {
		return err
	}
	a.authz = az
	a.closers = append(a.closers, func() { _ = az.Close() })
	ph, err := authz.NewPasswordHasher(authz.PasswordConfig{})
	if err != nil {
		return err
	}
	lcfg := authz.LimiterConfig{IPAttempts: a.cfg.LoginRatePerMin, IPWindow: time.Minute, UserFailures: a.cfg.LoginFailures, UserWindow: 5 * time.Minute}
	var logins authz.LoginLimiter = authz.NewMemoryLoginLimiter(lcfg)
	if a.redis != nil {
		rl, err := authz.NewRedisLoginLimiter(authz.RedisLimiterConfig{LimiterConfig: lcfg, Client: a.redis})
		if err != nil {
			return err
		}
		logins = rl
	}
	a.identity = &api.Identity{Store: a.store, Authz: az, Sessions: a.sessions, Bus: a.bus, AdminToken: a.cfg.AdminToken, Passwords: ph, Logins: logins}
	return nil
}

// buildHub makes the local fan-out with the connection-cap registry.
func (a *app) buildHub() error {
	var reg hub.Registry = hub.NewMemoryRegistry()
	if a.redis != nil {
		rr, err := hub.NewRedisRegistry(hub.RedisRegistryConfig{Client: a.redis, Log: a.log})
		if err != nil {
			return err
		}
		reg = rr
	}
	h, err := hub.NewHub(hub.Config{
		Broker: a.broker, Registry: reg, Log: a.log, Metrics: a.registry,
		SendQueueBytes:       a.cfg.SendQueueBytes,
		ThrottleMessages:     a.cfg.ThrottleCount,
		ThrottlePer:          a.cfg.ThrottleWindow,
		ThrottleBurst:        a.cfg.ThrottleBurst,
		MaxFrameBytes:        int64(a.cfg.MaxFrameBytes),
		PingInterval:         a.cfg.PingInterval,
		PongTimeout:          2 * a.cfg.PingInterval,
		MaxConnsPerPrincipal: a.cfg.MaxConnsPerPrincipal,
		Mask:                 a.maskEvent,
	})
	if err != nil {
		return err
	}
	a.hub = h
	return nil
}

// maskEvent applies the tenant's privacy rule to one element's data; the
// hub calls it at most once per event. A tenant without a privacy rule has
// no masked variant: its data goes out as is.
func (a *app) maskEvent(t hub.Tenant, element string, data []byte) []byte {
	m := a.maskers.get(a.store, tenant.ID(t))
	if m == nil {
		return data
	}
	out, err := m.MaskJSON(data)
	if err != nil {
		// Never leak on failure: send the element's shape without values.
		return []byte("{}")
	}
	return out
}

// maskerCache holds each tenant's masker, built from its privacy rule and
// re-read after maskerTTL or when the tenant changes.
type maskerCache struct {
	mu sync.Mutex // guards m
	m  map[tenant.ID]maskerEntry
}

type maskerEntry struct {
	masker *authz.Masker // nil: the tenant does not mask
	at     time.Time
}

const maskerTTL = 30 * time.Second

func (c *maskerCache) get(st tenant.Store, t tenant.ID) *authz.Masker {
	c.mu.Lock()
	e, ok := c.m[t]
	c.mu.Unlock()
	if ok && time.Since(e.at) < maskerTTL {
		return e.masker
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	tt, err := st.GetTenant(ctx, t)
	if err != nil {
		if ok {
			return e.masker // keep the last rule through a store hiccup
		}
		// Unknown rule: mask with the strictest rule rather than leak.
		return authz.NewMasker(authz.MaskerConfig{})
	}
	var m *authz.Masker
	if tt.Privacy.Enabled {
		m = authz.NewMasker(authz.MaskerConfig{KeepLast: tt.Privacy.KeepLast, MaskChar: tt.Privacy.MaskChar})
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[tenant.ID]maskerEntry{}
	}
	c.m[t] = maskerEntry{masker: m, at: time.Now()}
	c.mu.Unlock()
	return m
}

func (c *maskerCache) forget(t tenant.ID) {
	c.mu.Lock()
	delete(c.m, t)
	c.mu.Unlock()
}

func (a *app) buildStore(ctx context.Context) error {
	if a.cfg.DatabaseURL == "" {
		a.store = tenant.NewMemoryStore()
		return nil
	}
	key, err := tenant.ParseKey(a.cfg.SecretKey)
	if err != nil {
		return &config.Error{Env: "HOOKFLASH_SECRET_KEY", Flag: "secret-key", Reason: err.Error()}
	}
	sealer, err := tenant.NewSealer(key)
	if err != nil {
		return &config.Error{Env: "HOOKFLASH_SECRET_KEY", Flag: "secret-key", Reason: err.Error()}
	}
	cctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if a.cfg.MigrateOnStart {
		if err := migrations.Up(cctx, a.cfg.DatabaseURL, a.log); err != nil {
			return dependencyError("Postgres", "HOOKFLASH_DATABASE_URL", err)
		}
	}
	st, err := pgstore.New(cctx, pgstore.Config{URL: a.cfg.DatabaseURL, Sealer: sealer, MaxConns: int32(a.cfg.DBMaxConns), Log: a.log})
	if err != nil {
		return dependencyError("Postgres", "HOOKFLASH_DATABASE_URL", err)
	}
	if err := st.Ping(cctx); err != nil {
		st.Close()
		return dependencyError("Postgres", "HOOKFLASH_DATABASE_URL", err)
	}
	a.store = st
	a.pgPool = st.Pool()
	a.closers = append(a.closers, st.Close)
	return nil
}

func (a *app) buildBroker(ctx context.Context) error {
	if a.cfg.RedisURL == "" {
		a.broker = hub.NewMemoryBroker(hub.MemoryBrokerConfig{HistoryLen: a.cfg.HistoryLen, HistoryAge: a.cfg.HistoryAge})
		a.closers = append(a.closers, func() { _ = a.broker.Close() })
		return nil
	}
	opt, err := redis.ParseURL(a.cfg.RedisURL)
	if err != nil {
		return &config.Error{Env: "HOOKFLASH_REDIS_URL", Flag: "redis-url", Reason: err.Error()}
	}
	opt.PoolSize = 64
	rc := redis.NewClient(opt)
	a.closers = append(a.closers, func() { _ = rc.Close() })
	cctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if err := rc.Ping(cctx).Err(); err != nil {
		return dependencyError("Redis", "HOOKFLASH_REDIS_URL", err)
	}
	a.redis = rc
	b, err := hub.NewRedisBroker(hub.RedisBrokerConfig{Client: rc, HistoryLen: a.cfg.HistoryLen, HistoryAge: a.cfg.HistoryAge, Log: a.log})
	if err != nil {
		return err
	}
	a.broker = b
	a.closers = append(a.closers, func() { _ = b.Close() })
	return nil
}

// close releases every part in reverse order of construction.
func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// dependencyError words an unreachable dependency for the operator.
func dependencyError(what, env string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("cannot reach %s within %s: check %s and that the server is up", what, startupTimeout, env)
	}
	return fmt.Errorf("cannot use %s: %s (check %s)", what, oneLine(err.Error()), env)
}

// logMode says once which storage and broker this replica uses.
func (a *app) logMode() {
	store, broker := "postgres", "redis"
	if a.cfg.DatabaseURL == "" {
		store = "memory (embedded; data is lost at exit)"
	}
	if a.cfg.RedisURL == "" {
		broker = "memory (single node)"
	}
	a.log.Info("mode", "store", store, "broker", broker)
}

// oneLine folds a multi-line error text (pgx lists every address tried) so
// the operator reads one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// refreshConnectors makes the supervisor re-read the PBX list now.
func (a *app) refreshConnectors() {
	if a.supervisor != nil {
		a.supervisor.Refresh()
	}
}

// refreshDirectory makes the tenant's connectors on this replica re-read
// users and terminals now (others pick the change up within a minute, or at
// their next resync).
func (a *app) refreshDirectory(t tenant.ID) {
	if a.directories != nil {
		a.directories.invalidate(t)
	}
	for _, c := range a.liveConns.of(t) {
		c.DirectoryChanged()
	}
}

// startBackground starts the supervisor and the history writer.
func (a *app) startBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	a.stopBG = cancel
	a.background.Add(2)
	go func() {
		defer a.background.Done()
		if err := a.supervisor.Run(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("supervisor stopped", "err", err)
		}
	}()
	go func() {
		defer a.background.Done()
		a.history.run(ctx, 5*time.Second)
	}()
}

// stopBackground stops the supervisor (releasing its leases) and flushes
// the history; safe to call more than once.
func (a *app) stopBackground() {
	if a.stopBG != nil {
		a.stopBG()
	}
	a.background.Wait()
}
