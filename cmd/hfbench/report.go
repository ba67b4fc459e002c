package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// metric is one measured figure, with the baseline's figure and a target
// when the scenario has them.
type metric struct {
	Name     string   `json:"name"`
	Unit     string   `json:"unit"`
	Value    float64  `json:"value"`
	Baseline *float64 `json:"baseline,omitempty"`
	Ratio    *float64 `json:"ratio,omitempty"` // Value / Baseline
	Target   string   `json:"target,omitempty"`
	Pass     *bool    `json:"pass,omitempty"`
}

// result is one scenario's outcome.
type result struct {
	Scenario string         `json:"scenario"`
	Params   map[string]any `json:"params"`
	Metrics  []metric       `json:"metrics"`
	Notes    []string       `json:"notes,omitempty"`
	Error    string         `json:"error,omitempty"`
	Seconds  float64        `json:"seconds"`
}

func (r *result) add(name, unit string, v float64) *metric {
	r.Metrics = append(r.Metrics, metric{Name: name, Unit: unit, Value: v})
	return &r.Metrics[len(r.Metrics)-1]
}

// vs sets the baseline figure and the ratio.
func (m *metric) vs(base float64) *metric {
	m.Baseline = &base
	if base != 0 {
		r := m.Value / base
		m.Ratio = &r
	}
	return m
}

// target records the target text and whether it was met.
func (m *metric) target(text string, ok bool) *metric {
	m.Target, m.Pass = text, &ok
	return m
}

func (r *result) notef(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// machineInfo describes where a run happened.
type machineInfo struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	MemTotal string `json:"mem_total"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
}

func readMachine() machineInfo {
	m := machineInfo{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "model name"); ok {
				m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				m.MemTotal = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// report is the whole run, as --json prints it.
type report struct {
	Command string      `json:"command"`
	Short   bool        `json:"short"`
	Started time.Time   `json:"started"`
	Machine machineInfo `json:"machine"`
	Results []result    `json:"results"`
}

func fmtNum(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100 || v <= -100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1 || v <= -1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// writeTable prints the human report.
func writeTable(w io.Writer, rep *report) {
	m := rep.Machine
	fmt.Fprintf(w, "\nhfbench — %d CPUs (%s), %s, %s, kernel %s\n", m.CPUs, m.CPUModel, m.MemTotal, m.Go, m.Kernel)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tmetric\thookflash\tbaseline\tratio\ttarget\tok")
	for _, r := range rep.Results {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\tERROR\t%s\t\t\t\t\n", r.Scenario, r.Error)
		}
		for _, x := range r.Metrics {
			base, ratio, ok := "", "", ""
			if x.Baseline != nil {
				base = fmtNum(*x.Baseline)
			}
			if x.Ratio != nil {
				ratio = fmt.Sprintf("%.2f×", *x.Ratio)
			}
			if x.Pass != nil {
				ok = map[bool]string{true: "ok", false: "MISS"}[*x.Pass]
			}
			fmt.Fprintf(tw, "%s\t%s (%s)\t%s\t%s\t%s\t%s\t%s\n", r.Scenario, x.Name, x.Unit, fmtNum(x.Value), base, ratio, x.Target, ok)
		}
	}
	tw.Flush()
	for _, r := range rep.Results {
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  [%s] %s\n", r.Scenario, n)
		}
	}
}

// latency summarises samples (µs) in milliseconds.
type latency struct {
	N                   int
	P50, P90, P99, PMax float64
}

func summarize(samples []int32) latency {
	if len(samples) == 0 {
		return latency{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	q := func(p float64) float64 { return float64(s[int(p*float64(len(s)-1))]) / 1000 }
	return latency{N: len(s), P50: q(0.50), P90: q(0.90), P99: q(0.99), PMax: float64(s[len(s)-1]) / 1000}
}

// progress prints a status line every second: overwritten in place on a
// terminal, one line per second otherwise. Quiet discards it.
type progress struct {
	w     io.Writer
	tty   bool
	quiet bool

	mu     sync.Mutex // guards cancel and wg use
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newProgress(quiet bool) *progress {
	tty := false
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		tty = true
	}
	return &progress{w: os.Stderr, tty: tty, quiet: quiet}
}

// run starts printing line() every second until stop.
func (p *progress) run(ctx context.Context, line func(elapsed time.Duration) string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked()
	if p.quiet {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		start := time.Now()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				if p.tty {
					fmt.Fprint(p.w, "\r\033[K")
				}
				return
			case <-t.C:
				l := line(time.Since(start).Truncate(time.Second))
				if p.tty {
					fmt.Fprintf(p.w, "\r\033[K%s", l)
				} else {
					fmt.Fprintln(p.w, l)
				}
			}
		}
	}()
}

func (p *progress) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked()
}

func (p *progress) stopLocked() {
	if p.cancel != nil {
		p.cancel()
		p.wg.Wait()
		p.cancel = nil
	}
}

// say prints one status message (not overwritten).
func (p *progress) say(format string, args ...any) {
	if p.quiet {
		return
	}
	fmt.Fprintf(p.w, "hfbench: "+format+"\n", args...)
}
