// Command hfbench is Hookflash's bench harness: it measures every target
// of DESIGN §9 against a raw baseline (a plain fiber WebSocket broadcast of
// pre-encoded bytes) in the same run.
//
// It starts its own ephemeral Redis and Postgres (or uses --redis-url and
// --database-url), builds `hookflash` (or uses --hookflash), runs `serve`
// replicas as separate processes, simulated PBXes (pbxconn/pbxsim) and
// WebSocket clients in this process, and the baseline server as a child
// process. Everything listens on and talks to 127.0.0.1 only; every loop is
// bounded by the scenario's duration and a run deadline.
//
//	hfbench --scenario all --short        # every scenario scaled down, < 60 s
//	hfbench --scenario fanout             # one scenario, full size
//	hfbench --scenario all --json > r.json
//
// See docs/benchmarks.md for what each scenario measures and the results.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

// options are the command line; zero values take the defaults of the mode
// (--short or full), filled by fill.
type options struct {
	scenario   string
	short      bool
	jsonOut    bool
	quiet      bool
	redisURL   string
	dbURL      string
	hookflash  string
	cpuprofile string
	deadline   time.Duration

	replicas, tenants, pbxes, clients int
	rate                              float64 // fan-out target deliveries/s
	duration                          time.Duration
	batch                             bool // fan-out clients ask for write coalescing
	satCalls                          float64
	idleConns                         int
	connectors                        int
	resumeClients                     int
	resumeGap                         time.Duration
	resumeCalls                       float64
	failoverPBXes                     int
	leaseTTL                          time.Duration
	seed                              int64
	speed                             float64  // simulator Speed (recorded delays ÷ speed; +Inf: phases at once)
	procEnv                           []string // extra environment of replicas and the baseline (e.g. GOGC=50)
}

var scenarioNames = []string{"fanout", "saturation", "idle", "connectors", "resume", "failover"}

func (o *options) fill() {
	pick := func(short, full int) int {
		if o.short {
			return short
		}
		return full
	}
	def := func(v *int, short, full int) {
		if *v <= 0 {
			*v = pick(short, full)
		}
	}
	def(&o.replicas, 2, 3)
	def(&o.tenants, 1, 10)
	def(&o.pbxes, 2, 1)
	def(&o.clients, 60, 1000)
	def(&o.idleConns, 1000, 10000)
	def(&o.connectors, 40, 1000)
	def(&o.resumeClients, 60, 1000)
	def(&o.failoverPBXes, 6, 30)
	if o.rate <= 0 {
		o.rate = float64(pick(1500, 20000))
	}
	if o.satCalls <= 0 {
		o.satCalls = float64(pick(10, 40))
	}
	if o.duration <= 0 {
		o.duration = time.Duration(pick(2, 20)) * time.Second
	}
	if o.resumeGap <= 0 {
		o.resumeGap = time.Second
	}
	if o.resumeCalls <= 0 {
		o.resumeCalls = 1
	}
	if o.leaseTTL <= 0 {
		o.leaseTTL = 3 * time.Second
		if o.short {
			o.leaseTTL = 2 * time.Second
		}
	}
	if o.deadline <= 0 {
		o.deadline = time.Duration(pick(3, 40)) * time.Minute
	}
	if o.speed <= 0 || math.IsNaN(o.speed) {
		o.speed = math.Inf(1)
	}
	if o.seed == 0 {
		o.seed = time.Now().UnixNano()
	}
}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("hfbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.scenario, "scenario", "all", "scenario: "+strings.Join(scenarioNames, "|")+"|all (comma-separated list allowed)")
	fs.BoolVar(&o.short, "short", false, "scale every scenario down (quick check, under 60 s for all)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the report as JSON on stdout")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress output on stderr")
	fs.StringVar(&o.redisURL, "redis-url", "", "use this Redis instead of starting one")
	fs.StringVar(&o.dbURL, "database-url", "", "use this Postgres server (a fresh database is created per scenario) instead of starting one")
	fs.StringVar(&o.hookflash, "hookflash", "", "hookflash binary to run (default: go build ./cmd/hookflash from the current module)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of this process (clients, simulators) to this file")
	fs.DurationVar(&o.deadline, "deadline", 0, "abort the whole run after this long (default 3m short, 40m full)")
	fs.IntVar(&o.replicas, "replicas", 0, "serve replicas for fanout/saturation/resume/failover (default 2 short, 3 full)")
	fs.IntVar(&o.tenants, "tenants", 0, "tenants for fanout/saturation; clients are spread over them (default 1 short, 10 full)")
	fs.IntVar(&o.pbxes, "pbxes", 0, "simulated PBXes per tenant for fanout/saturation (default 2 short, 1 full)")
	fs.IntVar(&o.clients, "clients", 0, "WebSocket clients for fanout/saturation (default 60 short, 1000 full)")
	fs.Float64Var(&o.rate, "rate", 0, "fan-out target deliveries/s across all clients (default 1500 short, 20000 full)")
	fs.DurationVar(&o.duration, "duration", 0, "measured window of fanout/saturation/connectors (default 2s short, 20s full)")
	fs.BoolVar(&o.batch, "batch", false, "fan-out clients ask for write coalescing (batch=true); saturation always does")
	fs.Float64Var(&o.satCalls, "sat-calls", 0, "saturation: generated calls/s offered (default 10 short, 40 full)")
	fs.IntVar(&o.idleConns, "idle-conns", 0, "idle: sockets to open (default 1000 short, 10000 full)")
	fs.IntVar(&o.connectors, "connectors", 0, "connectors: simulated PBXes on one replica (default 40 short, 1000 full)")
	fs.IntVar(&o.resumeClients, "resume-clients", 0, "resume: clients that reconnect with since (default 60 short, 1000 full)")
	fs.DurationVar(&o.resumeGap, "resume-gap", 0, "resume: how long clients stay away while events go on")
	fs.Float64Var(&o.resumeCalls, "resume-calls", 1, "resume: generated calls/s while clients are away (1 call/s is about 50 tenant events/s)")
	fs.IntVar(&o.failoverPBXes, "failover-pbxes", 0, "failover: simulated PBXes over the replicas (default 6 short, 30 full)")
	fs.DurationVar(&o.leaseTTL, "lease-ttl", 0, "replicas' HOOKFLASH_LEASE_TTL (default 3s; 2s short)")
	fs.Int64Var(&o.seed, "seed", 0, "traffic seed (default: time)")
	fs.Float64Var(&o.speed, "speed", math.Inf(1), "simulated PBX speed: recorded delays inside a call phase divided by this; inf (default) plays each phase at once, stamping every event with its true emission time")
	fs.Func("proc-env", "KEY=VALUE added to the environment of every replica and of the baseline server (repeatable), e.g. GOGC=50", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		o.procEnv = append(o.procEnv, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.fill()
	if _, err := o.scenarios(); err != nil {
		return nil, err
	}
	return o, nil
}

// scenarios expands --scenario.
func (o *options) scenarios() ([]string, error) {
	var out []string
	for _, s := range strings.Split(o.scenario, ",") {
		s = strings.TrimSpace(s)
		if s == "all" {
			out = append(out, scenarioNames...)
			continue
		}
		found := false
		for _, n := range scenarioNames {
			if n == s {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown scenario %q (want %s or all)", s, strings.Join(scenarioNames, ", "))
		}
		out = append(out, s)
	}
	return out, nil
}

// settle is how long a scenario lets a process settle before and after a
// step it measures: 1 s in --short mode, 3 s in full.
func (b *bench) settle() time.Duration {
	if b.opts.short {
		return time.Second
	}
	return 3 * time.Second
}

// bench is one harness run.
type bench struct {
	opts *options
	svc  *services
	bin  string
	prog *progress
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == baselineCmd {
		if err := runBaselineServer(); err != nil {
			fmt.Fprintln(os.Stderr, "hfbench baseline:", err)
			os.Exit(1)
		}
		return
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}

// run is the whole command; it returns the exit code: 0 when every
// scenario ran (targets missed are reported, not failures), 1 when one
// could not run, 2 for bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "hfbench:", err)
		return 2
	}
	rep, err := runBench(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "hfbench:", err)
		return 1
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(stderr, "hfbench: encode report:", err)
			return 1
		}
	} else {
		writeTable(stdout, rep)
	}
	for _, r := range rep.Results {
		if r.Error != "" {
			return 1
		}
	}
	return 0
}

// runBench sets up services and runs the chosen scenarios in order.
func runBench(ctx context.Context, o *options) (*report, error) {
	ctx, cancel := context.WithTimeout(ctx, o.deadline)
	defer cancel()
	if _, err := raiseNoFile(); err != nil {
		return nil, err
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return nil, fmt.Errorf("cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	b := &bench{opts: o, prog: newProgress(o.quiet)}
	names, _ := o.scenarios()
	rep := &report{Command: "hfbench " + strings.Join(os.Args[1:], " "), Short: o.short, Started: time.Now().UTC(), Machine: readMachine()}
	bin, cleanup, err := buildHookflash(ctx, o.hookflash)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	b.bin = bin
	b.prog.say("starting Redis and Postgres")
	svc, err := startServices(ctx, o.redisURL, o.dbURL)
	if err != nil {
		return nil, err
	}
	defer svc.close()
	b.svc = svc
	for _, n := range names {
		if ctx.Err() != nil {
			rep.Results = append(rep.Results, result{Scenario: n, Error: "not run: " + ctx.Err().Error()})
			continue
		}
		b.prog.say("scenario %s", n)
		start := time.Now()
		r := b.runScenario(ctx, n)
		r.Seconds = time.Since(start).Seconds()
		rep.Results = append(rep.Results, r)
	}
	return rep, nil
}

func (b *bench) runScenario(ctx context.Context, name string) result {
	r := result{Scenario: name, Params: map[string]any{}}
	var err error
	switch name {
	case "fanout":
		err = b.fanout(ctx, &r, false)
	case "saturation":
		err = b.fanout(ctx, &r, true)
	case "idle":
		err = b.idle(ctx, &r)
	case "connectors":
		err = b.connectors(ctx, &r)
	case "resume":
		err = b.resume(ctx, &r)
	case "failover":
		err = b.failover(ctx, &r)
	}
	b.prog.stop()
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// buildHookflash returns the binary to run: the given one, or a fresh
// build of ./cmd/hookflash from the module in the working directory.
func buildHookflash(ctx context.Context, given string) (string, func(), error) {
	if given != "" {
		if _, err := os.Stat(given); err != nil {
			return "", nil, fmt.Errorf("--hookflash: %w", err)
		}
		return given, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "hfbench-bin-")
	if err != nil {
		return "", nil, fmt.Errorf("temp dir: %w", err)
	}
	bin := filepath.Join(dir, "hookflash")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/hookflash/hookflash/cmd/hookflash")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("go build hookflash (run from the repository, or pass --hookflash): %w: %s", err, tail(out, 2000))
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}
