package pbxsim

import (
	"context"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// TrafficConfig shapes generated calls. Zero values take the defaults.
type TrafficConfig struct {
	// CallsPerSecond is the rate of new calls across all PBXes. Default 1.
	CallsPerSecond float64
	// TalkTime is the pause between a call's steps (answer → transfer →
	// hangup …). Default 3 s.
	TalkTime time.Duration
	// QueueShare is the share of calls placed into queue support (8000).
	// Default 0.4. The rest call an agent extension directly.
	QueueShare float64
	// TransferShare is the share of direct calls that are transferred to
	// 1002, half blind and half attended. Default 0.2.
	TransferShare float64
	// ParkShare is the share of direct calls parked and picked up. Default 0.1.
	ParkShare float64
	// Seed seeds the choices; 0 uses the time.
	Seed int64
	// StampCallerName names each generated customer "Customer <number>
	// @<unix microseconds>", the wall-clock time the call was placed, so a
	// benchmark can measure the latency of the call's first appearance
	// anywhere downstream (the stamp rides in ARI caller.name and AMI
	// CallerIDName/ConnectedLineName). See ParseStamp.
	StampCallerName bool
}

func (c *TrafficConfig) fill() {
	if c.CallsPerSecond <= 0 {
		c.CallsPerSecond = 1
	}
	if c.TalkTime <= 0 {
		c.TalkTime = 3 * time.Second
	}
	if c.QueueShare == 0 {
		c.QueueShare = 0.4
	}
	if c.TransferShare == 0 {
		c.TransferShare = 0.2
	}
	if c.ParkShare == 0 {
		c.ParkShare = 0.1
	}
	if c.Seed == 0 {
		c.Seed = time.Now().UnixNano()
	}
}

// TrafficStats counts generated calls; read it with Snapshot.
type TrafficStats struct {
	Started, Completed, Failed atomic.Int64
	mu                         sync.Mutex // guards lastErr
	lastErr                    error
}

// LastError returns the most recent failure of a generated call, if any.
func (s *TrafficStats) LastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// RunTraffic places calls on pbxs, round robin, until ctx is done; it then
// stops every call in progress (leaving their channels up) and returns once
// all of its goroutines have exited. Each call runs in its own goroutine
// for its lifetime.
func RunTraffic(ctx context.Context, pbxs []*PBX, cfg TrafficConfig, stats *TrafficStats) error {
	if len(pbxs) == 0 {
		return fmt.Errorf("%w: no PBX for traffic", ErrBadRequest)
	}
	cfg.fill()
	if stats == nil {
		stats = &TrafficStats{}
	}
	rng := rand.New(rand.NewSource(cfg.Seed))
	var wg sync.WaitGroup
	defer wg.Wait()
	interval := time.Duration(float64(time.Second) / cfg.CallsPerSecond)
	tick := time.NewTicker(max(interval, time.Millisecond))
	defer tick.Stop()
	perTick := max(1, int(float64(time.Millisecond)/float64(interval)+0.5))
	var seq uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for i := 0; i < perTick; i++ {
			p := pbxs[seq%uint64(len(pbxs))]
			cust := strconv.Itoa(9000 + int(seq%790))
			seq++
			kind := pickKind(rng, cfg)
			agent := strconv.Itoa(1001 + rng.Intn(5))
			wg.Add(1)
			stats.Started.Add(1)
			go func() {
				defer wg.Done()
				name := ""
				if cfg.StampCallerName {
					name = "Customer " + cust + " @" + strconv.FormatInt(time.Now().UnixMicro(), 10)
				}
				if err := runCall(ctx, p, kind, cust, name, agent, cfg.TalkTime); err != nil && ctx.Err() == nil {
					stats.Failed.Add(1)
					stats.mu.Lock()
					stats.lastErr = err
					stats.mu.Unlock()
					return
				}
				stats.Completed.Add(1)
			}()
		}
	}
}

func pickKind(rng *rand.Rand, cfg TrafficConfig) string {
	if rng.Float64() < cfg.QueueShare {
		return "queue"
	}
	x := rng.Float64()
	switch {
	case x < cfg.TransferShare/2:
		return "blind"
	case x < cfg.TransferShare:
		return "attended"
	case x < cfg.TransferShare+cfg.ParkShare:
		return "park"
	}
	return "direct"
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// runCall plays one generated call to its end.
func runCall(ctx context.Context, p *PBX, kind, cust, name, agent string, talk time.Duration) error {
	ext := agent
	if kind == "queue" {
		ext = "8000"
	}
	if kind == "blind" || kind == "attended" {
		ext = "1001" // the transfer target 1002 must differ from the agent
	}
	obj, err := p.Originate(OriginateRequest{Endpoint: "Local/" + cust + "@customers", Extension: ext, Context: "default", CallerName: name})
	if err != nil {
		return fmt.Errorf("traffic originate: %w", err)
	}
	id := jsonID(obj)
	step := func(f func() error) error {
		if err := sleepCtx(ctx, talk); err != nil {
			return err
		}
		return f()
	}
	hangupIfUp := func(id string) error {
		if err := p.Hangup(id, ""); err != nil && err != ErrNoChannel {
			return err
		}
		return nil
	}
	agentLeg := func() (Channel, error) {
		for _, c := range p.Legs(id) {
			if strings.HasPrefix(c.Name, "Local/"+ext+"@agents-") && strings.HasSuffix(c.Name, ";1") {
				return c, nil
			}
		}
		return Channel{}, fmt.Errorf("%w: no agent leg for %s", ErrNoChannel, id)
	}
	switch kind {
	case "blind", "attended":
		if err := step(func() error {
			a, err := agentLeg()
			if err != nil {
				return err
			}
			if kind == "blind" {
				return p.BlindTransfer(a.Name, "1002")
			}
			if err := p.Atxfer(a.Name, "1002"); err != nil {
				return err
			}
			return step(func() error { return hangupIfUp(a.ID) })
		}); err != nil {
			return err
		}
	case "park":
		var custName string
		for _, c := range p.Legs(id) {
			if c.ID == id {
				custName = c.Name
			}
		}
		if err := step(func() error { return p.Park(custName) }); err != nil {
			return err
		}
		if err := step(func() error {
			for _, pc := range p.Parked() {
				if pc.UniqueID == id {
					_, err := p.Originate(OriginateRequest{Endpoint: "Local/1003@agents", Extension: pc.Space, Context: "default"})
					return err
				}
			}
			return fmt.Errorf("%w: %s is not parked", ErrNotFound, id)
		}); err != nil {
			return err
		}
		return step(func() error {
			for _, c := range p.Legs(id) {
				if strings.HasPrefix(c.Name, "Local/1003@agents-") && strings.HasSuffix(c.Name, ";1") {
					return hangupIfUp(c.ID)
				}
			}
			return nil
		})
	}
	return step(func() error { return hangupIfUp(id) })
}

// ParseStamp returns the time stamped into a caller name by
// TrafficConfig.StampCallerName, and whether there was one.
func ParseStamp(callerName string) (time.Time, bool) {
	i := strings.LastIndex(callerName, " @")
	if i < 0 {
		return time.Time{}, false
	}
	us, err := strconv.ParseInt(callerName[i+2:], 10, 64)
	if err != nil || us <= 0 {
		return time.Time{}, false
	}
	return time.UnixMicro(us), true
}
