package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookflash/hookflash/pbxconn/pbxsim"
)

// newDatabase creates a fresh database on the server of baseURL, so every
// scenario starts with no tenants and no PBXes, and returns its URL and a
// function dropping it.
func newDatabase(ctx context.Context, baseURL string) (string, func(), error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", nil, fmt.Errorf("database url: %w", err)
	}
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		return "", nil, fmt.Errorf("connect %s: %w", u.Redacted(), err)
	}
	name := "hfbench_" + randomHex(5)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+name)
	conn.Close(context.Background())
	if err != nil {
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	nu := *u
	nu.Path = "/" + name
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, baseURL); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	}
	return nu.String(), drop, nil
}

// cluster is one scenario's replicas, tenants and simulated PBXes.
type cluster struct {
	reps    []*replica
	tenants []*tenantFix
	sims    []*pbxsim.PBX        // every PBX
	byTen   [][]*pbxsim.PBX      // PBXes per tenant
	proxies map[string]*amiProxy // counting AMI proxy by PBX id, when asked for
	watch   *pbxWatch            // the tenants' pbx elements
	dropDB  func()
	speed   float64 // simulator Speed
}

// clusterSpec shapes startCluster.
type clusterSpec struct {
	replicas, tenants, pbxesPerTenant, users int
	leaseTTL                                 time.Duration
	proxyAMI                                 bool // route AMI through counting proxies
	extraEnv                                 []string
	speed                                    float64 // simulator Speed; 0 = 1
}

// startCluster starts the replicas on a fresh database, creates the
// tenants and registers their simulated PBXes (spread over the replicas'
// REST APIs). Simulators play recorded calls at sp.speed (1: the recorded
// delays between the events of a call phase).
func (b *bench) startCluster(ctx context.Context, sp clusterSpec) (*cluster, error) {
	cl := &cluster{proxies: map[string]*amiProxy{}}
	dbURL, drop, err := newDatabase(ctx, b.svc.DatabaseURL)
	if err != nil {
		return nil, err
	}
	cl.dropDB = drop
	svc := *b.svc
	svc.DatabaseURL = dbURL
	env := append(append(replicaEnv(&svc, sp.leaseTTL), sp.extraEnv...), b.opts.procEnv...)
	for i := 0; i < sp.replicas; i++ {
		r, err := startReplica(ctx, b.bin, fmt.Sprintf("bench-r%d-%s", i, randomHex(2)), env)
		if err != nil {
			cl.close()
			return nil, err
		}
		cl.reps = append(cl.reps, r)
	}
	for t := 0; t < sp.tenants; t++ {
		tf, err := setupTenant(ctx, cl.reps[t%len(cl.reps)].base, sp.users)
		if err != nil {
			cl.close()
			return nil, err
		}
		cl.tenants = append(cl.tenants, tf)
	}
	cl.byTen = make([][]*pbxsim.PBX, sp.tenants)
	cl.watch = watchPBXes(ctx, cl)
	cl.speed = sp.speed
	if err := cl.addSims(ctx, sp.pbxesPerTenant, sp.proxyAMI); err != nil {
		cl.close()
		return nil, err
	}
	return cl, nil
}

// addSims starts perTenant simulated PBXes for every tenant and registers
// them, spread over the replicas' REST APIs, a few at a time (1,000
// sequential POSTs take long).
func (cl *cluster) addSims(ctx context.Context, perTenant int, proxyAMI bool) error {
	type job struct{ t, i int }
	jobs := make(chan job)
	var mu sync.Mutex // guards cl.sims, cl.byTen, cl.proxies, firstErr
	var firstErr error
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				sim, err := pbxsim.Start(ctx, pbxsim.Config{Name: fmt.Sprintf("sim-t%d-%d", j.t, j.i), Speed: cl.speed})
				if err == nil {
					var px *amiProxy
					amiAddr := ""
					if proxyAMI {
						if px, err = newAMIProxy(sim.AMIAddr()); err == nil {
							amiAddr = px.addr()
						}
					}
					id := ""
					if err == nil {
						id, err = addPBX(ctx, cl.reps[(j.t+j.i)%len(cl.reps)].base, cl.tenants[j.t], sim, amiAddr)
					}
					mu.Lock()
					cl.sims = append(cl.sims, sim)
					cl.byTen[j.t] = append(cl.byTen[j.t], sim)
					if px != nil {
						key := id
						if key == "" {
							key = sim.Name() // registration failed; kept only to be closed
						}
						cl.proxies[key] = px
					}
					mu.Unlock()
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for t := 0; t < len(cl.tenants); t++ {
		for i := 0; i < perTenant; i++ {
			mu.Lock()
			failed := firstErr != nil
			mu.Unlock()
			if failed {
				break feed
			}
			select {
			case jobs <- job{t, i}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// live returns the PBXes whose element says live.
func (cl *cluster) live() int { return cl.watch.live() }

// waitLive waits until want PBXes are live.
func (cl *cluster) waitLive(ctx context.Context, want int, within time.Duration) error {
	return cl.watch.waitLive(ctx, want, within)
}

func (cl *cluster) pids() []int {
	var out []int
	for _, r := range cl.reps {
		if r.alive() {
			out = append(out, r.pid())
		}
	}
	return out
}

// sum adds a metric over the running replicas.
func (cl *cluster) sum(ctx context.Context, name, labels string) float64 {
	var s float64
	for _, r := range cl.reps {
		if !r.alive() {
			continue
		}
		if text, err := scrape(ctx, r.base+"/metrics"); err == nil {
			s += metricValue(text, name, labels)
		}
	}
	return s
}

// close stops replicas, simulators and proxies and drops the database.
func (cl *cluster) close() {
	if cl.watch != nil {
		cl.watch.close()
	}
	var wg sync.WaitGroup
	for _, r := range cl.reps {
		wg.Add(1)
		go func() { defer wg.Done(); r.stop(5 * time.Second) }()
	}
	wg.Wait()
	for _, p := range cl.proxies {
		p.close()
	}
	for _, s := range cl.sims {
		_ = s.Close()
	}
	if cl.dropDB != nil {
		cl.dropDB()
	}
}

// traffic runs pbxsim.RunTraffic over sims until stopped; restartable at a
// new rate.
type traffic struct {
	sims   []*pbxsim.PBX
	stats  pbxsim.TrafficStats
	cancel context.CancelFunc
	done   chan struct{}
	rate   float64
}

// start (re)starts the generator at callsPerSec.
func (t *traffic) start(ctx context.Context, callsPerSec float64, seed int64) {
	t.stop()
	ctx, cancel := context.WithCancel(ctx)
	t.cancel, t.done, t.rate = cancel, make(chan struct{}), callsPerSec
	done := t.done
	go func() {
		defer close(done)
		_ = pbxsim.RunTraffic(ctx, t.sims, pbxsim.TrafficConfig{CallsPerSecond: callsPerSec, TalkTime: 400 * time.Millisecond,
			Seed: seed}, &t.stats)
	}()
}

func (t *traffic) stop() {
	if t.cancel != nil {
		t.cancel()
		<-t.done
		t.cancel = nil
	}
}

var errNoSamples = errors.New("no latency samples")
