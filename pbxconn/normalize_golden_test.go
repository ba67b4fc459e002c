package pbxconn

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current normalizer output")

// fixedNow is the clock of normalizers under test: events without a
// timestamp get this time, so golden files are stable.
func fixedNow() time.Time { return time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC) }

func newTestNormalizer(calls *[]Call) *Normalizer {
	cfg := NormalizerConfig{PBXID: "pbx1", Directory: newTestDir(), Now: fixedNow}
	if calls != nil {
		cfg.OnCallCompleted = func(c Call) { *calls = append(*calls, c) }
	}
	return NewNormalizer(cfg)
}

// TestGolden replays every recorded scenario and compares the diffs with
// testdata/<scenario>.golden (go test -run TestGolden -update rewrites them).
func TestGolden(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc, func(t *testing.T) {
			n := newTestNormalizer(nil)
			diffs := replay(n, loadScenario(t, sc))
			var b strings.Builder
			var g goldenWriter
			for _, d := range diffs {
				b.WriteString(g.line(d))
				b.WriteByte('\n')
			}
			path := filepath.Join("testdata", sc+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got := b.String(); got != string(want) {
				gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
				for i := 0; i < len(gl) || i < len(wl); i++ {
					var g, w string
					if i < len(gl) {
						g = gl[i]
					}
					if i < len(wl) {
						w = wl[i]
					}
					if g != w {
						t.Fatalf("%s differs at line %d:\n got: %s\nwant: %s", path, i+1, g, w)
					}
				}
			}
		})
	}
}
