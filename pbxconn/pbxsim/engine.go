package pbxsim

import (
	"container/heap"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// instance is one running call flow: a script with its bound values.
type instance struct {
	id     int
	sc     *script
	family string // trigger+ext of phase 0; flows of one family share a beginning
	next   int    // index of the next phase to play
	uids   []string
	ctrs   []string
	brs    []string
	binds  map[string]string
	starts []time.Time // start of each played phase
	live   map[string]bool
	mark   int // uniqueid slots in use before the latest action
	// parkSkip: the parking lot's bridge existed when the current phase
	// began, so the phase's creation of it is not played.
	parkSkip bool
	pickedUp bool // the call this flow parked was picked up
}

// pending is one scheduled step.
type pending struct {
	due  time.Time
	seq  uint64
	inst *instance
	ph   int
	st   *step
}

type pendingHeap []*pending

func (h pendingHeap) Len() int { return len(h) }
func (h pendingHeap) Less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].seq < h[j].seq
	}
	return h[i].due.Before(h[j].due)
}
func (h pendingHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pendingHeap) Push(x any)   { *h = append(*h, x.(*pending)) }
func (h *pendingHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return x
}

// families: which scripts share a beginning, in the order they are offered.
var families = map[string][]string{
	"originate/agent": {"park", "transfer-blind", "transfer-attended", "transfer-redirect", "park-xfer", "hangup-busy"},
}

// startFlow begins a new instance of the named script with the given bound
// values and plays its phase 0. Caller holds p.mu.
func (p *PBX) startFlow(name string, binds map[string]string) (*instance, error) {
	sc := p.scripts[name]
	if sc == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoFlow, name)
	}
	if fam := sc.phases[0].trigger + "/" + sc.phases[0].ext; len(families[fam]) > 0 {
		if p.pinned[fam] != "" {
			sc = p.scripts[p.pinned[fam]]
		} else {
			list := families[fam]
			sc = p.scripts[list[p.rr%len(list)]]
			p.rr++
		}
	}
	p.nextInst++
	in := &instance{
		id: p.nextInst, sc: sc, family: sc.phases[0].trigger + "/" + sc.phases[0].ext,
		uids: make([]string, sc.slots), binds: binds, live: map[string]bool{},
	}
	p.playPhase(in, 0)
	return in, nil
}

// findNext returns the script and phase that continue in with an action of
// kind aimed at uniqueid slot target (-1 for none) and extension class ext.
// Flows of the same family may be switched while only phase 0 was played.
func (p *PBX) findNext(in *instance, kind string, target int, ext string) (*script, bool) {
	match := func(sc *script) bool {
		if in.next >= len(sc.phases) {
			return false
		}
		ph := sc.phases[in.next]
		return ph.trigger == kind && ph.target == target && (ph.ext == "" || ext == "" || ph.ext == ext)
	}
	if match(in.sc) {
		return in.sc, true
	}
	if in.next != 1 {
		return nil, false
	}
	for _, name := range p.order {
		sc := p.scripts[name]
		if sc.phases[0].trigger+"/"+sc.phases[0].ext == in.family && match(sc) {
			return sc, true
		}
	}
	return nil, false
}

// continueFlow plays the next phase of in, switching flows if needed.
func (p *PBX) continueFlow(in *instance, sc *script) {
	p.flush(in) // the pending steps belong to the flow they were scheduled by
	if sc != in.sc {
		in.sc = sc
		if len(in.uids) < sc.slots {
			in.uids = append(in.uids, make([]string, sc.slots-len(in.uids))...)
		}
	}
	p.playPhase(in, in.next)
}

// playPhase schedules (or, at infinite speed, emits) phase i of in.
func (p *PBX) playPhase(in *instance, i int) {
	now := p.now()
	for len(in.starts) <= i {
		in.starts = append(in.starts, now)
	}
	in.starts[i] = now
	in.next = i + 1
	in.parkSkip = p.parkingExists
	ph := &in.sc.phases[i]
	for k := range ph.steps {
		st := &ph.steps[k]
		if math.IsInf(p.speed, 1) || st.at == 0 {
			p.emitStep(in, i, st)
			continue
		}
		p.seq++
		due := now.Add(time.Duration(float64(st.at) / p.speed * float64(time.Microsecond)))
		heap.Push(&p.queue, &pending{due: due, seq: p.seq, inst: in, ph: i, st: st})
	}
	p.arm()
}

// flush emits at once every pending step of in, keeping its order.
func (p *PBX) flush(in *instance) {
	var keep pendingHeap
	var mine []*pending
	for _, pe := range p.queue {
		if pe.inst == in {
			mine = append(mine, pe)
		} else {
			keep = append(keep, pe)
		}
	}
	if len(mine) == 0 {
		return
	}
	heap.Init(&keep)
	p.queue = keep
	h := pendingHeap(mine)
	heap.Init(&h)
	for h.Len() > 0 {
		pe := heap.Pop(&h).(*pending)
		p.emitStep(pe.inst, pe.ph, pe.st)
	}
}

// arm sets the timer for the earliest pending step. Caller holds p.mu.
func (p *PBX) arm() {
	if len(p.queue) == 0 || p.closed {
		return
	}
	d := time.Until(p.queue[0].due)
	if d < 0 {
		d = 0
	}
	if p.timer == nil {
		p.timer = time.AfterFunc(d, p.tick)
		return
	}
	p.timer.Reset(d)
}

// tick emits every due step; it runs on the timer's goroutine.
func (p *PBX) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	now := time.Now()
	for len(p.queue) > 0 && !p.queue[0].due.After(now) {
		pe := heap.Pop(&p.queue).(*pending)
		p.emitStep(pe.inst, pe.ph, pe.st)
	}
	p.arm()
}

// emitStep renders one step and hands it to the subscribers and the state.
func (p *PBX) emitStep(in *instance, ph int, st *step) {
	if st.parkingCreate && in.parkSkip {
		return
	}
	if st.ari {
		b := p.render(in, st, p.cfg.App)
		p.foldARI(st.kind, b)
		p.publishARI(func(app string) []byte {
			if app == p.cfg.App {
				return b
			}
			return p.render(in, st, app)
		})
		return
	}
	b := p.render(in, st, "")
	p.foldAMI(b)
	p.publishAMI(b)
}

// render fills a template for instance in.
func (p *PBX) render(in *instance, st *step, app string) []byte {
	buf := make([]byte, 0, st.size)
	for _, sg := range st.tpl {
		switch sg.kind {
		case segLit:
			buf = append(buf, sg.lit...)
		case segUID:
			buf = append(buf, p.uid(in, int(sg.a))...)
		case segCtr:
			for int(sg.a) >= len(in.ctrs) {
				p.chanCounter++
				in.ctrs = append(in.ctrs, fmt.Sprintf("%08x", p.chanCounter-1))
			}
			buf = append(buf, in.ctrs[sg.a]...)
		case segBridge:
			buf = append(buf, p.bridgeID(in, int(sg.a))...)
		case segISO:
			buf = p.phaseTime(in, sg.a, sg.b*1000).AppendFormat(buf, isoLayout)
		case segEpoch:
			buf = appendEpoch(buf, p.phaseTime(in, sg.a, sg.b))
		case segApp:
			buf = append(buf, app...)
		case segEID:
			buf = append(buf, p.cfg.EntityID...)
		case segBind:
			buf = append(buf, in.binds[sg.lit]...)
		}
	}
	return buf
}

// isoLayout is Asterisk's ARI time format.
const isoLayout = "2006-01-02T15:04:05.000-0700"

func appendEpoch(buf []byte, t time.Time) []byte {
	buf = strconv.AppendInt(buf, t.Unix(), 10)
	buf = append(buf, '.')
	us := t.Nanosecond() / 1000
	s := strconv.Itoa(us)
	for i := len(s); i < 6; i++ {
		buf = append(buf, '0')
	}
	return append(buf, s...)
}

func (p *PBX) phaseTime(in *instance, ph, us int64) time.Time {
	if int(ph) >= len(in.starts) || ph < 0 {
		return p.now().UTC()
	}
	if int(ph) < len(in.sc.phases) {
		us -= in.sc.phases[ph].shift
	}
	d := time.Duration(us) * time.Microsecond
	if !math.IsInf(p.speed, 1) {
		d = time.Duration(float64(d) / p.speed)
	} else {
		d = 0
	}
	return in.starts[ph].Add(d).UTC()
}

func (p *PBX) uid(in *instance, n int) string {
	for n >= len(in.uids) {
		in.uids = append(in.uids, "")
	}
	if in.uids[n] == "" {
		id := strconv.FormatInt(p.now().Unix(), 10) + "." + strconv.FormatUint(p.uidCounter, 10)
		p.uidCounter++
		in.uids[n] = id
		p.byUID[id] = in
		in.live[id] = true
	}
	return in.uids[n]
}

func (p *PBX) bridgeID(in *instance, n int) string {
	if in.sc.parking[n] {
		if p.parkingBridge == "" {
			p.parkingBridge = newUUID()
		}
		return p.parkingBridge
	}
	for n >= len(in.brs) {
		in.brs = append(in.brs, "")
	}
	if in.brs[n] == "" {
		in.brs[n] = newUUID()
	}
	return in.brs[n]
}

// slotOf returns the uniqueid slot of id in in, or -1.
func (in *instance) slotOf(id string) int {
	for i, u := range in.uids {
		if u == id {
			return i
		}
	}
	return -1
}

// channelGone is called by the state when a channel is destroyed.
func (p *PBX) channelGone(id string) {
	in := p.byUID[id]
	if in == nil {
		return
	}
	delete(in.live, id)
	if len(in.live) == 0 {
		// the flow may still create channels (a pickup, a transfer target);
		// keep it only while it has phases left.
		if in.next >= len(in.sc.phases) {
			for _, u := range in.uids {
				delete(p.byUID, u)
			}
		}
	}
}

// customerNumber extracts 9001 from Local/9001@customers.
func localNumber(endpoint string) (num, ctx string, ok bool) {
	rest, found := strings.CutPrefix(endpoint, "Local/")
	if !found {
		return "", "", false
	}
	num, ctx, ok = strings.Cut(rest, "@")
	if i := strings.IndexByte(ctx, '/'); i >= 0 {
		ctx = ctx[:i]
	}
	return num, ctx, ok && num != "" && ctx != ""
}
