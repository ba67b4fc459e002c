package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat. It is
// 100 on every Linux architecture Go supports (the kernel ABI fixes it;
// sysconf(_SC_CLK_TCK) would need cgo).
const clockTicks = 100

// procCPU returns the user+system CPU seconds process pid has used.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces: fields are counted after
	// its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat of %d: no command field", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': state is field 3, so utime (14) and stime (15) are f[11], f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("stat of %d: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat of %d: bad utime/stime %q %q", pid, f[11], f[12])
	}
	return float64(ut+st) / clockTicks, nil
}

// procRSS returns the resident set size of pid in bytes (VmRSS).
func procRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fs := strings.Fields(v)
			if len(fs) == 0 {
				break
			}
			kb, err := strconv.ParseInt(fs[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("status of %d: VmRSS %q: %w", pid, v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("status of %d: no VmRSS", pid)
}

// cpuMeter measures the CPU seconds a set of processes use between start
// and stop.
type cpuMeter struct {
	pids  []int
	start []float64
}

func newCPUMeter(pids ...int) *cpuMeter {
	m := &cpuMeter{pids: pids, start: make([]float64, len(pids))}
	for i, p := range pids {
		m.start[i], _ = procCPU(p)
	}
	return m
}

// used returns the CPU seconds used since newCPUMeter, summed over the
// processes still readable.
func (m *cpuMeter) used() float64 {
	var sum float64
	for i, p := range m.pids {
		if v, err := procCPU(p); err == nil {
			sum += v - m.start[i]
		}
	}
	return sum
}

// raiseNoFile raises this process's soft RLIMIT_NOFILE to its hard limit
// and returns the new soft limit.
func raiseNoFile() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, fmt.Errorf("setrlimit nofile %d: %w", l.Max, err)
		}
	}
	return l.Cur, nil
}

// scrape fetches a Prometheus text exposition.
func scrape(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return "", err
	}
	res, err := shortHTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("scrape %s: %w", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return "", fmt.Errorf("scrape %s: %w", url, err)
	}
	if res.StatusCode != 200 {
		return "", fmt.Errorf("scrape %s: status %d", url, res.StatusCode)
	}
	return string(b), nil
}

// metricValue sums the samples of metric name whose label set contains
// every label of want (e.g. `status="live"`; "" matches all).
func metricValue(text, name, want string) float64 {
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name) || strings.HasPrefix(line, "#") {
			continue
		}
		rest := line[len(name):]
		labels := ""
		switch {
		case strings.HasPrefix(rest, "{"):
			j := strings.IndexByte(rest, '}')
			if j < 0 {
				continue
			}
			labels, rest = rest[1:j], rest[j+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // a longer metric name with this prefix
		}
		if want != "" && !strings.Contains(labels, want) {
			continue
		}
		fs := strings.Fields(rest)
		if len(fs) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(fs[0], 64); err == nil {
			sum += v
		}
	}
	return sum
}
