package pbxconn

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time: under a loaded machine it
// measures the work, where wall time measures the contention.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkNormalize replays every recorded scenario (ARI and AMI merged)
// through a fresh normalizer per pass and reports the cost per event.
func BenchmarkNormalize(b *testing.B) {
	var all [][]fixtureEvent
	events := 0
	for _, sc := range scenarios {
		evs := loadScenario(b, sc)
		all = append(all, evs)
		events += len(evs)
	}
	dir := newTestDir()
	var dst []Diff
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		for _, evs := range all {
			n := NewNormalizer(NormalizerConfig{PBXID: "pbx1", Directory: dir, Now: fixedNow})
			for _, e := range evs {
				if e.ari != nil {
					dst = n.HandleARI(dst[:0], e.ari)
				} else {
					dst = n.HandleAMI(dst[:0], e.ami)
				}
			}
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	perEvent := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(events)
	b.ReportMetric(perEvent, "ns/event")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(events), "cpu-ns/event")
	b.ReportMetric(float64(events), "events/op")
}

// BenchmarkResync measures a resync of an unchanged PBX (the common case
// after a reconnect) from the recorded attended-transfer snapshot.
func BenchmarkResync(b *testing.B) {
	s := loadSnapshot(b, "during-attended-transfer", time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC))
	n := NewNormalizer(NormalizerConfig{PBXID: "pbx1", Directory: newTestDir(), Now: fixedNow})
	n.Resync(nil, s)
	var dst []Diff
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		dst = n.Resync(dst[:0], s)
		if len(dst) != 0 {
			b.Fatalf("unchanged resync emitted %d diffs", len(dst))
		}
	}
}
