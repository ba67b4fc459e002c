package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/redis/go-redis/v9"
	"time"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := parseConfig("serve", args, stderr, nil)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat).With("replica", cfg.ReplicaID)
	redis.SetLogger(redisLogger{log})
	a, err := buildApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (check HOOKFLASH_LISTEN)", cfg.Listen, err)
	}
	log.Info("serving", "addr", ln.Addr().String(), "version", version)
	return a.serve(ctx, ln)
}

// serve runs the HTTP server on ln until ctx ends, then shuts down within
// the configured grace period: stops accepting, tells sockets to reconnect
// elsewhere, hands PBX leases over, and waits for in-flight requests.
func (a *app) serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- a.api.App().Listener(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	a.log.Info("shutting down", "grace", a.cfg.ShutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownGrace)
	defer cancel()
	for _, h := range a.shutdownHooks {
		h(sctx)
	}
	if err := a.api.App().ShutdownWithContext(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	select {
	case <-errc:
	case <-time.After(time.Second):
	}
	a.log.Info("stopped")
	return nil
}
