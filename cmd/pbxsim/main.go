// Command pbxsim runs simulated Asterisk 22 PBXes (ARI REST + events
// WebSocket and AMI, each on its own loopback port), optionally with
// generated call traffic and an HTTP endpoint to inject faults.
//
//	pbxsim -count 10 -cps 5 -control 127.0.0.1:8099
//	curl -X POST 127.0.0.1:8099/pbxes/3/faults/restart
//
// See `pbxsim -h` for the flags and pbxconn/pbxsim for the engine.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hookflash/hookflash/pbxconn/pbxsim"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "pbxsim:", err)
		os.Exit(1)
	}
}

type options struct {
	count                        int
	host                         string
	ariPort, amiPort             int
	ariUser, ariPass             string
	amiUser, amiSecret           string
	distinct                     bool
	speed                        float64
	cps                          float64
	talk                         time.Duration
	queueShare, xferShare, parkS float64
	control                      string
	stamp                        bool
	verbose                      bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("pbxsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.count, "count", 1, "number of simulated PBXes")
	fs.StringVar(&o.host, "host", "127.0.0.1", "listen host for every PBX")
	fs.IntVar(&o.ariPort, "ari-port", 0, "ARI port of the first PBX, the next ones count up (0: any free port)")
	fs.IntVar(&o.amiPort, "ami-port", 0, "AMI port of the first PBX, the next ones count up (0: any free port)")
	fs.StringVar(&o.ariUser, "ari-user", "cti", "ARI user")
	fs.StringVar(&o.ariPass, "ari-password", "ctipass", "ARI password")
	fs.StringVar(&o.amiUser, "ami-user", "cti", "AMI user")
	fs.StringVar(&o.amiSecret, "ami-secret", "ctipass", "AMI secret")
	fs.BoolVar(&o.distinct, "distinct-credentials", false, "suffix every credential with -N (PBX number)")
	fs.Float64Var(&o.speed, "speed", 1, "play recorded call flows this many times faster than recorded")
	fs.Float64Var(&o.cps, "cps", 0, "generated calls per second across all PBXes (0: no traffic)")
	fs.DurationVar(&o.talk, "talk", 3*time.Second, "pause between the steps of a generated call")
	fs.Float64Var(&o.queueShare, "queue-share", 0.4, "share of generated calls that go to queue support")
	fs.Float64Var(&o.xferShare, "transfer-share", 0.2, "share of direct calls transferred (half blind, half attended)")
	fs.Float64Var(&o.parkS, "park-share", 0.1, "share of direct calls parked and picked up")
	fs.BoolVar(&o.stamp, "stamp", false, "stamp generated callers' names with the time the call was placed (for latency benchmarks)")
	fs.StringVar(&o.control, "control", "", "listen address of the fault-control HTTP endpoint (empty: none)")
	fs.BoolVar(&o.verbose, "v", false, "log connections to stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.count < 1 || o.count > 20000 {
		return o, fmt.Errorf("-count must be between 1 and 20000")
	}
	if o.speed <= 0 {
		return o, fmt.Errorf("-speed must be positive")
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if o.verbose {
		log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	cl, err := pbxsim.NewCluster(ctx, pbxsim.ClusterConfig{
		Count: o.count, Host: o.host, ARIBasePort: o.ariPort, AMIBasePort: o.amiPort, DistinctCredentials: o.distinct,
		Base: pbxsim.Config{ARIUser: o.ariUser, ARIPassword: o.ariPass, AMIUser: o.amiUser, AMISecret: o.amiSecret,
			Speed: o.speed, Logger: log},
	})
	if err != nil {
		return err
	}
	defer cl.Close()
	printTable(stdout, cl.PBXes())

	var wg sync.WaitGroup
	defer wg.Wait()
	stats := &pbxsim.TrafficStats{}
	if o.cps > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = pbxsim.RunTraffic(ctx, cl.PBXes(), pbxsim.TrafficConfig{CallsPerSecond: o.cps, TalkTime: o.talk,
				QueueShare: o.queueShare, TransferShare: o.xferShare, ParkShare: o.parkS, StampCallerName: o.stamp}, stats)
		}()
		fmt.Fprintf(stdout, "traffic: %.1f calls/s, talk %s\n", o.cps, o.talk)
	}
	if o.control != "" {
		ln, err := net.Listen("tcp", o.control)
		if err != nil {
			return fmt.Errorf("control listen: %w", err)
		}
		srv := &http.Server{Handler: controlHandler(cl, stats), ReadHeaderTimeout: 5 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = srv.Serve(ln)
		}()
		defer srv.Close()
		fmt.Fprintf(stdout, "control: http://%s/pbxes\n", ln.Addr())
	}
	<-ctx.Done()
	return nil
}

func printTable(w io.Writer, pbxs []*pbxsim.PBX) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tNAME\tARI URL\tARI USER\tARI PASSWORD\tAMI ADDR\tAMI USER\tAMI SECRET")
	for i, p := range pbxs {
		au, ap := p.ARICredentials()
		mu, ms := p.AMICredentials()
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i+1, p.Name(), p.ARIURL(), au, ap, p.AMIAddr(), mu, ms)
	}
	tw.Flush()
}

// controlHandler serves the fault-control endpoint:
//
//	GET  /pbxes                              the PBXes and their counters
//	POST /pbxes/{n}/faults/{fault}[?d=2s]    n is 1-based or "all"; fault is
//	     drop-ari, drop-ami, restart, malformed-ari, malformed-ami, stall
//	POST /pbxes/{n}/register/{endpoint}      a SIP REGISTER of e.g. 1002
//	POST /pbxes/{n}/unregister/{endpoint}
func controlHandler(cl *pbxsim.Cluster, stats *pbxsim.TrafficStats) http.Handler {
	mux := http.NewServeMux()
	pick := func(w http.ResponseWriter, r *http.Request) []*pbxsim.PBX {
		all := cl.PBXes()
		n := r.PathValue("n")
		if n == "all" {
			return all
		}
		i, err := strconv.Atoi(n)
		if err != nil || i < 1 || i > len(all) {
			http.Error(w, `{"error":"no such pbx"}`, http.StatusNotFound)
			return nil
		}
		return all[i-1 : i]
	}
	mux.HandleFunc("GET /pbxes", func(w http.ResponseWriter, r *http.Request) {
		type row struct {
			N        int          `json:"n"`
			Name     string       `json:"name"`
			ARIURL   string       `json:"ari_url"`
			AMIAddr  string       `json:"ami_addr"`
			Stats    pbxsim.Stats `json:"stats"`
			Parked   int          `json:"parked"`
			Queueing int          `json:"queueing"`
		}
		var out []row
		for i, p := range cl.PBXes() {
			out = append(out, row{N: i + 1, Name: p.Name(), ARIURL: p.ARIURL(), AMIAddr: p.AMIAddr(), Stats: p.Stats(),
				Parked: len(p.Parked()), Queueing: len(p.QueueCallers())})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"pbxes": out, "traffic": map[string]int64{
			"started": stats.Started.Load(), "completed": stats.Completed.Load(), "failed": stats.Failed.Load()}})
	})
	mux.HandleFunc("POST /pbxes/{n}/faults/{fault}", func(w http.ResponseWriter, r *http.Request) {
		ps := pick(w, r)
		if ps == nil {
			return
		}
		d := 2 * time.Second
		if s := r.URL.Query().Get("d"); s != "" {
			v, err := time.ParseDuration(s)
			if err != nil || v <= 0 || v > time.Hour {
				http.Error(w, `{"error":"bad duration"}`, http.StatusBadRequest)
				return
			}
			d = v
		}
		for _, p := range ps {
			switch r.PathValue("fault") {
			case "drop-ari":
				p.DropARI()
			case "drop-ami":
				p.DropAMI()
			case "restart":
				p.Restart()
			case "malformed-ari":
				p.MalformedARI()
			case "malformed-ami":
				p.MalformedAMI()
			case "stall":
				p.StallWrites(d)
			default:
				http.Error(w, `{"error":"unknown fault"}`, http.StatusNotFound)
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
	reg := func(on bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			ps := pick(w, r)
			if ps == nil {
				return
			}
			for _, p := range ps {
				var err error
				if on {
					err = p.Register(r.PathValue("ep"), "")
				} else {
					err = p.Unregister(r.PathValue("ep"))
				}
				if err != nil {
					status := http.StatusBadRequest
					if errors.Is(err, pbxsim.ErrNotFound) {
						status = http.StatusNotFound
					}
					b, _ := json.Marshal(map[string]string{"error": err.Error()})
					http.Error(w, string(b), status)
					return
				}
			}
			w.WriteHeader(http.StatusNoContent)
		}
	}
	mux.HandleFunc("POST /pbxes/{n}/register/{ep}", reg(true))
	mux.HandleFunc("POST /pbxes/{n}/unregister/{ep}", reg(false))
	return mux
}
